"""Benchmark: redbeat-sync plan/apply against celery-redbeat's own API, same Redis, one run.

    .venv/bin/python bench/bench_sync.py [--sizes 1000,10000,100000] [--json out.json]

Starts its own throwaway redis-server (never 6379), and for each size N:

end to end (printed first; bench/_e2e.py), each side its own process, wall clock:
  redbeat-sync  `apply DIR --auto-approve`, `plan --out` + `apply PLANFILE`, `plan DIR`
  celery-redbeat  a script doing the save loop / the listing below

library (in-process):

celery-redbeat (the baseline a tool built on RedBeat's API would have)
  save loop   N x RedBeatSchedulerEntry(...).save()   (schedule objects built in the loop)
  listing     ZRANGE of the schedule key + RedBeatSchedulerEntry.from_key per member

redbeat-sync (flushed db)
  plan of N creates: load_paths -> read_state -> compute_plan, each phase timed
  apply of those N creates (apply.apply_plan)
  plan again against the populated store (N no-ops: the steady-state CI plan)
  read_state alone
  peak RSS of a separate process doing the plan (creates and no-ops)

See bench/README.md for what is measured and how to read the table.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import pstats
import resource
import signal
import subprocess
import sys
import tempfile
import time
from functools import partial
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parent.parent))  # devsupport

import _common as common
import _e2e as e2e
from _common import best_of, machine_facts, make_specs, timer, write_yaml

from devsupport.devserver import RedisServer
from redbeat_sync.apply import apply_plan
from redbeat_sync.fileformat.loader import load_paths
from redbeat_sync.plan.compare import compute_plan
from redbeat_sync.state.connection import connect
from redbeat_sync.state.layout import DEFAULT_PREFIX, Layout
from redbeat_sync.state.reader import read_state

LAYOUT = Layout(DEFAULT_PREFIX)
TARGET_SPEEDUP = 10.0
TARGET_RSS_MB = 512.0
#: Read-only operations are repeated (best of) up to this size; larger ones run once.
REPEAT_UP_TO = 10_000
WARMUP_SIZE = 100


# --------------------------------------------------------------------------- celery-redbeat


def redbeat_app(url: str) -> Any:
    from celery import Celery

    app = Celery("bench", set_as_current=False)
    app.conf.update(
        redbeat_redis_url=url,
        redbeat_key_prefix=DEFAULT_PREFIX,
        redbeat_lock_key=None,
        timezone="UTC",
        broker_url="memory://",
        beat_schedule={},
    )
    return app


def redbeat_save_loop(app: Any, specs: list[common.EntrySpec]) -> None:
    from redbeat.schedulers import RedBeatSchedulerEntry

    for spec in specs:
        RedBeatSchedulerEntry(
            spec.name,
            spec.task,
            common.redbeat_schedule(spec),
            args=list(spec.args),
            kwargs=spec.kwargs,
            options=spec.options,
            app=app,
        ).save()


def child_redbeat(kind: str, url: str, n: int) -> None:
    """Subprocess body: the celery-redbeat script a user would run (end-to-end figure)."""
    app = redbeat_app(url)
    specs = make_specs(n)
    start = time.perf_counter()
    if kind == "save":
        redbeat_save_loop(app, specs)
    else:
        listed = redbeat_listing(app)
        assert len(listed) == n, f"RedBeat listed {len(listed)} of {n}"
    print(json.dumps({"loop": time.perf_counter() - start}))


def redbeat_listing(app: Any) -> list[Any]:
    """What a tool on RedBeat's API does to read the state: ZRANGE + from_key each."""
    from redbeat.schedulers import RedBeatSchedulerEntry, get_redis

    keys = get_redis(app).zrange(app.redbeat_conf.schedule_key, 0, -1)
    return [RedBeatSchedulerEntry.from_key(key, app=app) for key in keys]


# --------------------------------------------------------------------------- redbeat-sync


def sync_plan(client: Any, paths: list[Path]) -> tuple[dict[str, float], Any]:
    """load -> read -> compare, each phase timed; returns (phases, plan)."""
    phases: dict[str, float] = {}
    with timer(phases, "load"):
        spec = load_paths(paths)
    with timer(phases, "read"):
        state = read_state(client, LAYOUT)
    with timer(phases, "compare"):
        plan = compute_plan(spec, state, prefix=LAYOUT.prefix)
    phases["total"] = phases["load"] + phases["read"] + phases["compare"]
    return phases, plan


def best_plan(client: Any, paths: list[Path], repeats: int) -> tuple[dict[str, float], Any]:
    best: dict[str, float] | None = None
    plan = None
    for _ in range(max(repeats, 1)):
        phases, plan = sync_plan(client, paths)
        if best is None or phases["total"] < best["total"]:
            best = phases
    assert best is not None
    return best, plan


def peak_rss_kb() -> int:
    """This process's peak resident set (VmHWM), in KiB.

    Not ``ru_maxrss``: Linux carries the parent's high-water mark over fork+exec
    into the child's ``ru_maxrss`` (and so into the parent's RUSAGE_CHILDREN), which
    would charge the plan with the benchmark's own memory.
    """
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def child_plan(url: str, directory: str) -> None:
    """Subprocess body: one plan, then print timings and this process's peak RSS."""
    client = connect(url)
    rss_before = peak_rss_kb()
    phases, plan = sync_plan(client, sorted(Path(directory).glob("*.yaml")))
    print(
        json.dumps(
            {
                "phases": phases,
                "counts": plan.summary(),
                "maxrss_kb_before_plan": rss_before,
                "maxrss_kb": peak_rss_kb(),
                "ru_maxrss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
            }
        )
    )


def plan_in_subprocess(url: str, directory: Path) -> dict[str, Any]:
    cmd = [sys.executable, __file__, "--child-plan", str(directory), "--url", url]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"plan subprocess failed:\n{done.stderr[-4000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    result["rusage_children_maxrss_kb"] = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return result


def profiled(label: str, out_dir: Path | None, func: Any) -> Any:
    """Run ``func`` under cProfile when --profile is given; print the top functions."""
    if out_dir is None:
        return func()
    profile = cProfile.Profile()
    result = profile.runcall(func)
    out_dir.mkdir(parents=True, exist_ok=True)
    profile.dump_stats(out_dir / f"{label}.prof")
    text = io.StringIO()
    pstats.Stats(profile, stream=text).sort_stats("cumulative").print_stats(30)
    (out_dir / f"{label}.txt").write_text(text.getvalue())
    print(f"  [profile] {label}: {out_dir / (label + '.txt')}", flush=True)
    return result


# --------------------------------------------------------------------------- one size


def bench_size(
    n: int,
    url: str,
    client: Any,
    app: Any,
    workdir: Path,
    *,
    skip_redbeat: bool,
    profile_dir: Path | None,
    quiet: bool = False,
    end_to_end: bool = True,
) -> dict[str, Any]:
    repeats = 3 if n <= REPEAT_UP_TO else 1
    specs = make_specs(n)
    directory = workdir / f"n{n}"
    paths = write_yaml(specs, directory)
    yaml_bytes = sum(p.stat().st_size for p in paths)
    result: dict[str, Any] = {"n": n, "repeats_read_only": repeats, "yaml_bytes": yaml_bytes}

    def log(msg: str) -> None:
        if not quiet:
            print(f"[{time.strftime('%H:%M:%S')}] N={n}: {msg}", flush=True)

    if not skip_redbeat:
        client.flushdb()
        log("celery-redbeat save loop ...")
        start = time.perf_counter()
        redbeat_save_loop(app, specs)
        result["redbeat_save"] = time.perf_counter() - start
        log(f"  save loop {result['redbeat_save']:.2f}s; listing ...")
        result["redbeat_list"], listed = best_of(repeats, lambda: redbeat_listing(app))
        assert len(listed) == n, f"RedBeat listed {len(listed)} of {n}"
        del listed
        log(f"  listing {result['redbeat_list']:.2f}s")

    client.flushdb()
    log("redbeat-sync plan (creates) ...")
    phases, plan = best_plan(client, paths, repeats)
    counts = plan.summary()
    assert counts["create"] == n, counts
    result["plan_create"] = phases
    result["plan_create_rss"] = plan_in_subprocess(url, directory)

    log(f"  plan {phases['total']:.2f}s; apply ...")
    start = time.perf_counter()
    applied = profiled(f"apply-{n}", profile_dir, partial(apply_plan, client, LAYOUT, plan))
    result["apply"] = time.perf_counter() - start
    assert applied.report.created == n, applied.report
    del plan
    result["score_members"] = client.zcard(LAYOUT.schedule_key)

    log(f"  apply {result['apply']:.2f}s; plan (no-ops) ...")
    phases, plan = best_plan(client, paths, repeats)
    counts = plan.summary()
    assert counts["noop"] == n and not plan.has_changes, counts
    del plan
    result["plan_noop"] = phases
    if profile_dir is not None:
        profiled(f"plan-noop-{n}", profile_dir, lambda: sync_plan(client, paths))
    result["plan_noop_rss"] = plan_in_subprocess(url, directory)

    log(f"  plan {phases['total']:.2f}s; read_state ...")
    result["read_state"], state = best_of(repeats, lambda: read_state(client, LAYOUT))
    assert len(state.entries) == n
    del state
    log(f"  read_state {result['read_state']:.2f}s")
    if end_to_end:
        result["e2e"] = e2e.bench_end_to_end(
            n, url, client, directory, repeats, log, with_peer=not skip_redbeat
        )
    return result


# --------------------------------------------------------------------------- report


def _ratio(base: float | None, ours: float) -> float | None:
    return None if base is None or ours <= 0 else base / ours


def table_rows(res: dict[str, Any]) -> list[tuple[str, float | None, float | None, float | None]]:
    save, listing = res.get("redbeat_save"), res.get("redbeat_list")
    pc, pn = res["plan_create"], res["plan_noop"]
    first = pc["total"] + res["apply"]
    return [
        ("apply (N creates) vs save loop", save, res["apply"], _ratio(save, res["apply"])),
        ("plan (N no-ops) vs listing", listing, pn["total"], _ratio(listing, pn["total"])),
        ("  load files", None, pn["load"], None),
        ("  read state", None, pn["read"], None),
        ("  compare", None, pn["compare"], None),
        ("read_state vs listing", listing, res["read_state"], _ratio(listing, res["read_state"])),
        ("plan (N creates, empty store)", None, pc["total"], None),
        ("  load files", None, pc["load"], None),
        ("  read state", None, pc["read"], None),
        ("  compare", None, pc["compare"], None),
        ("plan+apply (first deploy) vs save", save, first, _ratio(save, first)),
    ]


def _fmt(value: float | None, suffix: str = "") -> str:
    if value is None:
        return "-"
    return f"{value:.3f}{suffix}" if value < 100 else f"{value:.1f}{suffix}"


def _table(title: str, results: list[dict[str, Any]], rows_of: Any, width: int = 44) -> list[str]:
    out = [
        title,
        f"{'size':>7}  {'operation':<{width}} {'celery-redbeat s':>16} {'redbeat-sync s':>15} "
        f"{'x faster':>9}",
    ]
    for res in results:
        for label, base, ours, ratio in rows_of(res):
            out.append(
                f"{res['n']:>7}  {label:<{width}} {_fmt(base):>16} {_fmt(ours):>15} "
                f"{_fmt(ratio, 'x'):>9}"
            )
        out.append("")
    return out


def render(facts: dict[str, Any], results: list[dict[str, Any]]) -> str:
    out = [
        "redbeat-sync vs celery-redbeat (same redis-server, same entries)",
        f"machine: {facts['cores']} cores ({facts['cpu']}), Python {facts['python']}, "
        f"redis-server {facts['redis_version']}, load average at start "
        f"{facts['loadavg_at_start']}, commit {facts['git_commit']}",
        "",
    ]
    with_e2e = [res for res in results if "e2e" in res]
    if with_e2e:
        runs = ", ".join(
            f"N={res['n']}: {len(res['e2e']['cli_plan_create']['runs'])}" for res in with_e2e
        )
        out += _table(
            "END TO END: what a user waits for; each side its own process, wall clock from "
            f"spawn to exit, median of runs ({runs})",
            with_e2e,
            lambda res: e2e.rows(res["e2e"]),
        )
    out += _table(
        "LIBRARY: in-process calls, no interpreter start or imports (best of runs up to "
        f"N={REPEAT_UP_TO}, else one run)",
        results,
        table_rows,
    )
    for res in results:
        for key, label in (("plan_create_rss", "creates"), ("plan_noop_rss", "no-ops")):
            rss = res[key]
            out.append(
                f"{res['n']:>7}  peak RSS, plan process ({label}): "
                f"{rss['maxrss_kb'] / 1024:.0f} MB "
                f"(after imports {rss['maxrss_kb_before_plan'] / 1024:.0f} MB)"
            )
    out.append("")
    out += targets(results)
    return "\n".join(out)


def targets(results: list[dict[str, Any]]) -> list[str]:
    biggest = max(results, key=lambda r: r["n"])
    n = biggest["n"]
    rows = {label.strip(): ratio for label, _b, _o, ratio in table_rows(biggest)}
    rss_mb = max(biggest["plan_create_rss"]["maxrss_kb"], biggest["plan_noop_rss"]["maxrss_kb"])
    rss_mb /= 1024

    def verdict(ok: bool | None) -> str:
        return "n/a" if ok is None else ("MET" if ok else "MISSED")

    plan_ratio = rows["plan (N no-ops) vs listing"]
    apply_ratio = rows["apply (N creates) vs save loop"]
    return [
        f"targets at N={n}:",
        f"  plan  >= {TARGET_SPEEDUP:.0f}x faster than celery-redbeat listing: "
        f"{_fmt(plan_ratio, 'x')} {verdict(None if plan_ratio is None else plan_ratio >= 10)}",
        f"  apply >= {TARGET_SPEEDUP:.0f}x faster than celery-redbeat save loop: "
        f"{_fmt(apply_ratio, 'x')} {verdict(None if apply_ratio is None else apply_ratio >= 10)}",
        f"  plan peak RSS <= {TARGET_RSS_MB:.0f} MB: {rss_mb:.0f} MB "
        f"{verdict(rss_mb <= TARGET_RSS_MB)}",
    ]


# --------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1000,10000,100000", help="comma-separated N")
    parser.add_argument("--json", dest="json_out", help="also write all figures to this file")
    parser.add_argument(
        "--skip-redbeat", action="store_true", help="only redbeat-sync (no baseline, no ratios)"
    )
    parser.add_argument(
        "--profile", type=Path, help="cProfile apply and the no-op plan into this directory"
    )
    parser.add_argument(
        "--skip-end-to-end", action="store_true", help="only the library (in-process) figures"
    )
    parser.add_argument("--child-plan", help=argparse.SUPPRESS)
    parser.add_argument("--child-redbeat", choices=["save", "list"], help=argparse.SUPPRESS)
    parser.add_argument("--n", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.child_plan:
        child_plan(args.url, args.child_plan)
        return 0
    if args.child_redbeat:
        child_redbeat(args.child_redbeat, args.url, args.n)
        return 0
    sizes = [int(s.replace("_", "")) for s in args.sizes.split(",") if s.strip()]
    # Background runs ignore SIGINT: let SIGTERM unwind so the redis-server is stopped.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    server = RedisServer().start()
    try:
        client = connect(server.url)
        app = redbeat_app(server.url)
        facts = machine_facts(client)
        results: list[dict[str, Any]] = []
        with tempfile.TemporaryDirectory(prefix="redbeat-sync-bench-") as tmp:
            # Untimed warm-up: lazy imports, first connections, script loading.
            bench_size(
                WARMUP_SIZE,
                server.url,
                client,
                app,
                Path(tmp),
                skip_redbeat=args.skip_redbeat,
                profile_dir=None,
                quiet=True,
                end_to_end=False,  # each end-to-end run is a fresh process anyway
            )
            for n in sizes:
                results.append(
                    bench_size(
                        n,
                        server.url,
                        client,
                        app,
                        Path(tmp),
                        skip_redbeat=args.skip_redbeat,
                        profile_dir=args.profile,
                        end_to_end=not args.skip_end_to_end,
                    )
                )
        client.close()
    finally:
        server.stop()
    print()
    print(render(facts, results))
    if args.json_out:
        Path(args.json_out).write_text(
            json.dumps({"machine": facts, "results": results}, indent=2) + "\n"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

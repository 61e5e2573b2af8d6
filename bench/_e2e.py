"""End-to-end figures: what a user waits for, each side run as its own process.

redbeat-sync: the installed ``redbeat-sync`` command, as a user or CI runs it
(interpreter start, imports, loading the files, Redis, printing the plan to a file
standing in for the terminal or CI log), wall clock from spawn to exit.

celery-redbeat: the smallest script a user would write on RedBeat's API, run the
same way: start Python, import Celery and RedBeat, build the entries, then the
``save()`` loop (or the listing).  The script also reports the time of its loop
alone, which is what the library table compares against.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis

from redbeat_sync.state.layout import DEFAULT_PREFIX, Layout

BENCH_SYNC = Path(__file__).resolve().parent / "bench_sync.py"


def cli() -> list[str]:
    """The console script next to this interpreter (what `pip install` gives a user)."""
    script = Path(sys.executable).with_name("redbeat-sync")
    return [str(script)] if script.exists() else [sys.executable, "-m", "redbeat_sync"]


@dataclass
class Runs:
    """Wall-clock seconds of each run; the median is the figure reported."""

    seconds: list[float] = field(default_factory=list)
    inner: list[float] = field(default_factory=list)  # the peer's loop alone, per run

    @property
    def median(self) -> float | None:
        return statistics.median(self.seconds) if self.seconds else None

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"median": self.median, "runs": self.seconds}
        if self.inner:
            out["loop_only_median"] = statistics.median(self.inner)
            out["loop_only_runs"] = self.inner
        return out


def run_process(argv: list[str], env: dict[str, str], log: Path, expect: int) -> float:
    start = time.perf_counter()
    with log.open("w") as out:
        done = subprocess.run(argv, env=env, stdin=subprocess.DEVNULL, stdout=out,
                              stderr=subprocess.STDOUT, check=False)  # fmt: skip
    elapsed = time.perf_counter() - start
    if done.returncode != expect:
        tail = log.read_text(errors="replace")[-3000:]
        raise RuntimeError(f"{argv[:3]}... exited {done.returncode}, not {expect}:\n{tail}")
    return elapsed


def peer_script(kind: str, url: str, n: int, env: dict[str, str], log: Path) -> tuple[float, float]:
    """(wall seconds, loop seconds) of the celery-redbeat script (``bench_sync.py
    --child-redbeat``)."""
    argv = [sys.executable, str(BENCH_SYNC), "--child-redbeat", kind, "--url", url, "--n", str(n)]
    wall = run_process(argv, env, log, 0)
    inner = json.loads(log.read_text().strip().splitlines()[-1])["loop"]
    return wall, float(inner)


def bench_end_to_end(
    n: int,
    url: str,
    client: redis.Redis,
    directory: Path,
    repeats: int,
    log: Any,
    *,
    with_peer: bool = True,
) -> dict[str, Any]:
    """Each figure is the median of ``repeats`` runs; Redis is flushed before each write."""
    env = {**os.environ, "REDBEAT_SYNC_REDIS_URL": url, "NO_COLOR": "1"}
    env.pop("REDBEAT_SYNC_KEY_PREFIX", None)
    work = directory.parent / f"e2e-{n}"
    work.mkdir(exist_ok=True)
    out = work / "output.txt"
    plan_file = work / "plan.json"
    results: dict[str, Runs] = {key: Runs() for key in (
        "cli_startup", "peer_save", "peer_list", "cli_plan_create", "cli_apply_planfile",
        "cli_apply_files", "cli_plan_noop",
    )}  # fmt: skip

    for _ in range(3):
        results["cli_startup"].seconds.append(run_process([*cli(), "--version"], env, out, 0))

    for _ in range(repeats if with_peer else 0):
        client.flushdb()
        wall, inner = peer_script("save", url, n, env, out)
        results["peer_save"].seconds.append(wall)
        results["peer_save"].inner.append(inner)
    for _ in range(repeats if with_peer else 0):
        wall, inner = peer_script("list", url, n, env, out)
        results["peer_list"].seconds.append(wall)
        results["peer_list"].inner.append(inner)

    if with_peer:
        log(f"  end to end: save script {results['peer_save'].median:.2f}s, "
            f"listing script {results['peer_list'].median:.2f}s")  # fmt: skip
    log("  end to end: redbeat-sync plan --out ...")
    client.flushdb()
    plan_args = ["plan", str(directory), "--detailed-exitcode", "--out", str(plan_file)]
    for _ in range(repeats):
        results["cli_plan_create"].seconds.append(run_process([*cli(), *plan_args], env, out, 2))
    log(f"  plan {results['cli_plan_create'].median:.2f}s; redbeat-sync apply PLANFILE ...")
    for _ in range(repeats):
        client.flushdb()
        argv = [*cli(), "apply", str(plan_file), "--auto-approve"]
        results["cli_apply_planfile"].seconds.append(run_process(argv, env, out, 0))
    log(f"  apply PLANFILE {results['cli_apply_planfile'].median:.2f}s; apply FILES ...")
    for _ in range(repeats):
        client.flushdb()
        argv = [*cli(), "apply", str(directory), "--auto-approve"]
        results["cli_apply_files"].seconds.append(run_process(argv, env, out, 0))
    assert client.zcard(Layout(DEFAULT_PREFIX).schedule_key) == n
    log(f"  apply FILES {results['cli_apply_files'].median:.2f}s; plan (no changes) ...")
    for _ in range(repeats):
        argv = [*cli(), "plan", str(directory), "--detailed-exitcode"]
        results["cli_plan_noop"].seconds.append(run_process(argv, env, out, 0))
    log(f"  plan (no changes) {results['cli_plan_noop'].median:.2f}s")
    client.flushdb()
    return {key: runs.as_dict() for key, runs in results.items()}


def ratio(base: float | None, ours: float) -> float | None:
    return None if base is None or ours <= 0 else base / ours


def rows(e2e: dict[str, Any]) -> list[tuple[str, float | None, float | None, float | None]]:
    """(label, celery-redbeat s, redbeat-sync s, ratio) for the end-to-end table."""
    save, listing = e2e["peer_save"]["median"], e2e["peer_list"]["median"]
    plan_create = e2e["cli_plan_create"]["median"]
    apply_planfile = e2e["cli_apply_planfile"]["median"]
    apply_files, plan_noop = e2e["cli_apply_files"]["median"], e2e["cli_plan_noop"]["median"]
    first_deploy_ci = plan_create + apply_planfile
    return [
        ("`apply DIR --auto-approve` vs save script", save, apply_files,
         ratio(save, apply_files)),
        ("`plan --out` + `apply PLANFILE` (CI) vs save", save, first_deploy_ci,
         ratio(save, first_deploy_ci)),
        ("  plan --out (N creates)", None, plan_create, None),
        ("  apply PLANFILE", None, apply_planfile, None),
        ("`plan DIR` (N unchanged) vs listing script", listing, plan_noop,
         ratio(listing, plan_noop)),
        ("process start (`--version`)", None, e2e["cli_startup"]["median"], None),
        ("  peer: save loop alone, in its script", e2e["peer_save"].get("loop_only_median"),
         None, None),
        ("  peer: listing alone, in its script", e2e["peer_list"].get("loop_only_median"),
         None, None),
    ]  # fmt: skip

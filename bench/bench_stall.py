"""Largest gap between runs of an ``every: 1s`` entry while beat is frozen at random.

The reproduction of issue 8 item 1, bounded in time: one real ``celery beat -S
redbeat_sync.Scheduler``, one real worker, a throwaway redis-server (never 6379).
Every few seconds beat is SIGSTOPped for a random 0.5-3 s, then SIGCONTed.  The
worker records the slot and time of every run; the report gives the largest gap
between consecutive runs (what an operator sees as "beat stalled") and between the
slots they were for.  A gap of about the pause length is expected (nothing runs
while beat is frozen); a stall is a gap far beyond it.

    .venv/bin/python bench/bench_stall.py --duration 180
    .venv/bin/python bench/bench_stall.py --code /path/to/other/checkout   # its redbeat_sync

``beat_max_loop_interval`` is 300 s (RedBeat's default), as in the issue.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import math
import os
import random
import signal
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import redis

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from devsupport.devserver import RedisServer  # noqa: E402

RUNS_KEY = "test:runs"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=180.0, help="seconds of pausing")
    parser.add_argument("--code", type=Path, default=ROOT, help="checkout whose redbeat_sync runs")
    parser.add_argument("--seed", type=int, default=8)
    parser.add_argument("--json", type=Path, help="write the figures here too")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    server = RedisServer().start()
    procs: list[subprocess.Popen[bytes]] = []
    try:
        store = redis.Redis.from_url(server.url, decode_responses=True)
        env = dict(
            os.environ,
            BEAT_TEST_REDIS=server.url,
            BEAT_TEST_BROKER=server.url.rsplit("/", 1)[0] + "/1",
            BEAT_TEST_MAX_LOOP="300",
            PYTHONPATH=os.pathsep.join([str(args.code), str(ROOT / "tests"), str(ROOT)]),
        )
        seed_entry(env)

        def start(*cmd: str) -> subprocess.Popen[bytes]:
            proc = subprocess.Popen(
                [sys.executable, "-m", "celery", "-A", "beat_app", *cmd],
                # cwd comes first on sys.path: the checkout's redbeat_sync runs
                cwd=args.code, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )  # fmt: skip
            procs.append(proc)
            return proc

        start("worker", "-P", "threads", "-c", "4", "-l", "warning")
        beat = start("beat", "-S", "redbeat_sync.Scheduler", "-l", "warning", "-s", os.devnull)
        deadline = time.monotonic() + 30
        while store.llen(RUNS_KEY) < 3 and time.monotonic() < deadline:
            time.sleep(0.2)
        began = time.time()
        pauses = []
        while time.time() - began < args.duration:
            time.sleep(rng.uniform(1.0, 5.0))
            length = rng.uniform(0.5, 3.0)
            beat.send_signal(signal.SIGSTOP)
            time.sleep(length)
            beat.send_signal(signal.SIGCONT)
            pauses.append(length)
        time.sleep(3.0)
        ended = time.time()
        runs = [json.loads(r) for r in store.lrange(RUNS_KEY, 0, -1)]
    finally:
        for proc in procs:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGCONT)
                proc.kill()
            proc.wait(10)
        server.stop()
    figures = report(runs, began, ended, pauses)
    figures["code"] = str(args.code)
    print(json.dumps(figures, indent=2))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")


def seed_entry(env: dict[str, str]) -> None:
    """One ``every: 1s`` entry whose slots fall at whole seconds + 0.6."""
    code = (
        "import math, time; from datetime import datetime, timezone;"
        "from beat_app import make_app; from redbeat_sync import SchedulerEntry;"
        "from redbeat_sync.schedule.entry import Entry, Every, RunState;"
        "app = make_app({!r});"
        "last = datetime.fromtimestamp(math.floor(time.time()) + 0.6, timezone.utc);"
        "SchedulerEntry.from_entry(Entry('every-1s', 'tests.beat_app.record', Every(1.0),"
        " args=['every-1s']), RunState(last), app=app).save()"
    ).format(env["BEAT_TEST_REDIS"])
    code_root = env["PYTHONPATH"].split(os.pathsep)[0]  # cwd comes first on sys.path
    subprocess.run([sys.executable, "-c", code], env=env, check=True, cwd=code_root)


def report(runs: list[dict], began: float, ended: float, pauses: list[float]) -> dict:
    ran = sorted(r["ran_at"] for r in runs if began <= r["ran_at"] <= ended)
    slots = sorted(
        datetime.fromisoformat(r["slot"]).timestamp() for r in runs if began <= r["ran_at"] <= ended
    )
    # the window's edges count: a beat that stalls for good has no "next run"
    quiet = [b - a for a, b in itertools.pairwise([began, *ran, ended])]
    slot_gaps = [b - a for a, b in itertools.pairwise(slots)]
    return {
        "seconds": round(ended - began, 1),
        "pauses": len(pauses),
        "paused_s": round(sum(pauses), 1),
        "longest_pause_s": round(max(pauses, default=0.0), 2),
        "runs": len(ran),
        "largest_gap_between_runs_s": round(max(quiet), 2),
        "largest_gap_between_slots_run_s": round(max(slot_gaps, default=math.inf), 2),
        "gaps_over_4s": sum(1 for g in quiet if g > 4.0),
        "duplicated_slots": len(slots) - len(set(slots)),
        "measured_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


if __name__ == "__main__":
    main()

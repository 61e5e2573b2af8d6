"""Real ``celery -A tests.beat_app`` beat and worker processes for the end-to-end tests.

The ``cluster`` fixture (conftest.py) gives each test a ``Cluster`` on its own Redis;
``add_entries`` saves entries as a deployment has them; ``check_runs`` holds what
every end-to-end run must satisfy (no slot twice, no lost catch_up slot).
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path

import redis
from beat_app import RUNS_KEY, broker_url_for, make_app

from redbeat_sync import SchedulerEntry
from redbeat_sync.beat.lock import read_beat_lock
from redbeat_sync.schedule.entry import Entry, RunState
from redbeat_sync.state.layout import Layout

UTC = timezone.utc
ROOT = Path(__file__).resolve().parent.parent
#: The beats' ``redbeat_lock_timeout`` (short: failovers happen within a test).
LOCK_TIMEOUT = 3.0


class Cluster:
    """Beat and worker processes on one Redis (the broker: its db 1); logs in ``workdir``."""

    def __init__(self, redis_url: str, workdir: Path) -> None:
        self.redis_url = redis_url
        self.workdir = workdir
        self.env = dict(
            os.environ,
            BEAT_TEST_REDIS=redis_url,
            BEAT_TEST_BROKER=broker_url_for(redis_url),
            BEAT_TEST_LOCK_TIMEOUT=str(LOCK_TIMEOUT),
            PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""),
        )
        self.procs: list[subprocess.Popen[bytes]] = []
        self.beats: list[subprocess.Popen[bytes]] = []
        self.client = redis.Redis.from_url(redis_url, decode_responses=True)

    def _start(self, name: str, *args: str) -> subprocess.Popen[bytes]:
        log = open(self.workdir / f"{name}-{len(self.procs)}.log", "wb")  # noqa: SIM115
        proc = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "tests.beat_app", *args],
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            # Own process group: a worker's embedded beat is a child process, and
            # killing only the worker would leave it running (and leading).
            start_new_session=True,
        )
        self.procs.append(proc)
        return proc

    def worker(self) -> None:
        self._start("worker", "worker", "-P", "threads", "-c", "8", "-l", "warning")

    def beat(self) -> subprocess.Popen[bytes]:
        schedule_file = str(self.workdir / f"beat-{len(self.procs)}.db")
        proc = self._start(
            "beat", "beat", "-S", "redbeat_sync.Scheduler", "-l", "info", "-s", schedule_file
        )
        self.beats.append(proc)
        return proc

    def leader(
        self, timeout: float = 60.0, other_than: subprocess.Popen[bytes] | None = None
    ) -> subprocess.Popen[bytes]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            info = read_beat_lock(self.client, Layout())
            if info and info["pid"]:
                for proc in self.beats:
                    if proc.pid == info["pid"] and proc is not other_than:
                        return proc
            time.sleep(0.1)
        raise AssertionError("no beat took the lock")

    def wait_for_runs(self, count: int, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while self.client.llen(RUNS_KEY) < count and time.monotonic() < deadline:
            time.sleep(0.1)
        assert self.client.llen(RUNS_KEY) >= count, self.logs()

    def runs(self) -> list[dict]:
        return [json.loads(r) for r in self.client.lrange(RUNS_KEY, 0, -1)]

    def logs(self) -> str:
        return "\n".join(
            f"== {p.name}\n" + p.read_text(errors="replace")[-3000:]
            for p in sorted(self.workdir.glob("*.log"))
        )

    def close(self) -> None:
        for proc in self.procs:
            # The group of a process we started (it may be gone already).
            with contextlib.suppress(OSError):
                os.killpg(proc.pid, signal.SIGCONT)
                os.killpg(proc.pid, signal.SIGKILL)
        for proc in self.procs:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(10)
        self.client.close()


def add_entries(redis_url: str, *entries: Entry) -> None:
    app = make_app(redis_url)
    now = datetime.now(UTC)
    for entry in entries:
        SchedulerEntry.from_entry(entry, RunState(now), app=app).save()


def by_entry(runs: list[dict]) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for run in runs:
        out.setdefault(run["label"], []).append(run)
    for items in out.values():
        items.sort(key=lambda r: r["slot"])
    return out


def check_runs(runs: list[dict], *, period: float = 1.0) -> dict[str, list[float]]:
    """Assert no duplicate slot anywhere and no lost catch_up slot; return skip gaps."""
    gaps: dict[str, list[float]] = {}
    for label, items in by_entry(runs).items():
        slots = Counter(r["slot"] for r in items)
        dupes = {s: n for s, n in slots.items() if n > 1}
        assert not dupes, f"{label}: slots run twice: {dupes}"
        times = [datetime.fromisoformat(r["slot"]) for r in items]
        covers = [datetime.fromisoformat(r["covers_from"]) for r in items]
        step = timedelta(seconds=period)
        if label.startswith("catch"):
            for prev, cover in zip(times, covers[1:], strict=False):
                assert cover == prev + step, f"{label}: slots lost between {prev} and {cover}"
        gaps[label] = [(b - a).total_seconds() for a, b in itertools.pairwise(times)]
    return gaps


def redbeat_sync_cli(
    *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """``python -m redbeat_sync ARGS`` from the project root, as a user or a probe runs it.

    The timeout only bounds waiting for the process (a hang fails the test)."""
    return subprocess.run(
        [sys.executable, "-m", "redbeat_sync", *args],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip

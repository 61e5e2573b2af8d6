"""Real ``celery beat -S redbeat_sync.Scheduler`` processes, a real worker, a Redis broker.

Entries fire every second; the worker records each run (entry, slot, first slot
covered, time) in Redis.  Leaders are SIGKILLed or SIGSTOPped/SIGCONTed while the
standbys take over, then every slot is checked: never run twice; with ``catch_up``
never lost (a late run covers the slots it coalesced); with ``skip`` lost only
inside a failover window.
"""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import redis
from beat_app import RUNS_KEY, broker_url_for, make_app

from redbeat_sync import SchedulerEntry
from redbeat_sync.beat.lock import read_beat_lock
from redbeat_sync.schedule.entry import Entry, Every, RunState
from redbeat_sync.state.layout import Layout

UTC = timezone.utc
ROOT = Path(__file__).resolve().parent.parent
LOCK_TIMEOUT = 3.0
#: Longest a slot may go unserved across a failover: the lock timeout, a standby
#: retry, process scheduling on a busy 2-core machine.
FAILOVER_WINDOW = LOCK_TIMEOUT + 5.0
TASK = "tests.beat_app.record"


class Cluster:
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
        self, timeout: float = 15.0, other_than: subprocess.Popen[bytes] | None = None
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
            with _suppress():  # the group of a process we started (it may be gone)
                os.killpg(proc.pid, signal.SIGCONT)
                os.killpg(proc.pid, signal.SIGKILL)
        for proc in self.procs:
            with _suppress():
                proc.wait(10)
        self.client.close()


class _suppress:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> bool:
        return True


@pytest.fixture
def cluster(redis_url: str, tmp_path: Path) -> Iterator[Cluster]:
    redis.Redis.from_url(broker_url_for(redis_url)).flushdb()
    made = Cluster(redis_url, tmp_path)
    try:
        yield made
    finally:
        made.close()


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


@pytest.mark.slow
def test_tasks_arrive_on_time(cluster: Cluster, redis_url: str) -> None:
    add_entries(redis_url, Entry("catch-1s", TASK, Every(1.0), args=["catch-1s"]))
    cluster.worker()
    cluster.beat()
    cluster.leader()
    cluster.wait_for_runs(8)
    runs = cluster.runs()
    gaps = check_runs(runs)
    assert all(g == 1.0 for g in gaps["catch-1s"]), gaps
    lateness = sorted(r["ran_at"] - datetime.fromisoformat(r["slot"]).timestamp() for r in runs)
    # The first runs may wait for the worker to boot; once warm, well under a second.
    assert lateness[len(lateness) // 2] < 1.0, lateness


@pytest.mark.slow
def test_three_beats_leader_sigkilled_repeatedly(cluster: Cluster, redis_url: str) -> None:
    add_entries(
        redis_url,
        Entry("catch-1s", TASK, Every(1.0), args=["catch-1s"]),
        Entry("skip-1s", TASK, Every(1.0), args=["skip-1s"], misfire="skip"),
    )
    cluster.worker()
    for _ in range(3):
        cluster.beat()
    for _ in range(3):
        leader = cluster.leader()
        time.sleep(2.0)
        leader.kill()
        killed = time.monotonic()
        leader.wait(5)
        cluster.beat()  # keep three candidates
        cluster.leader(other_than=leader)
        assert time.monotonic() - killed <= FAILOVER_WINDOW, "takeover too slow"
    time.sleep(3.0)
    gaps = check_runs(cluster.runs())
    assert max(gaps["skip-1s"]) <= FAILOVER_WINDOW, gaps
    assert len(cluster.runs()) > 20


@pytest.mark.slow
def test_two_beats_leader_sigstopped_and_resumed(cluster: Cluster, redis_url: str) -> None:
    """A frozen leader that wakes up past its lock must not send what the other sent."""
    add_entries(
        redis_url,
        Entry("catch-1s", TASK, Every(1.0), args=["catch-1s"]),
        Entry("skip-1s", TASK, Every(1.0), args=["skip-1s"], misfire="skip"),
    )
    cluster.worker()
    cluster.beat()
    cluster.beat()
    for _ in range(3):
        leader = cluster.leader()
        time.sleep(1.5)
        leader.send_signal(signal.SIGSTOP)
        try:
            cluster.leader(other_than=leader, timeout=FAILOVER_WINDOW)
            time.sleep(1.5)  # the other one leads meanwhile
        finally:
            leader.send_signal(signal.SIGCONT)
        time.sleep(1.0)
    time.sleep(2.0)
    runs = cluster.runs()
    gaps = check_runs(runs)
    assert max(gaps["skip-1s"]) <= FAILOVER_WINDOW, gaps
    assert len({r["pid"] for r in runs}) >= 1


@pytest.mark.slow
def test_embedded_beat_in_a_worker(cluster: Cluster, redis_url: str) -> None:
    """``celery worker --beat --scheduler redbeat_sync.Scheduler`` (beat in a forked child).

    (In ``celery worker`` ``-S`` is ``--statedb``; only ``celery beat`` has ``-S`` for
    the scheduler.)
    """
    add_entries(redis_url, Entry("catch-1s", TASK, Every(1.0), args=["catch-1s"]))
    cluster._start(
        "worker-beat", "worker", "--beat", "--scheduler", "redbeat_sync.Scheduler",
        "-s", str(cluster.workdir / "embedded.db"), "-P", "threads", "-c", "4", "-l", "info",
    )  # fmt: skip
    cluster.wait_for_runs(4)
    check_runs(cluster.runs())
    info = read_beat_lock(cluster.client, Layout())
    assert info is not None and info["holder"] == "redbeat-sync"

"""Connections to the schedule Redis cut while a real beat ticks every second.

``celery beat -S redbeat_sync.Scheduler`` talks to the schedule store through a
``faultkit.TcpProxy``; the broker and the worker use the real Redis directly, so
only beat's schedule connection (lock, claims, change notifications) is broken.
The proxy cuts every connection and refuses new ones for 0.5 s, 1.5 s and 3 s.

What is asserted, per 1-second slot (the worker records the slot each run was sent
for and the first slot it covers):

- duplicates: no slot of any entry runs twice (a claim is fenced and CAS'd in Redis
  before a task is sent, so a reconnecting beat cannot send a slot twice);
- lost, ``catch_up``: every slot from the first run to the last is covered: a run
  after an outage covers (coalesces) the slots missed during it, so none is lost;
- lost, ``skip``: slots missed are only those inside an outage plus the recovery
  time (the lock timeout and a retry), never after beat is back;
- recovery: beat runs again by itself within the lock timeout plus a few seconds
  of each outage's end, and still leads at the end;
- logs: Redis loss and return are logged once per outage at most, not per tick.
"""

from __future__ import annotations

import itertools
import json
import os
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import redis
from beat_app import RUNS_KEY, TASK, broker_url_for, make_app
from faultkit import TcpProxy

from devsupport.devserver import RedisServer
from redbeat_sync import SchedulerEntry
from redbeat_sync.beat.lock import read_beat_lock
from redbeat_sync.schedule.entry import Entry, Every, RunState
from redbeat_sync.state.layout import Layout

UTC = timezone.utc
ROOT = Path(__file__).resolve().parent.parent
LOCK_TIMEOUT = 3.0
OUTAGES = (0.5, 1.5, 3.0)
#: After an outage ends, beat must be sending again within this: the old lock
#: token may have to expire (lock timeout), a standby retry, a busy 2-core box.
RECOVERY_BOUND = LOCK_TIMEOUT + 4.0
#: Log lines that announce a loss / a return of the schedule Redis.
LOSS_MARKERS = ("Redis unavailable", "Redis unreachable for the leader lock")
BACK_MARKERS = ("Redis reachable again, dispatching", "Redis reachable again for the leader lock")


def test_proxy_forwards_cuts_and_refuses(redis_server: RedisServer) -> None:
    with TcpProxy(redis_server.port, max_lifetime=30) as proxy:
        client = redis.Redis(port=proxy.port, socket_timeout=2)
        assert client.ping()
        assert proxy.cut() == 1
        proxy.refuse()
        with pytest.raises(OSError), socket.create_connection(("127.0.0.1", proxy.port), 1):
            pass
        proxy.resume()
        assert redis.Redis(port=proxy.port, socket_timeout=2).ping()
        assert proxy.accepted >= 2


class Beat:
    def __init__(self, real: RedisServer, proxy: TcpProxy, workdir: Path) -> None:
        self.workdir = workdir
        self.client = redis.Redis.from_url(real.url, decode_responses=True)
        base = dict(
            os.environ,
            BEAT_TEST_BROKER=broker_url_for(real.url),
            BEAT_TEST_LOCK_TIMEOUT=str(LOCK_TIMEOUT),
            PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""),
        )
        # Beat reads the schedule through the proxy; the worker records runs directly.
        self.beat_env = {**base, "BEAT_TEST_REDIS": proxy.url}
        self.worker_env = {**base, "BEAT_TEST_REDIS": real.url}
        self.procs: list[subprocess.Popen[bytes]] = []
        self.beat_log = workdir / "beat.log"

    def _start(self, log: Path, env: dict[str, str], *args: str) -> subprocess.Popen[bytes]:
        with open(log, "wb") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", "celery", "-A", "tests.beat_app", *args],
                cwd=ROOT,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        self.procs.append(proc)
        return proc

    def start(self) -> subprocess.Popen[bytes]:
        self._start(
            self.workdir / "worker.log",
            self.worker_env,
            *("worker", "-P", "threads", "-c", "8", "-l", "warning"),
        )
        return self._start(
            self.beat_log,
            self.beat_env,
            *("beat", "-S", "redbeat_sync.Scheduler", "-l", "info"),
            *("-s", str(self.workdir / "beat-schedule.db")),
        )

    def runs(self) -> list[dict]:
        return [json.loads(r) for r in self.client.lrange(RUNS_KEY, 0, -1)]

    def wait_for_runs(self, count: int, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while self.client.llen(RUNS_KEY) < count and time.monotonic() < deadline:
            time.sleep(0.1)
        assert self.client.llen(RUNS_KEY) >= count, self.beat_log.read_text()[-3000:]

    def close(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
        for proc in self.procs:
            proc.wait(10)
        self.client.close()


@pytest.fixture
def real_redis() -> Iterator[RedisServer]:
    server = RedisServer().start()
    try:
        yield server
    finally:
        server.stop()


def slot_report(runs: list[dict], label: str) -> dict[str, object]:
    """Duplicated slots, slots neither run nor covered, and the gaps between runs."""
    items = sorted((r for r in runs if r["label"] == label), key=lambda r: r["slot"])
    counts = Counter(r["slot"] for r in items)
    duplicated = sum(n - 1 for n in counts.values())
    slots = sorted({datetime.fromisoformat(s) for s in counts})
    covered: set[datetime] = set()
    for r in items:
        slot = datetime.fromisoformat(r["slot"])
        start = datetime.fromisoformat(r["covers_from"] or r["slot"])
        while start <= slot:
            covered.add(start)
            start += timedelta(seconds=1)
    missing = []
    if slots:
        at = slots[0]
        while at <= slots[-1]:
            if at not in covered:
                missing.append(at)
            at += timedelta(seconds=1)
    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(slots)]
    return {
        "runs": len(items),
        "duplicated": duplicated,
        "lost": len(missing),
        "missing": missing,
        "max_gap": max(gaps, default=0.0),
        "slots": slots,
    }


@pytest.mark.slow
def test_beat_survives_cut_connections(real_redis: RedisServer, tmp_path: Path) -> None:
    app = make_app(real_redis.url)
    now = datetime.now(UTC)
    for entry in (
        Entry("catch-1s", TASK, Every(1.0), args=["catch-1s"]),
        Entry("skip-1s", TASK, Every(1.0), args=["skip-1s"], misfire="skip"),
    ):
        SchedulerEntry.from_entry(entry, RunState(now), app=app).save()

    proxy = TcpProxy(real_redis.port, max_lifetime=180).start()
    beat = Beat(real_redis, proxy, tmp_path)
    try:
        beat_proc = beat.start()
        beat.wait_for_runs(6)
        outages: list[tuple[float, float]] = []  # (cut at, resumed at), wall clock
        for seconds in OUTAGES:
            cut_at = time.time()
            proxy.outage(seconds)
            outages.append((cut_at, time.time()))
            time.sleep(RECOVERY_BOUND)
        ended = time.time()
        time.sleep(2.0)
        runs = beat.runs()
        lock = read_beat_lock(beat.client, Layout())
        log = beat.beat_log.read_text(errors="replace")
    finally:
        beat.close()
        proxy.stop()

    assert beat_proc.returncode is not None  # killed by close(), not crashed before
    assert "Traceback" not in log, log[-3000:]
    catch, skip = slot_report(runs, "catch-1s"), slot_report(runs, "skip-1s")
    detail = f"catch={catch}\nskip={skip}\n{log[-3000:]}"
    assert catch["duplicated"] == 0 and skip["duplicated"] == 0, detail
    assert catch["lost"] == 0, detail
    # skip may drop slots only within an outage plus recovery, never in steady state.
    assert skip["max_gap"] <= max(OUTAGES) + RECOVERY_BOUND, detail

    recoveries = []
    for _cut_at, resumed in outages:
        after = [r["ran_at"] for r in runs if r["ran_at"] > resumed and r["label"] == "catch-1s"]
        assert after, f"no run after the outage that ended at {resumed}\n{detail}"
        recoveries.append(min(after) - resumed)
    assert max(recoveries) <= RECOVERY_BOUND, (recoveries, detail)
    # Still running at the end, and still (or again) the leader.
    last = max(datetime.fromisoformat(r["slot"]).timestamp() for r in runs)
    assert last >= ended - 3.0, detail
    assert lock is not None and lock["pid"] == beat_proc.pid, lock

    losses = sum(log.count(marker) for marker in LOSS_MARKERS)
    backs = sum(log.count(marker) for marker in BACK_MARKERS)
    # Each of the two watchers (tick, lock keeper) logs at most once per outage.
    assert 1 <= losses <= len(LOSS_MARKERS) * len(OUTAGES), log
    assert backs <= len(BACK_MARKERS) * len(OUTAGES), log
    assert backs >= 1, log
    # A 0.5 s outage is shorter than the lock's slack: the leader renews through it.
    # Longer ones may cost leadership (the lock expires), regained after the outage.
    lost_terms = log.count("Leadership lost")
    assert lost_terms <= len(OUTAGES) - 1, log
    assert "another beat holds it" not in log, log  # there is no other beat
    print(
        f"\nFAULT beat-cuts {OUTAGES}: catch-1s runs {catch['runs']} dup {catch['duplicated']} "
        f"lost {catch['lost']}; skip-1s runs {skip['runs']} dup {skip['duplicated']} "
        f"lost {skip['lost']} max gap {skip['max_gap']}s; recovery after each outage "
        f"{', '.join(f'{r:.1f}s' for r in recoveries)}; log lines loss {losses} back {backs}; "
        f"leadership lost {lost_terms}x"
    )

"""Real ``celery beat -S redbeat_sync.Scheduler`` processes, a real worker, a Redis broker.

Entries fire every second; the worker records each run (entry, slot, first slot
covered, time) in Redis.  Leaders are SIGKILLed or SIGSTOPped/SIGCONTed while the
standbys take over, then every slot is checked: never run twice; with ``catch_up``
never lost (a late run covers the slots it coalesced); with ``skip`` lost only
inside a failover window.
"""

from __future__ import annotations

import signal
import time
from datetime import datetime

import pytest
from beat_app import TASK
from beat_cluster import LOCK_TIMEOUT, Cluster, add_entries, check_runs

from redbeat_sync.beat.lock import read_beat_lock
from redbeat_sync.schedule.entry import Entry, Every
from redbeat_sync.state.layout import Layout

#: Longest a slot may go unserved across a failover: the lock timeout, a standby
#: retry, process scheduling on a busy 2-core machine.
FAILOVER_WINDOW = LOCK_TIMEOUT + 5.0


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

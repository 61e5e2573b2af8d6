"""``redbeat-sync health`` and the beat heartbeats, against real ``celery beat`` processes.

Each check runs the real command (``python -m redbeat_sync health``) end to end, as a
Kubernetes exec probe would, and reads its exit code and its one line.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import redis
from beat_app import TASK, leading
from beat_cluster import Cluster, add_entries, redbeat_sync_cli

from redbeat_sync.beat.health import check_health
from redbeat_sync.beat.heartbeat import read_beats
from redbeat_sync.schedule.entry import Entry, Every
from redbeat_sync.state.layout import Layout

UTC = timezone.utc


def health(redis_url: str, *args: str) -> tuple[int, str]:
    done = redbeat_sync_cli("health", "--redis-url", redis_url, *args)
    return done.returncode, (done.stdout + done.stderr).strip()


def show_beats(redis_url: str) -> list[dict]:
    done = redbeat_sync_cli("show", "--format", "json", "--redis-url", redis_url)
    assert done.returncode == 0, done.stdout + done.stderr
    return json.loads(done.stdout)["beats"]


def until(check: Callable[[], tuple[int, str]], want: int, timeout: float = 40.0) -> str:
    """Run ``check`` until it exits ``want``; return its line (fail with the last one)."""
    deadline = time.monotonic() + timeout
    code, line = check()
    while code != want and time.monotonic() < deadline:
        time.sleep(0.3)
        code, line = check()
    assert code == want, f"health still exits {code}: {line}"
    return line


def test_no_beat_means_no_leader(redis_url: str) -> None:
    code, line = health(redis_url, "--key-prefix", "nobeat:")
    assert code == 1
    assert line.startswith("FAIL: no leader: nobody holds the beat lock nobeat::lock"), line
    assert len(line.splitlines()) == 1


def test_json_report_names_the_condition(redis_url: str) -> None:
    code, out = health(redis_url, "--key-prefix", "nobeat:", "--format", "json")
    assert code == 1
    report = json.loads(out)
    assert report["ok"] is False and report["problem"].startswith("no leader")
    assert report["lock"] is None and report["beats"] == []


def test_bad_max_lag_is_a_user_error(redis_url: str) -> None:
    code, line = health(redis_url, "--max-lag", "soon")
    assert code == 1 and "--max-lag" in line and "Traceback" not in line


def test_unreachable_redis_is_an_error_not_a_bug(redis_url: str) -> None:
    from devsupport.devserver import free_port

    code, line = health(f"redis://127.0.0.1:{free_port()}/0")
    assert code == 1 and line.startswith("Error:"), line


@pytest.mark.slow
def test_health_follows_a_stopped_and_resumed_leader(cluster: Cluster, redis_url: str) -> None:
    """OK while the beat works; FAIL (stale heartbeat) once it is frozen past --max-lag;
    OK again when it resumes."""
    cluster.env["BEAT_TEST_LOCK_TIMEOUT"] = "30"  # the frozen beat keeps the lock
    add_entries(redis_url, Entry("every-1s", TASK, Every(1.0), args=["every-1s"]))
    cluster.worker()
    beat = cluster.beat()
    cluster.leader()
    cluster.wait_for_runs(2)
    probe = lambda: health(redis_url, "--max-lag", "3s")  # noqa: E731
    line = until(probe, 0)
    assert line.startswith(f"OK: leader {socket.gethostname()} pid {beat.pid}"), line
    beat.send_signal(signal.SIGSTOP)
    try:
        line = until(probe, 1)
        assert "stale heartbeat" in line and str(beat.pid) in line, line
    finally:
        beat.send_signal(signal.SIGCONT)
    line = until(probe, 0)
    assert str(beat.pid) in line


@pytest.mark.slow
def test_health_recovers_when_a_standby_takes_over(cluster: Cluster, redis_url: str) -> None:
    # The frozen leader's lock outlives --max-lag by seconds, so the failing window
    # between "stale" and the standby's takeover is wider than one probe on a busy
    # machine (with a 3 s lock a slow probe could miss it altogether).
    cluster.env["BEAT_TEST_LOCK_TIMEOUT"] = "10"
    add_entries(redis_url, Entry("every-1s", TASK, Every(1.0), args=["every-1s"]))
    cluster.worker()
    cluster.beat()
    cluster.beat()
    leader = cluster.leader()
    cluster.wait_for_runs(2)
    probe = lambda: health(redis_url, "--max-lag", "1.5s")  # noqa: E731
    until(probe, 0)
    # show lists both beats, the lock holder first.
    deadline = time.monotonic() + 20
    beats = show_beats(redis_url)
    while len(beats) < 2 and time.monotonic() < deadline:
        time.sleep(0.3)
        beats = show_beats(redis_url)
    assert beats[0]["pid"] == leader.pid and beats[0]["leading"], beats
    assert {b["role"] for b in beats} == {"leader", "standby"}, beats
    leader.send_signal(signal.SIGSTOP)
    try:
        line = until(probe, 1)
        assert "stale heartbeat" in line or "no leader" in line, line
        line = until(probe, 0)  # the standby leads now, the old leader still frozen
        new = cluster.leader(other_than=leader)
        assert str(new.pid) in line, line
    finally:
        leader.send_signal(signal.SIGCONT)


@pytest.mark.slow
def test_file_heartbeat_is_touched_by_a_standby_too(
    cluster: Cluster, redis_url: str, tmp_path: Path
) -> None:
    files = {}
    for n in range(2):
        files[n] = tmp_path / f"alive-{n}"
        cluster.env["BEAT_TEST_HEARTBEAT_FILE"] = str(files[n])
        cluster.beat()
    leader = cluster.leader()
    standby_index = 1 if cluster.beats[0] is leader else 0
    standby_file = files[standby_index]
    deadline = time.monotonic() + 20
    while not standby_file.exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    first = standby_file.stat().st_mtime
    time.sleep(2.5)
    assert standby_file.stat().st_mtime > first, "the standby's file was not touched again"
    assert files[1 - standby_index].stat().st_mtime > first - 5  # the leader's too
    roles = {b["pid"]: b["role"] for b in read_beats(cluster.client, Layout())}
    assert roles[cluster.beats[standby_index].pid] == "standby", roles


def test_overdue_entry_fails_health_with_its_name(redis_client: redis.Redis) -> None:
    """Judged from what Redis holds: a live leader heartbeat and lock, one entry overdue."""
    from redbeat_sync.beat.heartbeat import BeatState, Heartbeat
    from redbeat_sync.beat.lock import BeatLock

    layout = Layout("health-test:")  # apart from any beat another test left behind
    lock = BeatLock(redis_client, layout.beat_lock_key, 30)
    assert lock.acquire()
    lock_id = json.loads(lock.token)["id"]
    heartbeat = Heartbeat(layout)
    state = BeatState("leader", lock_id, 6.0, 0, None, False, 0, 0.0)
    heartbeat.write(redis_client, state)
    assert check_health(redis_client, layout).ok
    # 35 s (the score is whole seconds, so 35 to 36 plus the time this test takes):
    # the message then reads "3x.xs" however loaded the machine
    late = datetime.now(UTC) - timedelta(seconds=35)
    redis_client.zadd(layout.schedule_key, {layout.entry_key("nightly"): int(late.timestamp())})
    report = check_health(redis_client, layout, max_lag=10)
    assert not report.ok and report.problem is not None
    assert report.problem.startswith("entry nightly overdue by 3"), report.problem
    # The stall watchdog of the leader fails health too.
    redis_client.zrem(layout.schedule_key, layout.entry_key("nightly"))
    stalled = BeatState("leader", lock_id, 6.0, 0, None, True, 1, 4.2)
    heartbeat.write(redis_client, stalled)
    report = check_health(redis_client, layout)
    assert not report.ok and "stall watchdog" in str(report.problem), report.problem


def test_heartbeat_records_expire_and_a_clean_stop_removes_its_own(redis_url: str) -> None:
    """In-process scheduler: its record has a TTL, the index set too, and close() removes it."""
    from beat_app import make_app

    from redbeat_sync import Scheduler

    client = redis.Redis.from_url(redis_url, decode_responses=True)
    beat = Scheduler(make_app(redis_url, redbeat_key_prefix="hb-test:"))
    try:
        beat.start()
        leading(beat)
        beat.tick()
        layout = Layout("hb-test:")
        (record,) = read_beats(client, layout, lock_id=json.loads(beat.token or "{}")["id"])
        assert record["role"] == "leader" and record["leading"] and record["pid"] == os.getpid()
        assert record["watchdog"] == {"stalled": False, "stall_episodes": 0, "last_overdue": 0.0}
        key = layout.beat_key(record["id"])
        assert 0 < client.pttl(key) <= 120_000
        assert 0 < client.pttl(layout.beats_key) <= 120_000
    finally:
        beat.close()
    assert client.exists(key) == 0
    assert read_beats(client, layout) == []


def test_a_new_leader_writes_its_heartbeat_at_once(
    redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Failover: the standby that takes the lock is a healthy leader from its first tick
    (health once failed for seconds with "no heartbeat from the leader")."""
    from beat_app import make_app

    from redbeat_sync import Scheduler
    from redbeat_sync.beat import heartbeat

    # Only the change of role may cause the write: the periodic one is never due here.
    monkeypatch.setattr(heartbeat, "WRITE_EVERY", 3600.0)

    client = redis.Redis.from_url(redis_url, decode_responses=True)
    layout = Layout("failover-hb:")
    app = make_app(redis_url, redbeat_key_prefix=layout.prefix)
    first, second = Scheduler(app), Scheduler(app)
    try:
        first.start()
        leading(first)
        first.tick()
        second.start()
        second.tick()  # standby: its record says so, and the heartbeat is not due again yet
        first.close()  # releases the lock
        leading(second)
        assert not second.heartbeat.due()
        second.tick()
        report = check_health(client, layout)
        assert report.ok, report.problem
    finally:
        first.close()
        second.close()


def test_a_silent_beat_is_not_counted_alive(redis_url: str) -> None:
    """A SIGKILLed beat's record stays until its TTL (120 s or more): judged by the age
    of its last tick against its own lock timeout, it is listed as silent, and neither
    ``health`` nor ``show`` counts it.  The records are written with old ticks."""
    from redbeat_sync.beat.heartbeat import BeatState, Heartbeat
    from redbeat_sync.beat.lock import BeatLock

    client = redis.Redis.from_url(redis_url, decode_responses=True)
    layout = Layout("silent-beat:")
    lock = BeatLock(client, layout.beat_lock_key, 30)
    assert lock.acquire()
    leader = Heartbeat(layout)
    leader.write(
        client, BeatState("leader", json.loads(lock.token)["id"], 6.0, 0, None, False, 0, 0.0)
    )
    standbys = [Heartbeat(layout), Heartbeat(layout)]
    for beat in standbys:
        beat.write(client, BeatState("standby", None, 6.0, 0, None, False, 0, 0.0))
    # The second standby was killed 109 s ago: its record has not expired yet.
    key = layout.beat_key(standbys[1].id)
    record = json.loads(client.get(key))
    record["last_tick"] = time.time() - 109
    client.set(key, json.dumps(record), keepttl=True)

    beats = read_beats(client, layout)
    assert [b["alive"] for b in beats if b["id"] == standbys[1].id] == [False]
    report = check_health(client, layout)
    assert report.ok and "1 standby beat(s)" in report.line(), report.line()

    done = redbeat_sync_cli("show", "--redis-url", redis_url, "--key-prefix", layout.prefix)
    assert done.returncode == 0, done.stderr
    assert "beats: 2 alive, 1 silent:" in done.stdout, done.stdout
    # The CLI starts in a child process: on a loaded machine a second or more passes.
    silent_for = re.search(r"silent for (\d+)s \(probably gone\)", done.stdout)
    assert silent_for and 109 <= int(silent_for.group(1)) < 120, done.stdout
    assert done.stdout.count("last tick") == 2, done.stdout

    lock.release()  # no leader: the count of beats alive leaves the silent one out
    assert check_health(client, layout).problem.endswith("(2 beat(s) alive)")


def test_json_gives_last_tick_as_an_iso_time(redis_url: str) -> None:
    from redbeat_sync.beat.heartbeat import BeatState, Heartbeat

    client = redis.Redis.from_url(redis_url, decode_responses=True)
    layout = Layout("iso-tick:")
    Heartbeat(layout).write(client, BeatState("standby", None, 6.0, 0, None, False, 0, 0.0))
    code, out = health(redis_url, "--key-prefix", layout.prefix, "--format", "json")
    assert code == 1  # no leader
    (beat,) = json.loads(out)["beats"]
    assert datetime.fromisoformat(beat["last_tick"]).tzinfo is not None, beat
    assert beat["alive"] is True
    done = redbeat_sync_cli("show", "--format", "json", "--redis-url", redis_url,
                            "--key-prefix", layout.prefix)  # fmt: skip
    (shown,) = json.loads(done.stdout)["beats"]
    assert datetime.fromisoformat(shown["last_tick"]).tzinfo is not None, shown

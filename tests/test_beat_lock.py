"""The leader lock: exclusion (also against celery-redbeat), renewal, re-election."""

from __future__ import annotations

import time

import redis
from beat_app import LEAD_WAIT
from redbeat.schedulers import LUA_EXTEND_TO_SCRIPT

from redbeat_sync.beat.lock import BeatLock, LockKeeper, read_beat_lock
from redbeat_sync.state.layout import Layout

KEY = "redbeat::lock"


def test_acquire_extend_release(redis_client: redis.Redis) -> None:
    lock = BeatLock(redis_client, KEY, 6)
    assert lock.acquire()
    assert 5000 < redis_client.pttl(KEY) <= 6000
    redis_client.pexpire(KEY, 1000)
    assert lock.renew()
    assert redis_client.pttl(KEY) > 5000
    assert lock.release()
    assert redis_client.get(KEY) is None


def test_second_holder_is_excluded_and_cannot_release(redis_client: redis.Redis) -> None:
    first, second = BeatLock(redis_client, KEY, 6), BeatLock(redis_client, KEY, 6)
    assert first.acquire()
    assert not second.acquire()
    assert not second.renew()
    assert not second.release()
    assert redis_client.get(KEY) == first.token


def test_acquire_again_by_the_holder_is_a_renewal(redis_client: redis.Redis) -> None:
    lock = BeatLock(redis_client, KEY, 6)
    assert lock.acquire()
    assert lock.acquire()  # e.g. the first reply was lost


def test_excludes_celery_redbeat_both_ways(redis_client: redis.Redis) -> None:
    theirs = redis_client.lock(KEY, timeout=30, sleep=0.1)
    theirs.lua_extend = redis_client.register_script(LUA_EXTEND_TO_SCRIPT)
    assert theirs.acquire(blocking=False)
    ours = BeatLock(redis_client, KEY, 6)
    assert not ours.acquire()
    info = read_beat_lock(redis_client, Layout())
    assert info is not None and info["holder"] == "celery-redbeat" and info["ttl"] > 20
    theirs.release()
    assert ours.acquire()
    again = redis_client.lock(KEY, timeout=30, sleep=0.1)
    assert not again.acquire(blocking=False)


def test_read_beat_lock_names_the_holder(redis_client: redis.Redis) -> None:
    assert read_beat_lock(redis_client, Layout()) is None
    lock = BeatLock(redis_client, KEY, 6)
    lock.acquire()
    info = read_beat_lock(redis_client, Layout())
    assert info is not None
    assert info["holder"] == "redbeat-sync"
    assert info["pid"] > 0 and info["host"] and info["since"]
    assert 0 < info["ttl"] <= 6


def test_keeper_takes_over_after_the_leader_dies(redis_client: redis.Redis) -> None:
    timeout = 1.5
    leader = LockKeeper(BeatLock(redis_client, KEY, timeout))
    standby = LockKeeper(BeatLock(redis_client, KEY, timeout))
    leader.start()
    assert leader.became_leader.wait(LEAD_WAIT)
    standby.start()
    try:
        time.sleep(timeout * 2)  # renewed on its own timer, well past one timeout
        assert leader.is_leader() and not standby.is_leader()
        leader.stop(release=False)  # dies without releasing: its key must expire
        # How soon the standby takes over is a figure (bench/bench_beat.py, failover).
        assert standby.became_leader.wait(LEAD_WAIT)
        assert redis_client.get(KEY) == standby.token
        assert not leader.is_leader()
    finally:
        leader.stop(release=False)
        standby.stop()


def test_leader_notices_a_stolen_lock_and_stands_by(redis_client: redis.Redis) -> None:
    changes: list[bool] = []
    keeper = LockKeeper(BeatLock(redis_client, KEY, 3.0), on_change=changes.append)
    keeper.start()
    try:
        assert keeper.became_leader.wait(LEAD_WAIT)
        redis_client.set(KEY, "somebody-else", px=60_000)
        deadline = time.monotonic() + LEAD_WAIT  # a bound on waiting only
        while keeper.is_leader() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not keeper.is_leader()
        assert changes[0] is True and changes[-1] is False
        assert redis_client.get(KEY) == "somebody-else"  # never taken from the holder
        redis_client.delete(KEY)  # the other one goes away: re-election
        assert keeper.became_leader.wait(LEAD_WAIT)
        assert changes[-1] is True
    finally:
        keeper.stop()
    assert redis_client.get(KEY) is None


def test_leadership_ends_locally_when_redis_cannot_confirm(redis_client: redis.Redis) -> None:
    """A leader that cannot renew stops at its local deadline, whatever Redis says."""
    lock = BeatLock(redis_client, KEY, 1.0)
    keeper = LockKeeper(lock)
    keeper.step()
    assert keeper.is_leader()
    time.sleep(1.0)  # no renewal happened (no thread): the deadline passed
    assert not keeper.is_leader()
    assert not keeper.became_leader.is_set()  # standbys wait on it: no busy loop

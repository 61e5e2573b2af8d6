"""Sync lock: one apply at a time, clear message naming the holder, safe release."""

from __future__ import annotations

import json
import threading
import time

import pytest
import redis

from redbeat_sync.errors import UserError
from redbeat_sync.state.layout import Layout
from redbeat_sync.state.synclock import SyncLock, force_unlock, read_sync_lock

LAYOUT = Layout("{lk}:")


def test_acquire_writes_holder_record_with_ttl(redis_client: redis.Redis) -> None:
    lock = SyncLock(redis_client, LAYOUT, holder="alice@laptop", ttl=30, command="x apply")
    lock.acquire(wait=0)
    record = read_sync_lock(redis_client, LAYOUT)
    assert record is not None
    assert record["id"] == lock.lock_id
    assert record["holder"] == "alice@laptop"
    assert record["command"] == "x apply"
    assert record["pid"] > 0 and record["host"] and record["since"].endswith("+00:00")
    assert 0 < redis_client.pttl(LAYOUT.sync_lock_key) <= 30_000
    assert lock.release() is True
    assert read_sync_lock(redis_client, LAYOUT) is None


def test_second_acquirer_waits_then_names_holder(redis_client: redis.Redis) -> None:
    first = SyncLock(redis_client, LAYOUT, holder="alice@laptop")
    first.acquire(wait=0)
    second = SyncLock(redis_client, LAYOUT, holder="bob@ci")
    redis_client.config_resetstat()
    with pytest.raises(UserError) as caught:
        second.acquire(wait=1.0)
    # It waited: tried again (SET NX) while the holder kept the lock, not once only.
    assert redis_client.info("commandstats")["cmdstat_set"]["calls"] >= 2
    message = str(caught.value)
    assert message.startswith("another apply holds the sync lock: alice@laptop")
    assert f"(lock id {first.lock_id})" in message
    assert f"redbeat-sync force-unlock {first.lock_id}" in message
    assert "since 20" in message
    # the loser must not have touched the holder's lock
    assert read_sync_lock(redis_client, LAYOUT)["id"] == first.lock_id  # type: ignore[index]
    assert second.release() is False
    assert read_sync_lock(redis_client, LAYOUT)["id"] == first.lock_id  # type: ignore[index]


def test_waiter_gets_lock_when_holder_releases(redis_client: redis.Redis) -> None:
    first = SyncLock(redis_client, LAYOUT)
    first.acquire(wait=0)
    threading.Timer(0.2, first.release).start()
    second = SyncLock(redis_client, LAYOUT)
    second.acquire(wait=5)
    assert read_sync_lock(redis_client, LAYOUT)["id"] == second.lock_id  # type: ignore[index]
    second.release()


def test_concurrent_applies_serialize(redis_url: str) -> None:
    inside = 0
    max_inside = 0
    order: list[int] = []
    guard = threading.Lock()

    def apply(n: int) -> None:
        client = redis.Redis.from_url(redis_url, decode_responses=True)
        with SyncLock(client, LAYOUT, wait=10, holder=f"t{n}"):
            nonlocal inside, max_inside
            with guard:
                inside += 1
                max_inside = max(max_inside, inside)
            time.sleep(0.15)
            with guard:
                inside -= 1
                order.append(n)
        client.close()

    threads = [threading.Thread(target=apply, args=(n,)) for n in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    assert sorted(order) == [0, 1, 2]
    assert max_inside == 1


def test_expired_lock_is_not_released_or_refreshed_by_old_holder(
    redis_client: redis.Redis,
) -> None:
    old = SyncLock(redis_client, LAYOUT, ttl=0.1)
    old.acquire(wait=0)
    time.sleep(0.2)
    new = SyncLock(redis_client, LAYOUT)
    new.acquire(wait=0)
    with pytest.raises(UserError, match="lost the sync lock"):
        old.refresh()
    assert old.release() is False
    assert read_sync_lock(redis_client, LAYOUT)["id"] == new.lock_id  # type: ignore[index]


def test_refresh_extends_ttl(redis_client: redis.Redis) -> None:
    lock = SyncLock(redis_client, LAYOUT, ttl=5)
    lock.acquire(wait=0)
    time.sleep(0.3)
    before = redis_client.pttl(LAYOUT.sync_lock_key)
    assert before <= 4_700
    lock.refresh()
    assert redis_client.pttl(LAYOUT.sync_lock_key) > before + 200
    assert read_sync_lock(redis_client, LAYOUT)["id"] == lock.lock_id  # type: ignore[index]
    lock.release()


def test_force_unlock_needs_the_right_id(redis_client: redis.Redis) -> None:
    lock = SyncLock(redis_client, LAYOUT)
    lock.acquire(wait=0)
    assert force_unlock(redis_client, LAYOUT, "deadbeef") is False
    assert read_sync_lock(redis_client, LAYOUT) is not None
    assert force_unlock(redis_client, LAYOUT, lock.lock_id) is True
    assert read_sync_lock(redis_client, LAYOUT) is None
    assert force_unlock(redis_client, LAYOUT, lock.lock_id) is False


def test_command_passwords_are_masked(redis_client: redis.Redis) -> None:
    lock = SyncLock(redis_client, LAYOUT, command="apply --redis-url redis://u:s3cret@h:6379/0")
    lock.acquire(wait=0)
    raw = redis_client.get(LAYOUT.sync_lock_key)
    assert "s3cret" not in raw
    assert json.loads(raw)["command"] == "apply --redis-url redis://u:***@h:6379/0"
    lock.release()


def test_a_lock_left_by_an_older_version_is_shown_redacted(redis_client: redis.Redis) -> None:
    old = {
        "id": "1",
        "holder": "h",
        "command": "redbeat-sync apply --redis-url redis://h/0?password=s3cret",
    }
    redis_client.set(LAYOUT.sync_lock_key, json.dumps(old), px=60_000)
    shown = read_sync_lock(redis_client, LAYOUT)
    assert shown is not None and "s3cret" not in json.dumps(shown)


def test_the_default_command_is_the_program_only(redis_client: redis.Redis) -> None:
    lock = SyncLock(redis_client, LAYOUT)
    assert " " not in lock.command  # no argument of whatever process uses the library

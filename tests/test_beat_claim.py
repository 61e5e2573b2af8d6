"""The claim script: fenced by the lock, compare-and-set on meta and definition."""

from __future__ import annotations

import pytest
import redis

from redbeat_sync.beat.claim import Claim, Claimer, LockLost
from redbeat_sync.beat.lock import BeatLock
from redbeat_sync.state.layout import Layout
from redbeat_sync.state.stored import field_digest

LAYOUT = Layout()
DEFINITION = '{"name": "a"}'


def _entry(client: redis.Redis, name: str = "a", meta: str | None = "m1") -> str:
    key = LAYOUT.entry_key(name)
    client.hset(key, "definition", DEFINITION)
    if meta is not None:
        client.hset(key, "meta", meta)
    client.zadd(LAYOUT.schedule_key, {key: 100})
    return key


def test_claim_advances_meta_and_score(redis_client: redis.Redis) -> None:
    lock = BeatLock(redis_client, LAYOUT.beat_lock_key, 6)
    assert lock.acquire()
    key = _entry(redis_client)
    claimer = Claimer(redis_client, LAYOUT, LAYOUT.beat_lock_key)
    claim = Claim(key, field_digest(DEFINITION, None), "m1", "m2", 200)
    assert claimer.claim([claim], lock.token) == [True]
    assert redis_client.hget(key, "meta") == "m2"
    assert redis_client.zscore(LAYOUT.schedule_key, key) == 200
    # The same claim again: meta is no longer what it saw -> lost, nothing written.
    assert claimer.claim([claim], lock.token) == [False]
    assert redis_client.zscore(LAYOUT.schedule_key, key) == 200


def test_claim_without_the_lock_changes_nothing(redis_client: redis.Redis) -> None:
    ours = BeatLock(redis_client, LAYOUT.beat_lock_key, 6)
    thief = BeatLock(redis_client, LAYOUT.beat_lock_key, 6)
    assert thief.acquire()
    key = _entry(redis_client)
    claimer = Claimer(redis_client, LAYOUT, LAYOUT.beat_lock_key)
    with pytest.raises(LockLost):
        claimer.claim([Claim(key, field_digest(DEFINITION, None), "m1", "m2", 200)], ours.token)
    assert redis_client.hget(key, "meta") == "m1"
    assert redis_client.zscore(LAYOUT.schedule_key, key) == 100


def test_claim_loses_to_a_changed_definition(redis_client: redis.Redis) -> None:
    key = _entry(redis_client)
    claimer = Claimer(redis_client, LAYOUT, None)  # lock disabled
    stale = field_digest(DEFINITION, None)
    redis_client.hset(key, "redbeat_sync", "{}")  # the extra field changed meanwhile
    assert claimer.claim([Claim(key, stale, "m1", "m2", 200)], None) == [False]
    fresh = field_digest(DEFINITION, "{}")
    assert claimer.claim([Claim(key, fresh, "m1", "m2", 200)], None) == [True]


def test_missing_meta_and_missing_entry(redis_client: redis.Redis) -> None:
    key = _entry(redis_client, "new", meta=None)
    claimer = Claimer(redis_client, LAYOUT, None)
    digest = field_digest(DEFINITION, None)
    gone = LAYOUT.entry_key("gone")
    result = claimer.claim([Claim(key, digest, "", "m", 5), Claim(gone, digest, "", "m", 5)], None)
    assert result == [True, False]
    assert not redis_client.exists(gone)


def test_score_only_move_keeps_meta(redis_client: redis.Redis) -> None:
    key = _entry(redis_client)
    claimer = Claimer(redis_client, LAYOUT, None)
    assert claimer.claim([Claim(key, field_digest(DEFINITION, None), "m1", "", -1)], None) == [True]
    assert redis_client.hget(key, "meta") == "m1"
    assert redis_client.zscore(LAYOUT.schedule_key, key) == -1


@pytest.mark.parametrize("odd", ["a\x1fb", "a\x1eb", "\x1f", "#m1", "=m1"])
def test_compare_and_set_on_any_meta_text(redis_client: redis.Redis, odd: str) -> None:
    """Metas holding the payload separators (or its mode characters) still CAS exactly."""
    key = _entry(redis_client, meta=odd)
    claimer = Claimer(redis_client, LAYOUT, None)
    digest = field_digest(DEFINITION, None)
    batch = [Claim(key, digest, odd + "x", "m2", 200), Claim(key, digest, odd[:-1], "m2", 200)]
    assert claimer.claim(batch, None) == [False, False]
    assert redis_client.hget(key, "meta") == odd
    assert claimer.claim([Claim(key, digest, odd, "m2", 200)], None) == [True]
    assert redis_client.hget(key, "meta") == "m2"

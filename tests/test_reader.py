"""read_state / read_entries against a real redis-server."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
import redis

from redbeat_sync.errors import UserError
from redbeat_sync.schedule.entry import At, Cron, Entry, Every, RunState
from redbeat_sync.state import codec
from redbeat_sync.state.layout import Layout
from redbeat_sync.state.reader import read_entries, read_state

UTC = timezone.utc
LAYOUT = Layout("rb:")


def put(
    client: redis.Redis,
    entry: Entry,
    *,
    score: float = 100,
    managed: bool = True,
    run: RunState | None = None,
    layout: Layout = LAYOUT,
) -> None:
    encoded = codec.encode_entry(entry, managed=managed)
    key = layout.entry_key(entry.name)
    client.hset(key, "definition", encoded.definition)
    if encoded.extra is not None:
        client.hset(key, "redbeat_sync", encoded.extra)
    if run is not None:
        client.hset(key, "meta", codec.encode_meta(run))
    client.zadd(layout.schedule_key, {key: score})
    if managed:
        client.sadd(layout.inventory_key, entry.name)


def every(name: str, seconds: float = 60.0) -> Entry:
    return Entry(name=name, task="t", schedule=Every(seconds))


def test_reads_managed_and_unmanaged_entries(redis_client: redis.Redis):
    run = RunState(datetime(2025, 1, 1, tzinfo=UTC), 7)
    put(redis_client, every("mine"), score=123, run=run)
    put(redis_client, every("theirs"), managed=False)
    state = read_state(redis_client, LAYOUT)
    assert set(state.entries) == {"mine", "theirs"}
    mine = state.entries["mine"]
    assert (mine.managed, mine.marked, mine.score, mine.run) == (True, True, 123.0, run)
    assert mine.key == "rb:mine" and mine.entry == every("mine")
    theirs = state.entries["theirs"]
    assert (theirs.managed, theirs.marked, theirs.extra_raw) == (False, False, None)
    assert set(state.managed) == {"mine"} and set(state.unmanaged) == {"theirs"}


def test_requires_scheduler_is_filled(redis_client: redis.Redis):
    at = Entry(name="once", task="t", schedule=At(datetime(2030, 1, 1, tzinfo=UTC)))
    paris = Entry(
        name="p", task="t", schedule=Cron.from_expression("0 9 * * *"), timezone="Europe/Paris"
    )
    put(redis_client, at)
    put(redis_client, paris)
    state = read_state(redis_client, LAYOUT)
    assert state.entries["once"].requires_scheduler == ("one-off 'at' schedule",)
    assert state.entries["p"].requires_scheduler
    assert (
        read_state(redis_client, LAYOUT, beat_timezone="Europe/Paris")
        .entries["p"]
        .requires_scheduler
        == ()
    )


def test_gone_hashes_and_inventory_only_names(redis_client: redis.Redis):
    put(redis_client, every("alive"))
    redis_client.zadd(LAYOUT.schedule_key, {"rb:vanished": 5})  # zset member, no hash
    redis_client.sadd(LAYOUT.inventory_key, "deleted-by-hand")  # inventory, no hash
    redis_client.hset("rb:no-definition", "meta", "{}")
    redis_client.zadd(LAYOUT.schedule_key, {"rb:no-definition": 5})
    redis_client.zadd(LAYOUT.schedule_key, {"other:prefix": 5})  # not ours at all
    state = read_state(redis_client, LAYOUT)
    assert set(state.entries) == {"alive"}
    assert state.inventory == {"alive", "deleted-by-hand"}


def test_inventory_name_not_in_schedule_is_read_with_no_score(redis_client: redis.Redis):
    put(redis_client, every("unscheduled"))
    redis_client.zrem(LAYOUT.schedule_key, "rb:unscheduled")
    stored = read_state(redis_client, LAYOUT).entries["unscheduled"]
    assert stored.score is None and stored.entry == every("unscheduled")


def test_undecodable_entries_come_back_with_an_error(redis_client: redis.Redis):
    put(redis_client, every("good"))
    redis_client.hset("rb:bad-json", "definition", "{oops")
    redis_client.hset("rb:wrong-name", "definition", codec.encode_entry(every("x")).definition)
    redis_client.hset(
        "rb:bad-meta",
        mapping={"definition": codec.encode_entry(every("bad-meta")).definition, "meta": "[]"},
    )
    for name in ("bad-json", "wrong-name", "bad-meta"):
        redis_client.zadd(LAYOUT.schedule_key, {f"rb:{name}": 1})
    state = read_state(redis_client, LAYOUT)
    assert state.entries["good"].error is None
    assert state.entries["bad-json"].entry is None
    assert "not valid JSON" in state.entries["bad-json"].error
    assert "'x'" in state.entries["wrong-name"].error
    bad_meta = state.entries["bad-meta"]
    assert bad_meta.entry == every("bad-meta") and bad_meta.run == RunState()
    assert bad_meta.error.startswith("meta:")


def test_fingerprint_tracks_definitions_and_inventory_not_runs(redis_client: redis.Redis):
    empty = read_state(redis_client, LAYOUT).fingerprint
    assert empty == read_state(redis_client, LAYOUT).fingerprint
    assert empty != read_state(redis_client, Layout("other:")).fingerprint
    put(redis_client, every("a"))
    one = read_state(redis_client, LAYOUT).fingerprint
    assert one != empty
    redis_client.hset("rb:a", "meta", codec.encode_meta(RunState(datetime.now(UTC), 1)))
    redis_client.zadd(LAYOUT.schedule_key, {"rb:a": 999})
    assert read_state(redis_client, LAYOUT).fingerprint == one  # runs do not count
    put(redis_client, every("a", 30.0))
    changed = read_state(redis_client, LAYOUT).fingerprint
    assert changed != one
    redis_client.sadd(LAYOUT.inventory_key, "ghost")
    assert read_state(redis_client, LAYOUT).fingerprint != changed


def test_read_entries_by_name(redis_client: redis.Redis):
    put(redis_client, every("a"), score=11)
    put(redis_client, every("b"), managed=False, score=12)
    got = read_entries(redis_client, LAYOUT, ["b", "a", "missing", "a"])
    assert set(got) == {"a", "b"}
    assert (got["a"].managed, got["a"].score) == (True, 11.0)
    assert (got["b"].managed, got["b"].score) == (False, 12.0)
    assert got["a"] == read_state(redis_client, LAYOUT).entries["a"]


def test_small_chunks_read_everything(redis_client: redis.Redis):
    for i in range(25):
        put(redis_client, every(f"e{i:02}"), managed=i % 2 == 0)
    state = read_state(redis_client, LAYOUT, chunk_size=4)
    assert len(state.entries) == 25
    assert sum(e.managed for e in state.entries.values()) == 13
    assert (
        len(read_entries(redis_client, LAYOUT, [f"e{i:02}" for i in range(25)], chunk_size=3)) == 25
    )


def test_ten_thousand_entries_read_quickly(redis_client: redis.Redis):
    n = 10_000
    run = codec.encode_meta(RunState(datetime(2025, 1, 1, tzinfo=UTC), 3))
    with redis_client.pipeline(transaction=False) as pipe:
        for i in range(n):
            entry = Entry(
                name=f"job-{i}",
                task="app.tasks.work",
                schedule=Cron.from_expression(f"{i % 60} * * * *"),
                kwargs={"i": i},
            )
            encoded = codec.encode_entry(entry)
            key = LAYOUT.entry_key(entry.name)
            pipe.hset(
                key,
                mapping={
                    "definition": encoded.definition,
                    "redbeat_sync": encoded.extra,
                    "meta": run,
                },
            )
            pipe.zadd(LAYOUT.schedule_key, {key: i})
            pipe.sadd(LAYOUT.inventory_key, entry.name)
        pipe.execute()
    state = read_state(redis_client, LAYOUT)  # its speed: bench/bench_sync.py "read_state"
    assert len(state.entries) == n and all(e.error is None for e in state.entries.values())
    assert read_state(redis_client, LAYOUT, use_script=True) == state  # 500 keys per call


def test_a_key_of_the_wrong_type_is_reported_not_fatal(redis_client: redis.Redis):
    put(redis_client, every("good"))
    redis_client.set("rb:a-string", "hello")
    redis_client.zadd(LAYOUT.schedule_key, {"rb:a-string": 1})
    state = read_state(redis_client, LAYOUT)
    assert state.entries["good"].entry == every("good")
    broken = state.entries["a-string"]
    assert broken.entry is None and "WRONGTYPE" in broken.error
    assert "WRONGTYPE" in read_entries(redis_client, LAYOUT, ["a-string"])["a-string"].error


def test_schedule_key_of_the_wrong_type_is_a_user_error(redis_client: redis.Redis):
    redis_client.set(LAYOUT.schedule_key, "oops")
    with pytest.raises(UserError, match="prefix 'rb:'"):
        read_state(redis_client, LAYOUT)


def _mixed_store(client: redis.Redis) -> None:
    put(client, every("a"), run=RunState(datetime(2025, 1, 1, tzinfo=UTC), 2))
    put(client, every("b"), managed=False, score=7)
    put(client, Entry(name="at", task="t", schedule=At(datetime(2030, 1, 1, tzinfo=UTC))))
    client.set("rb:wrong", "x")
    client.zadd(LAYOUT.schedule_key, {"rb:wrong": 3, "rb:gone": 4})
    client.sadd(LAYOUT.inventory_key, "ghost")
    client.hset("rb:bad", "definition", "{")
    client.zadd(LAYOUT.schedule_key, {"rb:bad": 5})


def test_script_and_pipeline_paths_read_the_same(redis_client: redis.Redis):
    empty = (read_state(redis_client, LAYOUT, use_script=True), read_state(redis_client, LAYOUT))
    assert empty[0] == empty[1]
    _mixed_store(redis_client)
    scripted = read_state(redis_client, LAYOUT, chunk_size=2, use_script=True)
    piped = read_state(redis_client, LAYOUT, chunk_size=2)
    assert scripted == piped
    assert set(scripted.entries) == {"a", "b", "at", "wrong", "bad"}


def test_falls_back_to_pipelines_when_scripting_is_denied(
    redis_url: str, redis_client: redis.Redis
):
    _mixed_store(redis_client)
    expected = read_state(redis_client, LAYOUT)
    redis_client.execute_command(
        "ACL", "SETUSER", "noscript", "on", ">pw", "~*", "+@all", "-@scripting"
    )
    try:
        hostport = redis_url.split("://", 1)[1]
        limited = redis.Redis.from_url(f"redis://noscript:pw@{hostport}", decode_responses=True)
        with pytest.raises(redis.exceptions.NoPermissionError):
            limited.eval("return 1", 0)  # the server really refuses scripts to this user
        assert read_state(limited, LAYOUT, use_script=True) == expected
        assert read_entries(limited, LAYOUT, ["a", "wrong"], use_script=True) == {
            n: expected.entries[n] for n in ("a", "wrong")
        }
        limited.close()
    finally:
        redis_client.execute_command("ACL", "DELUSER", "noscript")

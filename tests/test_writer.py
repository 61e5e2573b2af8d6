"""Writer: guarded, atomic-per-batch writes that never lose beat's run history."""

from __future__ import annotations

import hashlib
import json
import random
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from importlib import resources

import pytest
import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from redbeat_sync.schedule import timing
from redbeat_sync.schedule.entry import Cron, Entry, Every, RunState
from redbeat_sync.state import layout as layout_module
from redbeat_sync.state.codec import decode_entry, decode_meta, encode_entry, encode_meta
from redbeat_sync.state.layout import Layout
from redbeat_sync.state.stored import Put, Release, Remove, field_digest
from redbeat_sync.state.writer import PartialApply, StateChanged, WriteReport, write

LAYOUT = Layout("{rb}:")
NOW = datetime(2026, 3, 4, 12, 0, 30, 500_000, tzinfo=timezone.utc)
DEF, META, EXTRA = (
    layout_module.DEFINITION_FIELD,
    layout_module.META_FIELD,
    layout_module.EXTRA_FIELD,
)


def job(i: int | str, **changes: object) -> Entry:
    values: dict[str, object] = {
        "name": f"job-{i}",
        "task": "tasks.ping",
        "schedule": Every(60.0),
        "args": [i],
    }
    values.update(changes)
    return Entry(**values)  # type: ignore[arg-type]


def digest_of(client: redis.Redis, name: str) -> str:
    definition, extra = client.hmget(LAYOUT.entry_key(name), [DEF, EXTRA])
    return field_digest(definition, extra)


@pytest.fixture
def raw_client(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()


def snapshot(raw: redis.Redis) -> dict[bytes, bytes | None]:
    """Every key of the database, serialized byte for byte (DUMP)."""
    return {key: raw.dump(key) for key in sorted(raw.keys("*"))}


# --------------------------------------------------------------------------- lua guard


def test_lua_digest_matches_python_field_digest(redis_client: redis.Redis) -> None:
    script = apply_script(redis_client)
    samples = [
        (None, None),
        ("", ""),
        ('{"a": 1}', None),
        (None, '{"m": true}'),
        ('{"name": "h\u00e9llo \u2603 \U0001f600"}', "x\ty\nz"),
        ("a\x00b", "c"),  # binary-safe on both sides (JSON never holds a raw NUL)
    ]
    key = LAYOUT.entry_key("probe")
    for definition, extra in samples:
        redis_client.delete(key)
        mapping = {f: v for f, v in ((DEF, definition), (EXTRA, extra)) if v is not None}
        if mapping:
            redis_client.hset(key, mapping=mapping)
        else:
            redis_client.hset(key, "other", "1")  # the key exists, both fields missing
        good = field_digest(definition, extra)
        bad = field_digest(definition, (extra or "") + "!")
        keys = [LAYOUT.schedule_key, LAYOUT.inventory_key, LAYOUT.statics_key, key]
        assert script(keys=keys, args=release_args(bad)) == ["changed", "probe"]
        assert script(keys=keys, args=release_args(good)) == ["ok", "1"], (definition, extra)


def release_args(expect: str) -> list[str]:
    ops = [["release", "probe", expect, "", "", "", "", ""]]
    return [DEF, META, EXTRA, json.dumps(ops)]


def apply_script(client: redis.Redis) -> object:
    source = resources.files("redbeat_sync.state").joinpath("lua/apply.lua").read_text()
    return client.register_script(source)


_TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=40)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(definition=st.none() | _TEXT, extra=st.none() | _TEXT, ascii_json=st.booleans())
def test_lua_and_python_agree_on_any_text(
    redis_server: object, definition: str | None, extra: str | None, ascii_json: bool
) -> None:
    # Property: whatever the text, what the script stores is byte-identical to what
    # Python sent, and its digest of the stored fields equals model.field_digest.
    client = redis.Redis.from_url(redis_server.url, decode_responses=True)  # type: ignore[attr-defined]
    key = Layout("{prop}:").entry_key("probe")
    keys = ["{prop}::schedule", "{prop}::sync:managed", "{prop}::statics", key]
    try:
        client.delete(key)
        script = apply_script(client)
        flags = ("D" if definition is not None else "") + ("X" if extra is not None else "")
        put = [["put", "probe", "", flags, definition or "", extra or "", "", ""]]
        args = [DEF, META, EXTRA, json.dumps(put, ensure_ascii=ascii_json)]
        assert script(keys=keys, args=args) == ["ok", "1"]
        stored = client.hmget(key, [DEF, EXTRA])
        assert stored == [definition, extra]
        check = [["release", "probe", field_digest(definition, extra), "", "", "", "", ""]]
        assert script(keys=keys, args=[DEF, META, EXTRA, json.dumps(check)]) == ["ok", "1"]
    finally:
        client.delete(*keys)
        client.close()


@pytest.mark.parametrize("ensure_ascii", [True, False])
def test_lua_transport_is_byte_exact(
    redis_client: redis.Redis, raw_client: redis.Redis, ensure_ascii: bool
) -> None:
    script = apply_script(redis_client)
    tricky = 'h\u00e9llo \U0001f600 \x00 \\ " \u2028 \t\n {"__type__": 1} \x7f'
    ops = [["put", "probe", "", "DXM", tricky, tricky[::-1], "{}", ""]]
    key = LAYOUT.entry_key("probe")
    args = [DEF, META, EXTRA, json.dumps(ops, ensure_ascii=ensure_ascii)]
    keys = [LAYOUT.schedule_key, LAYOUT.inventory_key, LAYOUT.statics_key, key]
    assert script(keys=keys, args=args) == ["ok", "1"]
    assert raw_client.hget(key, DEF) == tricky.encode()
    assert raw_client.hget(key, EXTRA) == tricky[::-1].encode()


# --------------------------------------------------------------------------- creates


def test_create_writes_definition_meta_score_inventory(redis_client: redis.Redis) -> None:
    entry = job(1)
    report = write(redis_client, LAYOUT, [Put(entry, None)], now=NOW)
    assert report == WriteReport(created=1, batches=1)
    key = LAYOUT.entry_key("job-1")
    encoded = encode_entry(entry, beat_timezone="UTC", managed=True)
    stored = redis_client.hgetall(key)
    assert stored[DEF] == encoded.definition
    assert stored[EXTRA] == encoded.extra
    assert stored[META] == encode_meta(RunState(last_run_at=NOW))
    assert decode_meta(stored[META]).last_run_at == NOW
    expected = timing.score(timing.next_due(entry, NOW, NOW))
    assert redis_client.zscore(LAYOUT.schedule_key, key) == expected
    assert expected == int(NOW.timestamp()) + 60  # floored to the whole second: never late
    assert redis_client.smembers(LAYOUT.inventory_key) == {"job-1"}
    assert redis_client.smembers(LAYOUT.statics_key) == set()


def test_create_of_existing_key_fails_and_writes_nothing(
    redis_client: redis.Redis, raw_client: redis.Redis
) -> None:
    write(redis_client, LAYOUT, [Put(job(1), None)], now=NOW)
    redis_client.hset(LAYOUT.entry_key("job-2"), DEF, "someone else's")
    before = snapshot(raw_client)
    with pytest.raises(StateChanged) as caught:
        write(
            redis_client,
            LAYOUT,
            [
                Put(job(3), None),  # would be fine
                Put(job(1, task="tasks.new"), digest_of(redis_client, "job-1")),  # fine
                Put(job(2), None),  # job-2 appeared since the plan
                Remove("job-9", None),  # fine: gone
            ],
            now=NOW,
        )
    assert caught.value.names == ["job-2"]
    assert "job-2" in str(caught.value) and "nothing was written" in str(caught.value)
    assert snapshot(raw_client) == before


def test_update_with_stale_digest_writes_nothing(
    redis_client: redis.Redis, raw_client: redis.Redis
) -> None:
    write(redis_client, LAYOUT, [Put(job(i), None) for i in range(3)], now=NOW)
    planned = {n: digest_of(redis_client, n) for n in ("job-0", "job-1", "job-2")}
    # someone edits job-1's definition (and only that) after the plan was made
    redis_client.hset(LAYOUT.entry_key("job-1"), DEF, '{"edited": true}')
    before = snapshot(raw_client)
    ops = [
        Put(job(0, task="t.a"), planned["job-0"]),
        Remove("job-1", planned["job-1"]),
        Release("job-2", planned["job-2"]),
    ]
    with pytest.raises(StateChanged) as caught:
        write(redis_client, LAYOUT, ops, now=NOW)
    assert caught.value.names == ["job-1"]
    assert snapshot(raw_client) == before


# --------------------------------------------------------------------------- meta


def test_update_keeps_existing_meta_and_score(redis_client: redis.Redis) -> None:
    write(redis_client, LAYOUT, [Put(job(1), None)], now=NOW)
    key = LAYOUT.entry_key("job-1")
    beat_meta = encode_meta(RunState(last_run_at=NOW + timedelta(minutes=5), total_run_count=7))
    redis_client.hset(key, META, beat_meta)
    redis_client.zadd(LAYOUT.schedule_key, {key: 12345})
    later = NOW + timedelta(hours=1)
    updated = job(1, args=[1, 2])
    report = write(
        redis_client, LAYOUT, [Put(updated, digest_of(redis_client, "job-1"))], now=later
    )
    assert report == WriteReport(updated=1, batches=1)
    assert redis_client.hget(key, META) == beat_meta
    assert redis_client.zscore(LAYOUT.schedule_key, key) == 12345  # not a reschedule
    assert redis_client.hget(key, DEF) == encode_entry(updated).definition


def test_concurrent_beat_never_loses_meta(redis_url: str, redis_client: redis.Redis) -> None:
    names = [f"job-{i}" for i in range(20)]
    write(redis_client, LAYOUT, [Put(job(i), None) for i in range(20)], now=NOW)
    stop = threading.Event()
    last_written: dict[str, int] = {}
    errors: list[BaseException] = []

    def beat() -> None:
        client = redis.Redis.from_url(redis_url, decode_responses=True)
        count = 0
        try:
            while not stop.is_set():
                count += 1
                for name in names:
                    key = LAYOUT.entry_key(name)
                    run = RunState(
                        last_run_at=NOW + timedelta(seconds=count), total_run_count=count
                    )
                    with client.pipeline(transaction=True) as pipe:
                        pipe.hset(key, META, encode_meta(run))
                        pipe.zadd(LAYOUT.schedule_key, {key: 1_000_000 + count})
                        pipe.execute()
                    last_written[name] = count
        except BaseException as exc:  # surfaced by the main thread
            errors.append(exc)
        finally:
            client.close()

    thread = threading.Thread(target=beat)
    thread.start()
    seen: dict[str, int] = dict.fromkeys(names, 0)
    try:
        for round_ in range(15):
            ops = [
                Put(
                    job(int(n.split("-")[1]), args=[round_]),
                    digest_of(redis_client, n),
                    reschedule=round_ % 2 == 1,
                    last_run_at_hint=RunState(last_run_at=NOW),
                )
                for n in names
            ]
            write(redis_client, LAYOUT, ops, now=NOW + timedelta(seconds=round_))
            for name in names:  # run counts only ever grow while applies run
                run = decode_meta(redis_client.hget(LAYOUT.entry_key(name), META))
                assert run.total_run_count >= seen[name]
                seen[name] = run.total_run_count
    finally:
        stop.set()
        thread.join(10)
    assert not errors
    for name in names:
        run = decode_meta(redis_client.hget(LAYOUT.entry_key(name), META))
        assert run.total_run_count == last_written[name] > 0
        assert run.last_run_at == NOW + timedelta(seconds=last_written[name])


# --------------------------------------------------------------------------- remove / release


def test_remove_deletes_hash_member_and_inventory(redis_client: redis.Redis) -> None:
    write(redis_client, LAYOUT, [Put(job(1), None), Put(job(2), None)], now=NOW)
    report = write(redis_client, LAYOUT, [Remove("job-1", digest_of(redis_client, "job-1"))])
    assert report == WriteReport(deleted=1, batches=1)
    assert not redis_client.exists(LAYOUT.entry_key("job-1"))
    assert redis_client.zscore(LAYOUT.schedule_key, LAYOUT.entry_key("job-1")) is None
    assert redis_client.smembers(LAYOUT.inventory_key) == {"job-2"}
    assert redis_client.exists(LAYOUT.entry_key("job-2"))


def test_remove_of_already_gone_entry_drops_inventory_name(redis_client: redis.Redis) -> None:
    redis_client.sadd(LAYOUT.inventory_key, "ghost", "kept")
    write(redis_client, LAYOUT, [Remove("ghost", None)])
    assert redis_client.smembers(LAYOUT.inventory_key) == {"kept"}


def test_release_keeps_definition_meta_and_score(redis_client: redis.Redis) -> None:
    write(redis_client, LAYOUT, [Put(job(1), None)], now=NOW)
    key = LAYOUT.entry_key("job-1")
    before = redis_client.hgetall(key)
    score = redis_client.zscore(LAYOUT.schedule_key, key)
    report = write(redis_client, LAYOUT, [Release("job-1", digest_of(redis_client, "job-1"))])
    assert report == WriteReport(released=1, batches=1)
    after = redis_client.hgetall(key)
    assert after == {DEF: before[DEF], META: before[META]}
    assert redis_client.zscore(LAYOUT.schedule_key, key) == score
    assert redis_client.smembers(LAYOUT.inventory_key) == set()


def test_adopt_leaves_definition_byte_for_byte(redis_client: redis.Redis) -> None:
    entry = job(1)
    key = LAYOUT.entry_key("job-1")
    # written by someone else, with different (but equivalent) JSON spacing
    foreign = json.dumps(json.loads(encode_entry(entry).definition), indent=1)
    meta = encode_meta(RunState(last_run_at=NOW - timedelta(days=1), total_run_count=3))
    redis_client.hset(key, mapping={DEF: foreign, META: meta})
    ops = [
        Put(
            entry,
            field_digest(foreign, None),
            rewrite_definition=False,
            last_run_at_hint=RunState(last_run_at=NOW - timedelta(days=1), total_run_count=3),
        )
    ]
    write(redis_client, LAYOUT, ops, now=NOW)
    assert redis_client.hget(key, DEF) == foreign
    assert redis_client.hget(key, META) == meta
    extra = redis_client.hget(key, EXTRA)
    ours = encode_entry(entry, managed=True)
    # the marker's record of "its" definition names the foreign text that was kept
    assert json.loads(extra) == {
        **json.loads(ours.extra),  # type: ignore[arg-type]
        "definition_sha1": hashlib.sha1(foreign.encode()).hexdigest(),
    }
    stored = redis_client.hgetall(key)
    decoded, marked = decode_entry("job-1", stored[DEF], stored[EXTRA])
    assert marked and decoded == entry
    assert redis_client.smembers(LAYOUT.inventory_key) == {"job-1"}
    # it had no schedule member: one is added (never late) so RedBeat sees it at all
    assert redis_client.zscore(LAYOUT.schedule_key, key) is not None
    redis_client.zadd(LAYOUT.schedule_key, {key: 999})
    write(redis_client, LAYOUT, [Put(entry, digest_of(redis_client, "job-1"))], now=NOW)
    assert redis_client.zscore(LAYOUT.schedule_key, key) == 999  # an existing one is kept


# --------------------------------------------------------------------------- scores


@pytest.mark.parametrize(
    "schedule",
    [Every(60.0), Every(3600.0), Every(86400.0), Cron("*/5"), Cron("0", "3"), Cron("15", "*/2")],
    ids=str,
)
@pytest.mark.parametrize("hint_age_min", [0, 7, 180, None])
def test_reschedule_score_never_later_than_true_next_due(
    redis_client: redis.Redis, schedule: object, hint_age_min: int | None
) -> None:
    entry = job(1)
    write(redis_client, LAYOUT, [Put(entry, None)], now=NOW - timedelta(days=2))
    key = LAYOUT.entry_key("job-1")
    # beat ran after the plan was made: Redis' last_run_at is newer than the hint
    actual_last = NOW - timedelta(minutes=3)
    redis_client.hset(key, META, encode_meta(RunState(last_run_at=actual_last, total_run_count=9)))
    hint_at = None if hint_age_min is None else actual_last - timedelta(minutes=hint_age_min)
    new = job(1, schedule=schedule)
    op = Put(
        new,
        digest_of(redis_client, "job-1"),
        reschedule=True,
        last_run_at_hint=RunState(last_run_at=hint_at),
    )
    write(redis_client, LAYOUT, [op], now=NOW)
    stored = redis_client.zscore(LAYOUT.schedule_key, key)
    true_due = timing.next_due(new, actual_last, NOW)
    assert true_due is not None
    # any score at or before now means "look at it on the next tick": not late
    assert stored <= max(true_due, NOW).timestamp()
    assert stored == timing.score(timing.next_due(new, hint_at, NOW))


@pytest.mark.parametrize("zone", ["UTC", "Europe/Paris", "America/New_York"])
def test_cron_score_cache_is_exact(zone: str) -> None:
    from redbeat_sync.state.writer import _ScoreCache

    rng = random.Random(zone)
    crons = [Cron("*/7"), Cron("30", "2"), Cron("0", "*/3", "*", "*", "1-5"), Cron("59", "23")]
    # around the 2026 spring-forward and fall-back transitions and a quiet day
    days = [(3, 8), (3, 29), (10, 25), (11, 1), (6, 1)]
    bases = [datetime(2026, month, day, tzinfo=timezone.utc) for month, day in days]
    for cron in crons:
        entry = job(1, schedule=cron, timezone=zone)
        cache = _ScoreCache(NOW)
        for _ in range(60):
            last = rng.choice(bases) + timedelta(seconds=rng.randrange(3 * 86400), microseconds=7)
            exact = timing.score(timing.next_due(entry, last, NOW))
            assert cache.score(entry, last) == exact, (cron, zone, last)


def test_exhausted_schedule_scores_minus_one(redis_client: redis.Redis) -> None:
    past = NOW - timedelta(days=1)
    entry = job(1, schedule=Cron("0", "3"), end_at=past)
    write(redis_client, LAYOUT, [Put(entry, None)], now=NOW)
    assert redis_client.zscore(LAYOUT.schedule_key, LAYOUT.entry_key("job-1")) == -1


# --------------------------------------------------------------------------- peer


def test_celery_redbeat_loads_what_we_wrote(redis_url: str, redis_client: redis.Redis) -> None:
    from celery import Celery
    from celery.schedules import crontab, schedule
    from redbeat.schedulers import RedBeatSchedulerEntry

    app = Celery("writer-test", set_as_current=False)
    app.conf.update(redbeat_redis_url=redis_url, redbeat_key_prefix=LAYOUT.prefix, timezone="UTC")
    every = job(1, kwargs={"x": [1, "y"]}, options={"queue": "q1"})
    cron = job(2, schedule=Cron("*/15", "9-17"), enabled=False)
    write(redis_client, LAYOUT, [Put(every, None), Put(cron, None)], now=NOW)

    loaded = RedBeatSchedulerEntry.from_key(LAYOUT.entry_key("job-1"), app=app)
    assert loaded.name == "job-1" and loaded.task == "tasks.ping"
    assert list(loaded.args) == [1] and loaded.kwargs == {"x": [1, "y"]}
    assert loaded.options == {"queue": "q1"}
    assert isinstance(loaded.schedule, schedule)
    assert loaded.schedule.run_every == timedelta(seconds=60)
    assert loaded.last_run_at == NOW and loaded.enabled is True
    # RedBeat's own due time from what we stored equals the score we wrote
    assert loaded.last_run_at + loaded.schedule.run_every == NOW + timedelta(seconds=60)
    assert redis_client.zscore(LAYOUT.schedule_key, loaded.key) == int(NOW.timestamp()) + 60

    loaded_cron = RedBeatSchedulerEntry.from_key(LAYOUT.entry_key("job-2"), app=app)
    assert isinstance(loaded_cron.schedule, crontab)
    assert loaded_cron.schedule.minute == set(range(0, 60, 15))
    assert loaded_cron.schedule.hour == set(range(9, 18))
    assert loaded_cron.enabled is False


def test_created_entry_is_not_due_at_once_for_celery_redbeat(
    redis_url: str, redis_client: redis.Redis
) -> None:
    from celery import Celery
    from redbeat.schedulers import RedBeatSchedulerEntry

    app = Celery("writer-test-due", set_as_current=False)
    app.conf.update(redbeat_redis_url=redis_url, redbeat_key_prefix=LAYOUT.prefix)
    write(redis_client, LAYOUT, [Put(job(1, schedule=Every(300.0)), None)])  # real now
    loaded = RedBeatSchedulerEntry.from_key(LAYOUT.entry_key("job-1"), app=app)
    due, next_check = loaded.is_due()
    assert due is False and 290 < next_check <= 300
    # due exactly one interval after the save (RedBeat's own score drifts early: #307)
    score = redis_client.zscore(LAYOUT.schedule_key, loaded.key)
    assert score == int((loaded.last_run_at + timedelta(seconds=300)).timestamp())


# --------------------------------------------------------------------------- batches


def test_ten_thousand_op_batch_is_atomic(
    redis_client: redis.Redis, raw_client: redis.Redis
) -> None:
    redis_client.hset(LAYOUT.entry_key("job-9999"), DEF, "taken")
    before = snapshot(raw_client)
    ops = [Put(job(i), None) for i in range(10_000)]
    with pytest.raises(StateChanged) as caught:
        write(redis_client, LAYOUT, ops, now=NOW)
    assert caught.value.names == ["job-9999"]
    assert snapshot(raw_client) == before

    redis_client.delete(LAYOUT.entry_key("job-9999"))
    report = write(redis_client, LAYOUT, ops, now=NOW)
    # One script call for the whole batch (its speed is measured in bench/, not here).
    assert report == WriteReport(created=10_000, batches=1)
    assert redis_client.zcard(LAYOUT.schedule_key) == 10_000
    assert redis_client.scard(LAYOUT.inventory_key) == 10_000


def test_later_batch_failure_reports_partial_apply_and_rerun_converges(
    redis_client: redis.Redis,
) -> None:
    redis_client.hset(LAYOUT.entry_key("job-150"), DEF, "taken")
    ops = [Put(job(i), None) for i in range(250)]
    with pytest.raises(PartialApply) as caught:
        write(redis_client, LAYOUT, ops, now=NOW, batch_size=100)
    err = caught.value
    assert (err.applied_batches, err.total_batches, err.applied_ops) == (1, 3, 100)
    assert err.report == WriteReport(created=100, batches=1)
    assert err.names == ["job-150"]
    assert "1 of 3 batches (100 of 250 operations)" in str(err)
    assert "changed in Redis since the plan: job-150" in str(err)
    assert "nothing was written" not in str(err)
    assert redis_client.scard(LAYOUT.inventory_key) == 100
    assert not redis_client.exists(LAYOUT.entry_key("job-100"))  # batch 2 wrote nothing

    # what a fresh plan would do: create what is missing, take over job-150
    redis_client.delete(LAYOUT.entry_key("job-150"))
    existing = {n for n in redis_client.smembers(LAYOUT.inventory_key)}
    rest = [op for op in ops if op.entry.name not in existing]
    assert len(rest) == 150
    report = write(redis_client, LAYOUT, rest, now=NOW, batch_size=100)
    assert report.created == 150
    assert redis_client.scard(LAYOUT.inventory_key) == 250
    assert redis_client.zcard(LAYOUT.schedule_key) == 250


def test_connection_lost_between_batches_is_partial_apply() -> None:
    from devsupport.devserver import RedisServer

    server = RedisServer().start()
    client = redis.Redis.from_url(server.url, decode_responses=True)
    batches_started = 0

    def crash_before_third() -> None:
        nonlocal batches_started
        batches_started += 1
        if batches_started == 3:
            server.kill()

    try:
        ops = [Put(job(i), None) for i in range(30)]
        with pytest.raises(PartialApply, match="may or may not have been written") as caught:
            write(client, LAYOUT, ops, now=NOW, batch_size=10, before_batch=crash_before_third)
        assert (caught.value.applied_batches, caught.value.total_batches) == (2, 3)
        assert caught.value.report.created == 20
    finally:
        client.close()
        server.stop()


def test_lost_lock_between_batches_stops_with_partial_apply(redis_client: redis.Redis) -> None:
    from redbeat_sync.errors import UserError

    calls = 0

    def refresh() -> None:
        nonlocal calls
        calls += 1
        if calls == 3:
            raise UserError("lost the sync lock")

    ops = [Put(job(i), None) for i in range(30)]
    with pytest.raises(PartialApply, match="lost the sync lock") as caught:
        write(redis_client, LAYOUT, ops, now=NOW, batch_size=10, before_batch=refresh)
    assert caught.value.applied_ops == 20
    assert redis_client.scard(LAYOUT.inventory_key) == 20


def test_unencodable_entry_in_first_batch_writes_nothing(
    redis_client: redis.Redis, raw_client: redis.Redis
) -> None:
    before = snapshot(raw_client)
    ops = [Put(job(i), None) for i in range(5)]
    ops.append(Put(job("bad", kwargs={"x": object()}), None))
    with pytest.raises(TypeError):
        write(redis_client, LAYOUT, ops, now=NOW)
    assert snapshot(raw_client) == before


def test_unencodable_entry_in_later_batch_is_partial_apply(redis_client: redis.Redis) -> None:
    ops = [Put(job(i), None) for i in range(25)]
    ops[22] = Put(job("bad", kwargs={"x": object()}), None)
    with pytest.raises(PartialApply, match="could not encode") as caught:
        write(redis_client, LAYOUT, ops, now=NOW, batch_size=10)
    assert (caught.value.applied_batches, caught.value.applied_ops) == (2, 20)
    assert redis_client.scard(LAYOUT.inventory_key) == 20


def test_duplicate_names_rejected(redis_client: redis.Redis) -> None:
    with pytest.raises(ValueError, match="job-1"):
        write(redis_client, LAYOUT, [Put(job(1), None), Remove("job-1", None)])


def test_redis_cluster_single_slot_with_hash_tagged_prefix() -> None:
    from redis.cluster import RedisCluster

    # A one-node cluster still enforces the one-slot rule for every command and script.
    from redis_topologies import CLUSTER_VERSION, redis_server_for

    from devsupport.devserver import RedisServer
    from redbeat_sync.errors import UserError

    binary = redis_server_for(min_version=CLUSTER_VERSION)  # ADDSLOTSRANGE below
    server = RedisServer(extra_args=["--cluster-enabled", "yes"], binary=binary).start()
    try:
        node = redis.Redis.from_url(server.url)
        node.execute_command("CLUSTER", "ADDSLOTSRANGE", 0, 16383)
        deadline = time.monotonic() + 10
        while node.cluster("info")["cluster_state"] != "ok":
            assert time.monotonic() < deadline, "cluster did not come up"
            time.sleep(0.05)
        cluster = RedisCluster(host="127.0.0.1", port=server.port, decode_responses=True)
        ops = [Put(job(i), None) for i in range(50)]
        report = write(cluster, LAYOUT, ops, now=NOW, batch_size=20)
        assert report == WriteReport(created=50, batches=3)
        assert cluster.zcard(LAYOUT.schedule_key) == 50
        # The message topology.check_cluster_prefix gives the CLI and beat too.
        with pytest.raises(UserError, match="several Redis Cluster hash slots"):
            write(cluster, Layout("redbeat:"), ops, now=NOW)
        cluster.close()
        node.close()
    finally:
        server.stop()


# --------------------------------------------------------------------------- notify


def test_publish_reaches_subscriber(redis_client: redis.Redis) -> None:
    pubsub = redis_client.pubsub()
    pubsub.subscribe(LAYOUT.changes_channel)
    assert pubsub.get_message(timeout=2)["type"] == "subscribe"  # type: ignore[index]
    write(redis_client, LAYOUT, [Put(job(1), None), Put(job(2), None)], now=NOW)
    message = pubsub.get_message(timeout=2)
    assert message is not None and message["channel"] == LAYOUT.changes_channel
    assert json.loads(message["data"]) == {"count": 2, "names": ["job-1", "job-2"]}
    write(redis_client, LAYOUT, [Put(job(i), None) for i in range(3, 203)], now=NOW)
    message = pubsub.get_message(timeout=2)
    assert message is not None and json.loads(message["data"]) == {"count": 200}
    pubsub.close()


def test_nothing_to_do_is_silent(redis_client: redis.Redis) -> None:
    assert write(redis_client, LAYOUT, []) == WriteReport()
    assert redis_client.dbsize() == 0

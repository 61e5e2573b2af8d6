"""The fast paths (PERF) give exactly what the plain paths give.

- ``codec.encode_entry`` assembles the definition text from a memoised schedule: it
  must be byte-identical to ``json.dumps`` of the definition dict (the plan's fast
  no-op check compares stored text with it).
- ``read_state`` decodes on first use: what it gives must equal an eager decode
  (reader_oracles).
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from redbeat_sync.schedule.entry import At, Cron, Entry, Every, RRule
from redbeat_sync.state import codec
from redbeat_sync.state.codec import encode_entry

UTC = timezone.utc
ZONES = ["UTC", "Europe/Paris", "America/New_York", "Asia/Kolkata"]

aware_datetimes = st.builds(
    lambda naive, tz: naive.replace(tzinfo=tz),
    st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1)),
    st.sampled_from(
        [UTC, ZoneInfo("Europe/Paris"), timezone(timedelta(hours=5, minutes=30)), None]
    ),
)
schedules = st.one_of(
    st.builds(Every, st.floats(0.001, 1e7) | st.integers(1, 10**6), st.booleans()),
    st.sampled_from(["*/5 * * * *", "0 9 * * mon-fri", "30 2 1,15 * *"]).map(Cron.from_expression),
    st.builds(
        RRule,
        freq=st.sampled_from(["yearly", "monthly", "daily", "hourly"]),
        interval=st.integers(1, 5),
        dtstart=st.none() | aware_datetimes,
        until=st.none() | aware_datetimes,
        count=st.none() | st.integers(1, 50),
        byhour=st.none() | st.just((9, 17)),
    ),
    st.builds(At, aware_datetimes),
)
keys = st.text(max_size=4) | st.integers(-3, 3) | st.booleans() | st.none()
values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=6),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.tuples(inner, inner)
        | st.dictionaries(keys, inner, max_size=3)
        | aware_datetimes
    ),
    max_leaves=8,
)
entries = st.builds(
    Entry,
    name=st.text(min_size=1, max_size=8),
    task=st.text(min_size=1, max_size=8),
    schedule=schedules,
    args=st.lists(values, max_size=3) | st.tuples(values),
    kwargs=st.dictionaries(st.text(max_size=5), values, max_size=3),
    options=st.dictionaries(st.sampled_from(["queue", "expires", "x\x00schedule\x00"]), values),
    enabled=st.booleans(),
    timezone=st.sampled_from(ZONES),
    description=st.none() | st.text(max_size=10),
    start_at=st.none() | aware_datetimes,
)


def reference_definition(entry: Entry, beat_timezone: str) -> str:
    """The definition text as json.dumps of the whole dict (the format on disk)."""
    inert = bool(codec.scheduler_only_features(entry, beat_timezone))
    return json.dumps(
        {
            "name": entry.name,
            "task": entry.task,
            "args": codec.encode_value(list(entry.args)),
            "kwargs": codec.encode_value(dict(entry.kwargs)),
            "options": codec.encode_value(dict(entry.options)),
            "schedule": codec.encode_schedule(entry.schedule, entry.timezone),
            "enabled": entry.enabled and not inert,
        }
    )


@settings(max_examples=300, deadline=None)
@given(entry=entries, beat_timezone=st.sampled_from(ZONES), managed=st.booleans())
def test_encoded_definition_is_byte_identical_to_json_dumps(
    entry: Entry, beat_timezone: str, managed: bool
):
    encoded = encode_entry(entry, beat_timezone=beat_timezone, managed=managed)
    assert encoded.definition == reference_definition(entry, beat_timezone)
    if encoded.extra is not None:
        assert encoded.extra == json.dumps(json.loads(encoded.extra), sort_keys=True)


def test_equal_rrules_in_other_zones_keep_their_own_offsets():
    # Equal instants compare (and hash) equal: the schedule memo must not mix them.
    paris = datetime(2026, 1, 1, 10, tzinfo=ZoneInfo("Europe/Paris"))
    fixed = paris.astimezone(timezone(timedelta(hours=5)))
    assert paris == fixed
    for start in (paris, fixed, paris, fixed):
        entry = Entry(name="r", task="t", schedule=RRule("daily", dtstart=start))
        assert encode_entry(entry).definition == reference_definition(entry, "UTC")


# --------------------------------------------------------------------------- the state fingerprint


def _varied_store(client, layout) -> None:
    """Managed, unmanaged, undecodable, wrong-type, inventory-only and odd members."""
    import random

    rng = random.Random(7)
    for i in range(300):
        entry = Entry(
            name=f"e{i}",
            task="t",
            schedule=Every(float(rng.choice([30, 60, 90]))),
            args=[i],
            description=rng.choice([None, "d"]),
        )
        managed = rng.random() < 0.7
        encoded = encode_entry(entry, managed=managed)
        key = layout.entry_key(entry.name)
        client.hset(key, "definition", encoded.definition)
        if encoded.extra is not None:
            client.hset(key, "redbeat_sync", encoded.extra)
        if rng.random() < 0.5:
            client.hset(key, "meta", '{"last_run_at": null, "total_run_count": 3}')
        client.zadd(layout.schedule_key, {key: rng.randint(0, 10**9)})
        if managed:
            client.sadd(layout.inventory_key, entry.name)
    client.hset(layout.entry_key("e3"), "definition", "{not json")  # undecodable
    client.hset(layout.entry_key("e4"), "redbeat_sync", '{"v": 99}')  # bad extra
    client.hdel(layout.entry_key("e5"), "definition")  # hash without definition
    client.delete(layout.entry_key("e6"))  # member whose key is gone
    client.set(layout.entry_key("wrong"), "x")  # not a hash
    client.zadd(layout.schedule_key, {layout.entry_key("wrong"): 1, "other:member": 2})
    client.sadd(layout.inventory_key, "only-in-inventory", "e6")


def test_the_fingerprint_covers_defining_fields_and_inventory_only(redis_client):
    from redbeat_sync.state.layout import Layout
    from redbeat_sync.state.reader import read_state

    layout = Layout("fp:")

    def fingerprint() -> str:
        return read_state(redis_client, layout).fingerprint

    empty = fingerprint()
    _varied_store(redis_client, layout)
    state = read_state(redis_client, layout)
    assert state.entries["e3"].entry is None and "wrong" in state.entries
    assert state.fingerprint != empty
    for chunk_size in (7, 2000):
        again = read_state(redis_client, layout, chunk_size=chunk_size)
        assert (again.fingerprint, again.inventory) == (state.fingerprint, state.inventory)
    # Any change of a defining field, or of the inventory, changes it.
    for change in (
        lambda: redis_client.hset(layout.entry_key("e10"), "definition", "{}"),
        lambda: redis_client.hset(layout.entry_key("e11"), "redbeat_sync", "{}"),
        lambda: redis_client.srem(layout.inventory_key, "only-in-inventory"),
        lambda: redis_client.delete(layout.entry_key("e12")),
    ):
        before = fingerprint()
        change()
        assert fingerprint() != before
    # Run history and scores are not part of it.
    before = fingerprint()
    redis_client.hset(layout.entry_key("e20"), "meta", '{"total_run_count": 9}')
    redis_client.zadd(layout.schedule_key, {layout.entry_key("e21"): 5})
    assert fingerprint() == before


# --------------------------------------------------------------------------- plan_digest


def test_plan_digest_names_the_plan():
    from redbeat_sync.apply import plan_digest
    from redbeat_sync.plan.actions import Action, Plan

    def plan(*actions: Action, fingerprint: str = "fp") -> Plan:
        return Plan(list(actions), fingerprint, [], "redbeat:", datetime(2026, 1, 1, tzinfo=UTC))

    a = Entry(name="a", task="t", schedule=Every(60.0), args=[1])
    create = Action("create", "a", a, None)
    base = plan_digest(plan(create))
    assert base.startswith("sha256:") and base == plan_digest(plan(create))
    different = [
        plan(
            Action("create", "a", Entry(name="a", task="t", schedule=Every(60.0), args=[1.0]), None)
        ),
        plan(Action("update", "a", a, None)),
        plan(create, fingerprint="other"),
        plan(create, Action("noop", "b", a, None)),
    ]
    assert len({base, *(plan_digest(p) for p in different)}) == 1 + len(different)


# --------------------------------------------------------------------------- plan fast path


def _random_entry(rng, i: int, version: int = 0) -> Entry:
    zone = rng.choice(["UTC", "UTC", "Europe/Paris"])
    schedule = rng.choice(
        [
            Every(float(rng.choice([30, 60, 3600]))),
            Cron.from_expression(rng.choice(["0 3 * * *", "*/15 * * * *", "30 9 * * mon-fri"])),
            RRule("daily", dtstart=datetime(2026, 1, 1, 9, tzinfo=UTC), byhour=(9, 17)),
            At(datetime(2030, 1, 1, tzinfo=UTC)),
        ]
    )
    return Entry(
        name=f"job-{i}",
        task=f"app.tasks.t{i % 3}",
        schedule=schedule,
        args=[i, version],
        kwargs={"tenant": i // 10, "when": datetime(2026, 1, 2, tzinfo=UTC)} if i % 5 == 0 else {},
        options={"queue": rng.choice(["a", "b"])},
        enabled=rng.random() < 0.9,
        timezone=zone,
        description=rng.choice([None, "nightly"]),
        labels={"team": "x"} if i % 4 == 0 else {},
        jitter=rng.choice([0.0, 5.0]),
    )


def _comparable(plan) -> list[tuple]:
    return [
        (
            a.kind,
            a.name,
            [(c.path, repr(c.old), repr(c.new)) for c in a.changes],
            a.next_runs,
            list(a.requires_scheduler),
            list(a.warnings),
            a.expect_digest,
        )
        for a in plan.actions
    ]


def test_fast_noop_path_gives_the_slow_paths_plan_and_hides_no_hand_edit(
    redis_client, redis_url, monkeypatch
):
    import random

    from celery import Celery
    from celery.schedules import schedule as celery_schedule
    from redbeat.schedulers import RedBeatSchedulerEntry

    from redbeat_sync.apply import apply_plan
    from redbeat_sync.fileformat.loader import Spec, SpecEntry
    from redbeat_sync.plan import compare
    from redbeat_sync.plan.compare import compute_plan
    from redbeat_sync.state.layout import Layout
    from redbeat_sync.state.reader import read_state

    layout = Layout("fast:")
    rng = random.Random(11)
    now = datetime(2026, 11, 24, 22, 0, tzinfo=UTC)

    def spec(entries: list[Entry]) -> Spec:
        return Spec([SpecEntry(e, "s.yaml", i + 1, 1) for i, e in enumerate(entries)], ["s.yaml"])

    def plans(entries: list[Entry]):
        fast = compute_plan(
            spec(entries), read_state(redis_client, layout), now=now, prefix="fast:"
        )
        with monkeypatch.context() as patched:
            patched.setattr(compare, "stored_as_written", lambda *_: False)
            slow = compute_plan(
                spec(entries), read_state(redis_client, layout), now=now, prefix="fast:"
            )
        return fast, slow

    entries = [_random_entry(rng, i) for i in range(120)]
    first, _ = plans(entries)
    apply_plan(redis_client, layout, first, lock_timeout=5)
    fast, slow = plans(entries)
    assert fast.summary()["noop"] == len(entries)
    assert _comparable(fast) == _comparable(slow)

    app = Celery("fast", set_as_current=False)
    app.conf.update(
        redbeat_redis_url=redis_url,
        redbeat_key_prefix=layout.prefix,
        redbeat_lock_key=None,
        timezone="UTC",
        broker_url="memory://",
    )
    edited: set[str] = set()
    for i in rng.sample(range(120), 40):
        name, key = f"job-{i}", layout.entry_key(f"job-{i}")
        how = i % 5
        if how == 0:  # re-saved through celery-redbeat, same task and args
            e = entries[i]
            RedBeatSchedulerEntry(
                name,
                e.task,
                celery_schedule(60),
                args=list(e.args),
                kwargs={},
                options={},
                app=app,
            ).save()
            edited.add(name)
        elif how == 1:  # definition rewritten by hand (args changed)
            definition = json.loads(redis_client.hget(key, "definition"))
            definition["args"] = [i, 99]
            redis_client.hset(key, "definition", json.dumps(definition))
            edited.add(name)
        elif how == 2:  # extra field tampered (description)
            extra = json.loads(redis_client.hget(key, "redbeat_sync"))
            extra["description"] = "edited by hand"
            redis_client.hset(key, "redbeat_sync", json.dumps(extra, sort_keys=True))
            edited.add(name)
        elif how == 3:  # same content, different text (spacing): no change at all
            extra = json.loads(redis_client.hget(key, "redbeat_sync"))
            redis_client.hset(key, "redbeat_sync", json.dumps(extra, separators=(",", ":")))
        else:  # the files change
            entries[i] = _random_entry(random.Random(i), i, version=1)
    fast, slow = plans(entries)
    assert _comparable(fast) == _comparable(slow)
    changed = {a.name for a in fast.actions if a.kind != "noop"}
    assert edited <= changed  # a hand edit is never hidden
    assert 20 <= len(changed) < 120


STORED_FIELDS = (
    "name",
    "key",
    "entry",
    "run",
    "managed",
    "marked",
    "score",
    "definition_raw",
    "extra_raw",
    "error",
    "requires_scheduler",
)


def test_stored_entries_decode_on_first_use_as_the_eager_builder(redis_client):
    from reader_oracles import build_stored_entry

    from redbeat_sync.state.layout import Layout
    from redbeat_sync.state.reader import read_state

    layout = Layout("lazy:")
    _varied_store(redis_client, layout)
    redis_client.hset(layout.entry_key("e8"), "meta", "{bad meta")
    redis_client.hset(layout.entry_key("e9"), "meta", '{"total_run_count": "x"}')
    state = read_state(redis_client, layout, beat_timezone="Europe/Paris")
    lazy = [e for e in state.entries.values() if e.definition_raw is not None]
    assert len(lazy) > 250
    for stored in lazy:
        fields = redis_client.hmget(stored.key, "definition", "meta", "redbeat_sync")
        eager = build_stored_entry(
            layout,
            stored.name,
            fields,
            score=stored.score,
            managed=stored.managed,
            beat_timezone="Europe/Paris",
        )
        for field in STORED_FIELDS:  # each decoded on first access
            assert getattr(stored, field) == getattr(eager, field), field
        assert stored.digest == eager.digest and stored == eager
    assert state.entries["e8"].error and state.entries["e3"].entry is None


def test_an_encoder_encodes_each_entry_once_as_encode_entry():
    from dataclasses import replace

    from redbeat_sync.state.codec import EntryEncoder

    entry = Entry(name="m", task="t", schedule=Cron.from_expression("0 9 * * *"))
    encoder = EntryEncoder(beat_timezone="UTC")
    first = encoder.encode(entry)
    assert first == encode_entry(entry, beat_timezone="UTC")
    assert encoder.encode(entry) is first  # kept
    paris = EntryEncoder(beat_timezone="Europe/Paris").encode(entry)
    assert paris == encode_entry(entry, beat_timezone="Europe/Paris") != first
    assert paris.requires_scheduler  # another zone: its own encoding
    unmanaged = EntryEncoder(beat_timezone="UTC", managed=False).encode(entry)
    assert unmanaged == encode_entry(entry, beat_timezone="UTC", managed=False) != first
    equal = replace(entry)  # an equal entry, another object: encoded alike
    assert encoder.encode(equal) == first
    changed = replace(entry, task="other")  # a new entry: nothing carried over
    assert '"task": "other"' in encoder.encode(changed).definition

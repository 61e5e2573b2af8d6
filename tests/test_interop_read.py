"""Two-way compatibility with celery-redbeat 2.4 as a real peer.

1. What celery-redbeat's own ``RedBeatSchedulerEntry.save()`` writes, read_state
   reads back into the expected canonical Entry.
2. What we encode, celery-redbeat's ``from_key`` (and its scheduler's selection)
   loads without error; inert entries are never due for it.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
import redis
from celery import Celery
from celery.schedules import crontab, schedule
from dateutil.rrule import FR, MO
from redbeat.schedulers import RedBeatScheduler, RedBeatSchedulerEntry
from redbeat.schedules import rrule

from redbeat_sync.schedule import timing
from redbeat_sync.schedule.entry import At, Cron, Entry, Every, RRule, RunState
from redbeat_sync.state import codec
from redbeat_sync.state.layout import Layout
from redbeat_sync.state.reader import read_state

UTC = timezone.utc
PARIS = ZoneInfo("Europe/Paris")
IST = timezone(timedelta(hours=5, minutes=30))
PREFIX = "interop:"


@pytest.fixture
def app(redis_url: str) -> Iterator[Celery]:
    """A fresh app per test: celery-redbeat caches its client on the app."""
    celery_app = Celery("interop", set_as_current=False)
    celery_app.conf.update(
        redbeat_redis_url=redis_url,
        redbeat_key_prefix=PREFIX,
        redbeat_lock_key=None,
        timezone="UTC",
        beat_schedule={},
        broker_url="memory://",
    )
    yield celery_app
    client = getattr(celery_app, "redbeat_redis", None)
    if client is not None:
        client.close()


def save(app: Celery, name: str, sched, **kwargs) -> RedBeatSchedulerEntry:
    kwargs.setdefault("task", "app.tasks.work")
    return RedBeatSchedulerEntry(name, schedule=sched, app=app, **kwargs).save()


def read(client: redis.Redis, name: str):
    state = read_state(client, Layout(PREFIX))
    stored = state.entries[name]
    assert stored.error is None, stored.error
    assert not stored.marked and not stored.managed
    return stored


# --------------------------------------------------------------------------- RedBeat -> us


def test_interval_and_relative_interval(app: Celery, redis_client: redis.Redis):
    save(app, "every", schedule(timedelta(seconds=30)), args=[1, 2], kwargs={"k": "v"})
    save(app, "relative", schedule(timedelta(minutes=5), relative=True))
    every = read(redis_client, "every")
    assert every.entry == Entry(
        name="every", task="app.tasks.work", schedule=Every(30.0), args=[1, 2], kwargs={"k": "v"}
    )
    assert read(redis_client, "relative").entry.schedule == Every(300.0, relative=True)
    assert every.run.last_run_at is not None and every.run.total_run_count == 0
    assert every.score == redis_client.zscore(PREFIX + ":schedule", PREFIX + "every")


def test_crontab_ints_strings_and_names(app: Celery, redis_client: redis.Redis):
    save(app, "ints", crontab(minute=0, hour=9, day_of_month=1))
    save(app, "names", crontab(minute="*/15", hour="8-18", day_of_week="mon-fri"))
    save(app, "months", crontab(minute="30", hour="4", month_of_year="jan,jul"))
    assert read(redis_client, "ints").entry.schedule == Cron("0", "9", "1", "*", "*")
    assert read(redis_client, "names").entry.schedule == Cron("*/15", "8-18", "*", "*", "mon-fri")
    assert read(redis_client, "months").entry.schedule == Cron("30", "4", "*", "jan,jul", "*")
    assert read(redis_client, "names").entry.timezone == "UTC"


def test_rrule_with_weekday_objects_and_fixed_offset(app: Celery, redis_client: redis.Redis):
    dtstart = datetime(2025, 1, 6, 9, 30, tzinfo=IST)
    until = datetime(2025, 12, 31, 18, tzinfo=IST)
    save(app, "rrule", rrule("WEEKLY", dtstart=dtstart, until=until, byweekday=[MO, FR], byhour=9))
    save(app, "counted", rrule("DAILY", dtstart=dtstart, count=4, interval=2))
    stored = read(redis_client, "rrule").entry.schedule
    assert stored == RRule("weekly", dtstart=dtstart, until=until, byweekday=(0, 4), byhour=(9,))
    assert stored.dtstart.utcoffset() == timedelta(hours=5, minutes=30)
    counted = read(redis_client, "counted").entry.schedule
    assert counted == RRule("daily", dtstart=dtstart, count=4, interval=2)


def test_options_datetimes_naive_zoneinfo_and_offset(app: Celery, redis_client: redis.Redis):
    options = {
        "queue": "low",
        "naive": datetime(2025, 7, 1, 12),
        "zoned": datetime(2025, 7, 1, 12, tzinfo=PARIS),
        "expires": datetime(2025, 7, 1, 12, tzinfo=IST),
    }
    save(app, "opts", schedule(timedelta(hours=1)), options=options)
    got = read(redis_client, "opts").entry.options
    assert got["queue"] == "low"
    assert got["naive"] == datetime(2025, 7, 1, 12, tzinfo=UTC)
    assert got["zoned"] == options["zoned"] and got["zoned"].tzinfo == PARIS
    assert got["expires"] == options["expires"]
    assert got["expires"].utcoffset() == timedelta(hours=5, minutes=30)


def test_disabled_and_meta_deleted(app: Celery, redis_client: redis.Redis):
    save(app, "off", schedule(timedelta(seconds=10)), enabled=False)
    save(app, "fresh", crontab(minute=0))
    redis_client.hdel(PREFIX + "fresh", "meta")
    assert read(redis_client, "off").entry.enabled is False
    fresh = read(redis_client, "fresh")
    assert fresh.run == RunState(None, 0)
    assert fresh.entry.schedule == Cron("0", "*", "*", "*", "*")


def test_beat_timezone_becomes_the_entry_zone(app: Celery, redis_client: redis.Redis):
    save(app, "c", crontab(minute=0, hour=9))
    state = read_state(redis_client, Layout(PREFIX), beat_timezone="Europe/Paris")
    stored = state.entries["c"]
    assert stored.entry.timezone == "Europe/Paris"
    assert stored.requires_scheduler == ()


# --------------------------------------------------------------------------- us -> RedBeat


OURS = [
    Entry(name="every", task="t.a", schedule=Every(60.0), args=[1], kwargs={"x": 1}),
    Entry(name="relative", task="t.a", schedule=Every(3600.0, relative=True)),
    Entry(name="cron", task="t.a", schedule=Cron("*/5", "8-18", "*", "*", "mon-fri")),
    Entry(
        name="rrule",
        task="t.a",
        schedule=RRule(
            "weekly",
            dtstart=datetime(2025, 1, 6, 9, tzinfo=UTC),
            until=datetime(2027, 1, 1, tzinfo=UTC),
            byweekday=(0, 4),
            byhour=(9, 17),
        ),
    ),
    Entry(
        name="expires",
        task="t.a",
        schedule=Every(30.0),
        options={"expires": datetime(2030, 1, 1, tzinfo=PARIS), "queue": "q"},
        description="with an expiry",
        labels={"team": "ops"},
    ),
    Entry(name="disabled", task="t.a", schedule=Every(30.0), enabled=False),
]
INERT = [
    Entry(name="at", task="t.a", schedule=At(datetime.now(UTC) - timedelta(minutes=1))),
    Entry(
        name="paris",
        task="t.a",
        schedule=Cron.from_expression("* * * * *"),
        timezone="Europe/Paris",
    ),
    Entry(
        name="window",
        task="t.a",
        schedule=Every(1.0),
        start_at=datetime(2020, 1, 1, tzinfo=UTC),
        end_at=datetime(2040, 1, 1, tzinfo=UTC),
    ),
]


def write(client: redis.Redis, entries: list[Entry], last_run_at: datetime) -> None:
    """Minimal stand-in for the writer: the fields and score, as RedBeat lays them out."""
    layout = Layout(PREFIX)
    with client.pipeline() as pipe:
        for entry in entries:
            encoded = codec.encode_entry(entry)
            key = layout.entry_key(entry.name)
            pipe.hset(key, "definition", encoded.definition)
            if encoded.extra is not None:
                pipe.hset(key, "redbeat_sync", encoded.extra)
            pipe.hsetnx(key, "meta", codec.encode_meta(RunState(last_run_at, 3)))
            due = timing.next_due(entry, last_run_at, last_run_at)
            pipe.zadd(layout.schedule_key, {key: timing.score(due)})
        pipe.execute()


def test_our_entries_load_in_redbeat(app: Celery, redis_client: redis.Redis):
    now = datetime.now(UTC)
    write(redis_client, OURS, now - timedelta(hours=2))
    loaded = {e.name: RedBeatSchedulerEntry.from_key(PREFIX + e.name, app=app) for e in OURS}
    assert loaded["every"].schedule.run_every == timedelta(seconds=60)
    assert (loaded["every"].args, loaded["every"].kwargs) == ([1], {"x": 1})
    assert loaded["relative"].schedule.relative is True
    assert loaded["cron"].schedule == crontab("*/5", "8-18", "mon-fri")
    assert loaded["expires"].options == {
        "expires": datetime(2030, 1, 1, tzinfo=PARIS),
        "queue": "q",
    }
    assert loaded["every"].total_run_count == 3
    assert loaded["every"].is_due()[0] is True  # last run 2 h ago, every minute
    assert loaded["disabled"].is_due() == (False, 5.0)
    # RedBeat's rrule and ours agree on the next occurrences
    ours = next(e for e in OURS if e.name == "rrule")
    theirs = loaded["rrule"].schedule.rrule
    cursor = datetime(2025, 3, 1, tzinfo=UTC)
    for _ in range(6):
        expected = timing.next_fire_after(ours, cursor)
        assert theirs.after(cursor) == expected
        cursor = expected


def test_inert_entries_load_and_are_never_due_in_redbeat(app: Celery, redis_client: redis.Redis):
    write(redis_client, INERT, datetime.now(UTC) - timedelta(days=1))
    for entry in INERT:
        loaded = RedBeatSchedulerEntry.from_key(PREFIX + entry.name, app=app)
        assert loaded.enabled is False
        assert loaded.is_due() == (False, 5.0)
    # and read back as the real thing
    state = read_state(redis_client, Layout(PREFIX))
    for entry in INERT:
        stored = state.entries[entry.name]
        assert stored.entry == entry and stored.marked and stored.requires_scheduler


def test_redbeat_scheduler_selects_our_entries_without_error(
    app: Celery, redis_client: redis.Redis
):
    write(redis_client, OURS + INERT, datetime.now(UTC) - timedelta(days=1))
    scheduler = RedBeatScheduler(app=app, lock_key=None)
    try:
        selected = scheduler.schedule  # loads every due entry via from_key
    finally:
        scheduler.close()
    due_now = {e.name for e in OURS + INERT if e.name != "rrule"}  # rrule: next Mon/Fri
    assert due_now <= set(selected)
    assert all(not selected[e.name].is_due()[0] for e in INERT)


def test_redbeat_resave_keeps_our_definition_byte_for_byte(app: Celery, redis_client: redis.Redis):
    """RedBeat re-saving an entry it loaded must not break our sha1 link to the extra field."""
    write(redis_client, OURS + INERT, datetime.now(UTC) - timedelta(hours=1))
    before = {e.name: redis_client.hget(PREFIX + e.name, "definition") for e in OURS + INERT}
    for entry in OURS + INERT:
        RedBeatSchedulerEntry.from_key(PREFIX + entry.name, app=app).save()
    after = {e.name: redis_client.hget(PREFIX + e.name, "definition") for e in OURS + INERT}
    assert after == before
    state = read_state(redis_client, Layout(PREFIX))
    assert all(state.entries[e.name].entry == e for e in OURS + INERT)


def test_run_history_written_by_redbeat(app: Celery, redis_client: redis.Redis):
    entry = save(app, "ran", schedule(timedelta(minutes=1)))
    ran = next(entry)  # what RedBeat's beat does after dispatching
    next(ran)
    stored = read(redis_client, "ran")
    assert stored.run.total_run_count == 2
    assert abs(stored.run.last_run_at - datetime.now(UTC)) < timedelta(seconds=30)


def test_redbeat_rrule_fires_at_the_same_times_here(app: Celery, redis_client: redis.Redis):
    ist_start = datetime(2025, 1, 6, 9, 30, tzinfo=IST)
    theirs = rrule("DAILY", dtstart=ist_start, byhour=[9, 18], byminute=30)
    save(app, "ist", theirs)
    ours = read(redis_client, "ist").entry
    assert ours.timezone == "UTC"
    cursor = datetime(2025, 6, 1, tzinfo=UTC)
    for _ in range(4):
        expected = theirs.rrule.after(cursor)
        got = timing.next_fire_after(ours, cursor)
        assert got == expected
        cursor = expected


def test_our_zoned_rrule_keeps_its_local_hours_through_redbeat(
    app: Celery, redis_client: redis.Redis
):
    rule = RRule(
        "weekly", dtstart=datetime(2025, 1, 6, 9, tzinfo=PARIS), byweekday=(0,), byhour=(9,)
    )
    ours = Entry(name="paris-rule", task="t.a", schedule=rule, timezone="Europe/Paris")
    write(redis_client, [ours], datetime(2025, 1, 1, tzinfo=UTC))
    loaded = RedBeatSchedulerEntry.from_key(PREFIX + "paris-rule", app=app)
    winter_after = datetime(2025, 2, 1, tzinfo=UTC)
    assert loaded.schedule.rrule.after(winter_after) == timing.next_fire_after(ours, winter_after)
    back = read_state(redis_client, Layout(PREFIX)).entries["paris-rule"].entry
    summer_after = datetime(2025, 7, 1, tzinfo=UTC)
    assert local_hm(timing.next_fire_after(back, summer_after)) == "09:00+0200"


def local_hm(value: datetime) -> str:
    return value.strftime("%H:%M%z")

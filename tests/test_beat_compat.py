"""Two-way compatibility with celery-redbeat 2.4 (the real package, on real Redis).

- entries celery-redbeat wrote (its own ``save()``) run unchanged under our scheduler,
  and the run history we write back is read by celery-redbeat;
- entries with features only we honour (one-off, zoned cron, window) are loaded by
  celery-redbeat's own scheduler without crashing and are not fired by it;
- the entry API RedBeat users call works on ours (save/load/delete/score/rank...).
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
import redis
from beat_app import TASK, MakeScheduler, broker_url_for, make_app, queued
from celery.schedules import crontab, schedule
from redbeat import RedBeatScheduler as TheirScheduler
from redbeat import RedBeatSchedulerEntry as TheirEntry
from redbeat.schedules import rrule

from redbeat_sync import RedBeatSchedulerEntry, Scheduler, SchedulerEntry
from redbeat_sync.beat.scheduler import SLOT_HEADER
from redbeat_sync.schedule.entry import At, Cron, Entry, Every, RunState
from redbeat_sync.state.codec import decode_meta

UTC = timezone.utc


@pytest.fixture
def app(redis_url: str, broker: redis.Redis):  # type: ignore[no-untyped-def]
    return make_app(redis_url, broker_url_for(redis_url), result_expires=None)


@pytest.fixture
def beat(app, make_scheduler: MakeScheduler) -> Scheduler:  # type: ignore[no-untyped-def]
    return make_scheduler(app=app)


def test_redbeat_written_entries_run_unchanged(app, beat, broker, redis_client) -> None:
    now = datetime.now(UTC)
    long_ago = now - timedelta(days=2)
    for name, sched in (
        ("their-interval", schedule(timedelta(seconds=30))),
        ("their-crontab", crontab(minute="*")),
        ("their-rrule", rrule("MINUTELY", dtstart=long_ago)),
    ):
        entry = TheirEntry(name, TASK, sched, args=[name], app=app)
        entry.last_run_at = now - timedelta(minutes=5)
        entry.save()
    # RedBeat scores an entry from the time of its save(): on a loaded machine the saves
    # can end seconds after ``now``, so the pass looks at the time after them.
    now = datetime.now(UTC)
    beat.dispatch_once(now)
    tasks = sorted(m["argsrepr"] for m in queued(broker))
    assert tasks == ["['their-crontab']", "['their-interval']", "['their-rrule']"]
    # Our run history is celery-redbeat's format: it loads it back.
    loaded = TheirEntry.from_key("redbeat:their-interval", app=app)
    assert loaded.total_run_count == 1
    assert (
        loaded.last_run_at
        == decode_meta(redis_client.hget("redbeat:their-interval", "meta")).last_run_at
    )
    assert loaded.last_run_at <= now
    beat.dispatch_once(now + timedelta(seconds=1))
    assert len(queued(broker)) == 3  # nothing twice


def test_redbeat_scheduler_survives_our_extra_features(app, redis_url, redis_client, broker):
    now = datetime.now(UTC)
    extras = [
        Entry("one-off", TASK, At(now - timedelta(seconds=5)), args=["one-off"]),
        Entry("zoned", TASK, Cron("*"), args=["zoned"], timezone="Asia/Tokyo"),
        Entry("windowed", TASK, Every(1.0), args=["windowed"], start_at=now - timedelta(days=1)),
        Entry("jittery", TASK, Every(1.0), args=["jittery"], jitter=5.0, misfire="skip"),
    ]
    for entry in extras:
        SchedulerEntry.from_entry(entry, RunState(now - timedelta(hours=1)), app=app).save()
        redis_client.zadd("redbeat::schedule", {f"redbeat:{entry.name}": 0})  # force a read
    # celery-redbeat's scheduler in-process, with its own config (no lock: no beat_init).
    their_app = make_app(
        redis_url, broker_url_for(redis_url), redbeat_lock_key=None, result_expires=None
    )
    theirs = TheirScheduler(their_app, lazy=True)
    theirs.tick()  # must not raise
    sent = sorted(m["argsrepr"] for m in queued(broker))
    # The rest are inert for it; jitter/misfire are features it merely ignores.
    assert sent == ["['jittery']"]
    for name in ("one-off", "zoned", "windowed"):
        assert TheirEntry.from_key(f"redbeat:{name}", app=their_app).enabled is False


def test_entry_api_save_load_delete(app, redis_client) -> None:
    assert RedBeatSchedulerEntry is SchedulerEntry
    entry = SchedulerEntry(
        "api", TASK, schedule(timedelta(minutes=5)), args=[1], kwargs={"a": 2}, app=app
    )
    assert entry.key == SchedulerEntry.generate_key(app, "api") == "redbeat:api"
    entry.save()
    assert redis_client.zscore("redbeat::schedule", "redbeat:api") == entry.score
    loaded = SchedulerEntry.from_key("redbeat:api", app=app)
    assert (loaded.name, loaded.task, loaded.args, loaded.kwargs) == ("api", TASK, [1], {"a": 2})
    assert loaded.schedule.run_every == timedelta(minutes=5)
    assert loaded.rank == 0
    assert abs(loaded.due_at - (entry.last_run_at + timedelta(minutes=5))) < timedelta(seconds=1)
    assert loaded.is_due()[0] is False
    # RedBeat reads what we saved.
    theirs = TheirEntry.from_key("redbeat:api", app=app)
    assert theirs.schedule.run_every == timedelta(minutes=5)
    loaded.delete()
    assert not redis_client.exists("redbeat:api")
    assert redis_client.zscore("redbeat::schedule", "redbeat:api") is None
    with pytest.raises(KeyError):
        SchedulerEntry.from_key("redbeat:api", app=app)


def test_entry_api_reschedule_next_and_due(app, redis_client) -> None:
    entry = SchedulerEntry("r", TASK, schedule(timedelta(seconds=60)), app=app).save()
    long_ago = datetime.now(UTC) - timedelta(hours=1)
    entry.reschedule(long_ago)
    loaded = SchedulerEntry.from_key(entry.key, app=app)
    assert loaded.last_run_at == long_ago
    assert loaded.is_due()[0] is True
    assert abs(loaded.due_at - datetime.now(UTC)) < timedelta(seconds=2)  # overdue: now
    advanced = next(loaded)
    assert advanced.total_run_count == 1
    assert decode_meta(redis_client.hget(entry.key, "meta")).total_run_count == 1
    assert redis_client.zscore("redbeat::schedule", entry.key) == advanced.score


def test_entry_api_never_run_and_exhausted(app) -> None:
    once = SchedulerEntry.from_entry(
        Entry("at", TASK, At(datetime.now(UTC) - timedelta(minutes=1))),
        RunState(datetime.now(UTC)),
        app=app,
    )
    assert once.due_at is None and once.score == -1
    fresh = SchedulerEntry("fresh", TASK, schedule(timedelta(seconds=60)), app=app)
    fresh.last_run_at = None
    assert abs(fresh.due_at - datetime.now(UTC)) < timedelta(seconds=2)  # never run: now


def test_rrule_first_occurrence_scored_at_dtstart(app) -> None:
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=1)
    entry = SchedulerEntry("rr", TASK, rrule("HOURLY", dtstart=start), app=app)
    entry.last_run_at = None
    assert entry.score == int(start.timestamp())  # RedBeat #74 skipped this one


def test_slot_header_marks_the_run(app, beat, broker) -> None:
    now = datetime.now(UTC)
    SchedulerEntry.from_entry(
        Entry("h", TASK, Every(60.0)), RunState(now - timedelta(seconds=61)), app=app
    ).save()
    beat.dispatch_once(now)
    (message,) = queued(broker)
    assert message[SLOT_HEADER] == (now - timedelta(seconds=1)).isoformat()


def test_redbeat_entry_with_full_day_names_reads_and_runs(app, beat, broker, redis_url) -> None:
    """Celery reads ``day_of_week='monday'`` as ``mon`` and celery-redbeat stores it as
    given: show and export read it, and a tick on a Monday at 09:00 sends it."""
    from click.testing import CliRunner

    from redbeat_sync.cli import main

    # Ran last Monday 09:00; the next Monday 09:00 is in the future (celery-redbeat
    # scores an overdue entry at its save time, so a past one would be due later).
    now = datetime.now(UTC)
    today_nine = now.replace(hour=9, minute=0, second=0, microsecond=0)
    next_monday = today_nine + timedelta(days=-today_nine.weekday() % 7)
    if next_monday <= now:
        next_monday += timedelta(days=7)
    last_monday = next_monday - timedelta(days=7)
    entry = TheirEntry(
        "rb-monday", TASK, crontab(minute=0, hour=9, day_of_week="monday"), args=["m"], app=app
    )
    entry.last_run_at = last_monday
    entry.save()
    their_sunday = TheirEntry(
        "rb-sunday",
        TASK,
        crontab(minute=30, hour=9, day_of_week="SUNDAY", month_of_year="january,February"),
        app=app,
    )
    their_sunday.save()

    shown = CliRunner().invoke(main, ["show", "--redis-url", redis_url])
    assert shown.exit_code == 0, shown.output
    assert "unreadable" not in shown.output and "None" not in shown.output
    exported = CliRunner().invoke(main, ["export", "--redis-url", redis_url])
    assert exported.exit_code == 0, exported.output
    assert '{cron: "0 9 * * mon"}' in exported.output
    assert '{cron: "30 9 * jan,feb sun"}' in exported.output

    def mondays() -> list[str]:  # (rb-sunday may be due too, in January or February)
        return [m["argsrepr"] for m in queued(broker) if m["argsrepr"] == "['m']"]

    beat.dispatch_once(next_monday - timedelta(hours=1))
    assert mondays() == []
    beat.dispatch_once(next_monday + timedelta(seconds=1))
    assert mondays() == ["['m']"]


def test_show_marks_an_unreadable_entry(app, redis_url, redis_client) -> None:
    """ENABLED of an entry that cannot be read is unknown ('?'), not Python's None."""
    from click.testing import CliRunner

    from redbeat_sync.cli import main

    redis_client.hset("redbeat:broken", "definition", "{not json")
    redis_client.zadd("redbeat::schedule", {"redbeat:broken": 0})
    shown = CliRunner().invoke(main, ["show", "--redis-url", redis_url])
    assert shown.exit_code == 0, shown.output
    (row,) = [line for line in shown.output.splitlines() if line.startswith("broken")]
    assert "unreadable" in row and "None" not in row
    assert row.split()[1:2] == ["?"]  # TASK; ENABLED follows the schedule text
    assert " ? " in row.split("unreadable", 1)[1]


def test_beat_schedule_with_full_day_names_starts(make_scheduler: MakeScheduler) -> None:
    """A ``beat_schedule`` crontab Celery accepts (``'tuesday,thursday'``) starts beat."""
    statics = {
        "names": {
            "task": TASK,
            "schedule": crontab(minute=0, hour=9, day_of_week="tuesday,Thursday"),
        }
    }
    beat = make_scheduler(beat_schedule=statics)
    beat.dispatch_once()
    stored = SchedulerEntry.from_key("redbeat:names", app=beat.app)
    assert stored.to_entry().schedule == Cron("0", "9", "*", "*", "tue,thu")

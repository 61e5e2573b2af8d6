"""One converter for Celery schedule objects: ``import`` and ``SchedulerEntry`` agree.

``redbeat-sync import`` (an app's ``beat_schedule``) and RedBeat's entry API
(``SchedulerEntry(..., schedule=...)``) both hand us Celery's objects; the same
object must become the same schedule on both roads, and be refused on both.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from beat_app import make_app
from celery import Celery
from celery.schedules import BaseSchedule, crontab, schedule, solar
from redbeat.schedules import rrule as their_rrule

from redbeat_sync import SchedulerEntry
from redbeat_sync.beat_import import Unconvertible, convert_beat_schedule
from redbeat_sync.errors import UserError
from redbeat_sync.schedule.entry import Cron, Every, RRule, Schedule, Solar
from redbeat_sync.schedules import rrule as our_rrule

TASK = "proj.tasks.add"
START = datetime(2026, 1, 5, 9, 30, tzinfo=timezone.utc)


class _Subclass(schedule):
    """A Celery interval subclass (RedBeat's own tests make one): stored as its interval."""


class _Custom(BaseSchedule):
    """A schedule of its own: no equivalent."""


@pytest.fixture
def app(redis_url: str) -> Iterator[Celery]:
    made = make_app(redis_url)
    yield made
    made.close()


def _objects(app: Celery) -> dict[str, tuple[Any, Schedule]]:
    """name -> (Celery object, the schedule both roads must give)."""
    return {
        "named": (
            crontab(minute="*/15", hour="9-17", day_of_week="mon-fri", month_of_year="jan-mar"),
            Cron("*/15", "9-17", "*", "jan-mar", "mon-fri"),
        ),
        # Celery reads a name by its first three letters, in any case; so do we.
        "long names": (
            crontab(minute=0, hour=9, day_of_week="tuesday,Thursday", month_of_year="january"),
            Cron("0", "9", "*", "jan", "tue,thu"),
        ),
        "upper case": (
            crontab(minute=0, hour=9, day_of_week="MONDAY-friday"),
            Cron("0", "9", "*", "*", "mon-fri"),
        ),
        "numbers": (crontab(minute=[0, 30], hour=3), Cron("0,30", "3", "*", "*", "*")),
        "timedelta": (timedelta(minutes=90), Every(5400.0)),
        "float": (42.5, Every(42.5)),
        "interval": (schedule(timedelta(seconds=30)), Every(30.0)),
        "subclass": (_Subclass(timedelta(seconds=30), relative=True), Every(30.0, True)),
        "solar": (solar("dusk_civil", 48.8, 2.3, app=app), Solar("dusk_civil", 48.8, 2.3)),
        "ours": (
            our_rrule("WEEKLY", dtstart=START, byweekday=[0, 2], byhour=9, byminute=30),
            RRule("weekly", dtstart=START, byweekday=(0, 2), byhour=(9,), byminute=(30,)),
        ),
        "theirs": (
            their_rrule("DAILY", dtstart=START, count=5, byhour=[9, 17]),
            RRule("daily", dtstart=START, count=5, byhour=(9, 17)),
        ),
    }


def _through_import(app: Celery, value: Any) -> Schedule | str:
    app.conf.beat_schedule = {"x": {"task": TASK, "schedule": value}}
    entries, skipped = convert_beat_schedule(app)
    if skipped:
        (problem,) = skipped
        assert isinstance(problem, Unconvertible)
        return problem.reason
    (entry,) = entries
    return entry.schedule


def _through_entry_api(app: Celery, value: Any) -> Schedule | str:
    try:
        return SchedulerEntry("x", TASK, value, app=app).to_entry().schedule
    except UserError as exc:
        return str(exc)


def test_both_roads_give_the_same_schedule(app: Celery) -> None:
    for name, (value, expected) in _objects(app).items():
        assert _through_import(app, value) == expected, name
        assert _through_entry_api(app, value) == expected, name


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda app: timedelta(seconds=0), "interval must be positive"),
        (lambda app: -5, "interval must be positive"),
        (lambda app: _Custom(), "unsupported schedule type"),
    ],
)
def test_both_roads_refuse_the_same_objects(app: Celery, make: Any, reason: str) -> None:
    value = make(app)
    refused = _through_import(app, value)
    assert isinstance(refused, str) and reason in refused
    refused = _through_entry_api(app, value)
    assert isinstance(refused, str) and reason in refused

"""The switch from celery-redbeat is a search-and-replace (issue 10 §1).

Every public name of celery-redbeat 2.4.2 (read from the installed package's source,
not from a list of ours) imports from ``redbeat_sync`` under the same module path,
the JSON both write is the same, and the defaults RedBeat users rely on hold
(current app, ``app.redbeat_redis``, ``args=None``, rrule objects after ``from_key``).
"""

from __future__ import annotations

import ast
import importlib
import inspect
import json
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
import redbeat.decoder
import redbeat.schedulers
import redbeat.schedules
import redis
from beat_app import make_app
from celery import current_app
from celery.schedules import crontab, schedule
from dateutil.rrule import FR, MO, WE

import redbeat_sync
from redbeat_sync.decoder import RedBeatJSONDecoder, RedBeatJSONEncoder
from redbeat_sync.schedulers import RedBeatSchedulerEntry, get_redis
from redbeat_sync.schedules import rrule

MODULES = ("redbeat", "redbeat.schedulers", "redbeat.schedules", "redbeat.decoder")


def _public_names(module_name: str) -> dict[str, str]:
    """Names celery-redbeat's module defines or re-exports (``__init__``), with kind."""
    module = importlib.import_module(module_name)
    tree = ast.parse(inspect.getsource(module))
    names: dict[str, str] = {}
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            names[node.name] = type(node).__name__
        elif isinstance(node, ast.Assign):
            for target in node.targets:
                if isinstance(target, ast.Name):
                    names[target.id] = "value"
        elif isinstance(node, ast.ImportFrom) and node.level and module_name == "redbeat":
            for alias in node.names:
                names[alias.asname or alias.name] = "re-export"
    return {name: kind for name, kind in names.items() if not name.startswith("_")}


@pytest.mark.parametrize("module_name", MODULES)
def test_every_public_name_of_celery_redbeat_imports_from_redbeat_sync(module_name: str) -> None:
    ours = importlib.import_module(module_name.replace("redbeat", "redbeat_sync", 1))
    theirs = _public_names(module_name)
    assert theirs, f"found no public names in {module_name}"
    missing = sorted(name for name in theirs if not hasattr(ours, name))
    assert missing == [], f"{ours.__name__} lacks {missing}"
    for name, kind in theirs.items():
        value = getattr(ours, name)
        if kind == "ClassDef":
            assert inspect.isclass(value), name
        elif kind == "FunctionDef":
            assert callable(value), name


def test_the_classes_and_functions_are_ours() -> None:
    # An import alias to celery-redbeat itself would pass the test above: check.
    for name in ("RedBeatScheduler", "RedBeatSchedulerEntry", "RedBeatConfig", "get_redis"):
        assert getattr(redbeat_sync.schedulers, name).__module__.startswith("redbeat_sync.")
    assert rrule.__module__ == "redbeat_sync.schedules"


# --------------------------------------------------------------------------- JSON


SAMPLES = [
    datetime(2015, 12, 30, 12, 59, 22, 333),
    datetime(2015, 12, 30, 12, 59, 22, tzinfo=ZoneInfo("Asia/Shanghai")),
    datetime(2015, 12, 30, 12, 59, 22, tzinfo=timezone(timedelta(hours=4))),
    "schedule",
    "crontab",
    "rrule-weekly",
    "rrule-offset",
]


def _pair(sample: object) -> tuple[object, object]:
    """The same value built with celery-redbeat's classes and with ours."""
    if sample == "schedule":
        return schedule(run_every=90), schedule(run_every=90)
    if sample == "crontab":
        made = crontab(minute=0, hour="*/3", day_of_week="mon-fri")
        return made, made
    if sample == "rrule-weekly":
        start = datetime(2015, 12, 30, 12, 59, 22, tzinfo=timezone.utc)
        kwargs = {"dtstart": start, "byweekday": (MO, WE, FR), "byhour": (9,), "count": 5}
        return redbeat.schedules.rrule("WEEKLY", **kwargs), rrule("WEEKLY", **kwargs)
    if sample == "rrule-offset":
        start = datetime(2020, 3, 1, 9, 30, tzinfo=timezone(timedelta(hours=5, minutes=30)))
        until = start + timedelta(days=30)
        kwargs = {"dtstart": start, "until": until, "interval": 2}
        return redbeat.schedules.rrule("DAILY", **kwargs), rrule("DAILY", **kwargs)
    return sample, sample


@pytest.mark.parametrize("sample", SAMPLES, ids=str)
def test_encoder_writes_the_bytes_celery_redbeat_writes(sample: object) -> None:
    theirs, ours = _pair(sample)
    expected = json.dumps(theirs, cls=redbeat.decoder.RedBeatJSONEncoder)
    assert json.dumps(ours, cls=RedBeatJSONEncoder) == expected


@pytest.mark.parametrize("sample", SAMPLES, ids=str)
def test_each_side_decodes_what_the_other_wrote(sample: object) -> None:
    theirs, _ = _pair(sample)
    text = json.dumps(theirs, cls=redbeat.decoder.RedBeatJSONEncoder)
    mine = json.loads(text, cls=RedBeatJSONDecoder)
    again = json.loads(
        json.dumps(mine, cls=RedBeatJSONEncoder), cls=redbeat.decoder.RedBeatJSONDecoder
    )
    if isinstance(sample, datetime):
        assert mine == again == sample.replace(tzinfo=sample.tzinfo or timezone.utc)
    elif isinstance(mine, rrule):
        assert (mine.freq, mine.dtstart, mine.until, mine.interval) == (
            again.freq,
            again.dtstart,
            again.until,
            again.interval,
        )
        assert mine.dtstart.utcoffset() == theirs.dtstart.utcoffset()
        assert list(mine.rrule[:3]) == list(theirs.rrule[:3])
    else:
        assert json.dumps(mine, cls=RedBeatJSONEncoder) == text


def test_rrule_answers_like_celery_redbeats() -> None:
    start = datetime.now(timezone.utc).replace(microsecond=0) + timedelta(minutes=2)
    theirs = redbeat.schedules.rrule("MINUTELY", dtstart=start, count=3)
    ours = rrule("MINUTELY", dtstart=start, count=3)
    for last in (start - timedelta(hours=1), start, start + timedelta(minutes=1)):
        a, b = theirs.remaining_estimate(last), ours.remaining_estimate(last)
        assert abs((a - b).total_seconds()) < 1
    assert ours.remaining_estimate(start + timedelta(minutes=2)) is None
    assert ours.is_due(start + timedelta(minutes=2)) == (False, None)
    assert ours.is_due(start - timedelta(minutes=3))[0] is False
    assert rrule("daily").freq == 3 and ours.until is None and ours.count == 3


# --------------------------------------------------------------------------- defaults


@pytest.fixture
def app(redis_url: str) -> Iterator[object]:
    made = make_app(redis_url, redbeat_key_prefix="dropin:")
    previous = current_app._get_current_object()
    made.set_current()
    yield made
    previous.set_current()


def test_no_app_means_the_current_app(app) -> None:
    assert get_redis() is get_redis(app)
    entry = RedBeatSchedulerEntry("every-minute", "tasks.x", schedule(run_every=60), app=app)
    entry.save()
    loaded = RedBeatSchedulerEntry.from_key("dropin:every-minute")
    assert loaded.task == "tasks.x" and loaded.schedule.run_every == timedelta(seconds=60)


def test_a_client_assigned_to_app_redbeat_redis_is_used(redis_url: str) -> None:
    app = make_app("redis://nowhere.invalid:1/0", redbeat_key_prefix="assigned:")
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    app.redbeat_redis = client
    assert get_redis(app) is client
    assert redbeat_sync.Scheduler(app).client is client
    RedBeatSchedulerEntry("a", "tasks.a", schedule(run_every=5), app=app).save()
    assert client.exists("assigned:a")


def test_args_none_is_stored_as_null_and_kept(app, redis_client: redis.Redis) -> None:
    RedBeatSchedulerEntry("no-args", "tasks.x", schedule(run_every=60), app=app).save()
    stored = json.loads(redis_client.hget("dropin:no-args", "definition"))
    assert stored["args"] is None
    loaded = RedBeatSchedulerEntry.from_key("dropin:no-args", app=app)
    assert loaded.args is None
    loaded.save()
    assert json.loads(redis_client.hget("dropin:no-args", "definition"))["args"] is None
    theirs = redbeat.schedulers.RedBeatSchedulerEntry.from_key("dropin:no-args", app=_theirs(app))
    assert theirs.args is None


def _theirs(app: object) -> object:
    """The same settings for celery-redbeat's own classes (its own config object)."""
    other = make_app(app.conf.redbeat_redis_url, redbeat_key_prefix="dropin:")
    other.redbeat_conf = redbeat.schedulers.RedBeatConfig(other)
    return other


def test_an_rrule_entry_loads_as_the_rrule_class(app) -> None:
    start = datetime(2030, 1, 6, 9, 0, tzinfo=timezone(timedelta(hours=1)))
    theirs_app = _theirs(app)
    redbeat.schedulers.RedBeatSchedulerEntry(
        "weekly", "tasks.w", redbeat.schedules.rrule("WEEKLY", dtstart=start, byweekday=(MO, FR)),
        app=theirs_app,
    ).save()  # fmt: skip
    loaded = RedBeatSchedulerEntry.from_key("dropin:weekly", app=app)
    assert isinstance(loaded.schedule, rrule)
    assert loaded.schedule.freq == 2 and loaded.schedule.dtstart == start
    assert [d.weekday for d in loaded.schedule.byweekday] == [0, 4]
    assert loaded.schedule.rrule.after(start).weekday() == 0  # the Monday after that Sunday
    loaded.save()  # and celery-redbeat still reads what we wrote back
    again = redbeat.schedulers.RedBeatSchedulerEntry.from_key("dropin:weekly", app=theirs_app)
    assert again.schedule.dtstart == start and again.schedule.freq == 2


def test_beat_unwraps_a_retrying_connection_assigned_by_redbeat_code(redis_url: str) -> None:
    from redbeat_sync.schedulers import RetryingConnection

    app = make_app("redis://nowhere.invalid:1/0")
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    app.redbeat_redis = RetryingConnection(5, client)
    assert get_redis(app).ping()  # the proxy itself works for RedBeat-style code
    assert redbeat_sync.Scheduler(app).client is client  # beat uses the real client


def test_import_takes_our_rrule_as_it_takes_celery_redbeats() -> None:
    from celery import Celery

    from redbeat_sync.beat_import import convert_beat_schedule

    start = datetime(2030, 1, 6, 9, 0, tzinfo=ZoneInfo("US/Eastern"))
    app = Celery("imports", set_as_current=False)
    app.conf.beat_schedule = {
        name: {"task": "tasks.t", "schedule": kind("WEEKLY", dtstart=start, byweekday=(MO,))}
        for name, kind in (("ours", rrule), ("theirs", redbeat.schedules.rrule))
    }
    entries, skipped = convert_beat_schedule(app)
    assert skipped == []
    ours, theirs = sorted(entries, key=lambda e: e.name)
    assert ours.schedule == theirs.schedule


def test_import_of_an_app_without_beat_schedule_says_so(tmp_path, monkeypatch) -> None:
    from redis_topologies import cli

    (tmp_path / "emptyapp.py").write_text("from celery import Celery\napp = Celery('e')\n")
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "out.yaml"
    result = cli("import", "--from-app", "emptyapp:app", "--out", str(out))
    assert result.code == 1, result.all
    assert "no beat_schedule entries" in result.stderr
    assert not out.exists()

"""The plan sees a change exactly when the task would receive something else.

Against a real redis-server: values are applied by apply_plan and read back with
celery-redbeat's own decoder (``redbeat.decoder.RedBeatJSONDecoder``), the one its
scheduler (and so the task) gets its arguments from.
"""

from __future__ import annotations

import json
import math
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import redis
from apply_helpers import apply_files, plan_files
from celery import Celery
from celery.schedules import schedule
from click.testing import CliRunner, Result
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from plan_helpers import spec
from redbeat.decoder import RedBeatJSONDecoder
from redbeat.schedulers import RedBeatSchedulerEntry

from redbeat_sync.apply import apply_plan
from redbeat_sync.cli import main
from redbeat_sync.drift import drift_from_plan, drift_to_json, render_drift_text
from redbeat_sync.fileformat.dump import dump_entries
from redbeat_sync.fileformat.loader import load_text
from redbeat_sync.plan.render_json import plan_to_json
from redbeat_sync.plan.render_text import render_text
from redbeat_sync.schedule.entry import Entry, Every
from redbeat_sync.state.layout import Layout
from redbeat_sync.state.reader import read_state

UTC = timezone.utc
BEFORE = Layout("rs-values-a:")  # what Redis holds
AFTER = Layout("rs-values-b:")  # what applying the files' value would store


def task_receives(client: redis.Redis, layout: Layout, name: str) -> tuple[Any, Any]:
    """(args, kwargs) as celery-redbeat's decoder gives them to the task."""
    raw = client.hget(layout.entry_key(name), "definition")
    assert raw is not None
    definition = json.loads(raw, cls=RedBeatJSONDecoder)
    return definition["args"], definition["kwargs"]


def yaml_entry(since: str) -> str:
    return (
        "version: 1\nentries:\n"
        f"  job: {{task: app.tasks.x, schedule: {{every: 1h}}, kwargs: {{since: {since}}}}}\n"
    )


def test_datetime_then_the_same_instant_as_a_string_is_a_change(
    redis_client: redis.Redis,
) -> None:
    apply_files(redis_client, BEFORE, load_text(yaml_entry("2026-01-01T00:00:00Z")))
    _, kwargs = task_receives(redis_client, BEFORE, "job")
    assert isinstance(kwargs["since"], datetime)

    files = load_text(yaml_entry("'2026-01-01T00:00:00+00:00'"))
    plan = plan_files(redis_client, BEFORE, files)
    (action,) = plan.changes
    assert action.kind == "update"
    assert [c.path for c in action.changes] == ["kwargs.since"]
    text = render_text(plan)
    assert 'kwargs.since: datetime 2026-01-01T00:00:00 UTC → "2026-01-01T00:00:00+00:00"' in text
    drift = drift_from_plan(plan, read_state(redis_client, BEFORE))
    assert drift.has_drift
    assert "Drift: 1 entry (1 changed in Redis)." in render_drift_text(drift)
    as_json = drift_to_json(drift)
    assert as_json["format_version"] == "2"
    (change,) = as_json["items"][0]["changes"]
    assert change["redis"]["__type__"] == "datetime" and change["redis"]["timezone"] == "UTC"
    assert change["files"] == "2026-01-01T00:00:00+00:00"
    planned_json = plan_to_json(plan)
    assert planned_json["format_version"] == "2"
    assert planned_json["actions"][0]["before"]["kwargs"]["since"]["__type__"] == "datetime"

    apply_plan(redis_client, BEFORE, plan, lock_timeout=2.0, who="tester@ci")
    _, kwargs = task_receives(redis_client, BEFORE, "job")
    assert kwargs["since"] == "2026-01-01T00:00:00+00:00"
    assert not plan_files(redis_client, BEFORE, files).has_changes


# --------------------------------------------------------------------------- property

ZONES = [
    UTC,
    ZoneInfo("UTC"),
    ZoneInfo("Europe/Paris"),
    ZoneInfo("America/New_York"),
    ZoneInfo("Asia/Kolkata"),
    timezone(timedelta(hours=1)),
    timezone(timedelta(hours=-3, minutes=-30)),
]
datetimes = st.datetimes(
    min_value=datetime(1971, 1, 1),
    max_value=datetime(2100, 1, 1),
    timezones=st.none() | st.sampled_from(ZONES),
)
scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**53), max_value=2**53)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=6)
    | datetimes.map(lambda d: d.isoformat())  # strings that look like datetimes
    | datetimes
)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3)
    ),
    max_leaves=6,
)


def look_alikes(value: Any) -> st.SearchStrategy[Any]:
    """Values a person could take for ``value``: the pairs most likely to be confused."""
    near: list[Any] = []
    if isinstance(value, datetime):
        near.append(value.isoformat())
        near.append(value.replace(tzinfo=None))
        near.append(value.replace(tzinfo=UTC))
        near.append(value.astimezone(UTC) if value.tzinfo else value)
        offset = value.utcoffset()
        if offset is not None:
            near.append(value.replace(tzinfo=timezone(offset)))  # zone name vs offset
    elif isinstance(value, bool):
        near += [int(value), float(value)]
    elif isinstance(value, int):
        near += [float(value), str(value)]
    elif isinstance(value, float):
        near += [-value, str(value)]
        if value.is_integer() and abs(value) < 2**53:
            near.append(int(value))
    elif isinstance(value, list):
        near += [list(reversed(value)), [*value, None]]
    elif isinstance(value, dict):
        near.append(dict(reversed(list(value.items()))))  # same dict, other key order
    return st.sampled_from([*near, value])


# Top-level scalars (datetimes above all) often, so their look-alikes come up often.
pairs = st.one_of(datetimes, scalars, values).flatmap(
    lambda a: st.tuples(st.just(a), st.one_of(look_alikes(a), values))
)


def zone_of(moment: datetime) -> tuple[str, Any]:
    tz = moment.tzinfo
    if isinstance(tz, ZoneInfo):
        return ("zone", tz.key)
    return ("offset", moment.utcoffset())


def same_for_the_task(a: Any, b: Any) -> bool:
    """Whether the task gets the same value: same types, wall times and zones all the
    way down (dict key order aside, which kwargs do not have)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same_for_the_task(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(map(same_for_the_task, a, b))
    if isinstance(a, float):
        return a == b and math.copysign(1.0, a) == math.copysign(1.0, b)
    if isinstance(a, datetime):
        return a.replace(tzinfo=None) == b.replace(tzinfo=None) and zone_of(a) == zone_of(b)
    return bool(a == b)


def job(value: Any) -> Entry:
    return Entry(
        name="job", task="app.tasks.x", schedule=Every(3600.0), args=[value], kwargs={"v": value}
    )


def check_pair(client: redis.Redis, stored_value: Any, wanted_value: Any) -> None:
    client.flushdb()
    apply_files(client, BEFORE, spec(job(stored_value)))
    apply_files(client, AFTER, spec(job(wanted_value)))
    same = same_for_the_task(
        task_receives(client, BEFORE, "job"), task_receives(client, AFTER, "job")
    )
    plan = plan_files(client, BEFORE, spec(job(wanted_value)))
    assert plan.has_changes is (not same), render_text(plan)


SWEEP = settings(max_examples=150, suppress_health_check=[HealthCheck.function_scoped_fixture])


@SWEEP
@given(pair=pairs)
def test_plan_reports_a_change_exactly_when_the_task_would_receive_another_value(
    redis_client: redis.Redis, pair: tuple[Any, Any]
) -> None:
    check_pair(redis_client, *pair)


@SWEEP
@given(
    pair=datetimes.flatmap(
        lambda a: st.tuples(
            st.just(a), st.one_of(look_alikes(a), datetimes, datetimes.map(datetime.isoformat))
        )
    )
)
def test_datetime_pairs_change_exactly_when_the_task_would_receive_another_value(
    redis_client: redis.Redis, pair: tuple[datetime, Any]
) -> None:
    check_pair(redis_client, *pair)


@pytest.mark.parametrize(
    ("stored_value", "wanted_value", "change"),
    [
        (datetime(2026, 1, 1, tzinfo=UTC), "2026-01-01T00:00:00+00:00", True),
        (datetime(2026, 1, 1), datetime(2026, 1, 1, tzinfo=UTC), False),  # both stored "UTC"
        (
            datetime(2026, 1, 1, 1, tzinfo=ZoneInfo("Europe/Paris")),
            datetime(2026, 1, 1, tzinfo=UTC),  # the same instant, another wall time and zone
            True,
        ),
        (
            datetime(2026, 1, 1, tzinfo=ZoneInfo("Europe/Paris")),
            datetime(2026, 1, 1, tzinfo=timezone(timedelta(hours=1))),  # zone vs fixed offset
            True,
        ),
        (0.0, -0.0, True),
        (1, 1.0, True),
        (1, True, True),
        ([1, 2], [1, 2, None], True),
        ({"a": 1, "b": 2}, {"b": 2, "a": 1}, False),
    ],
)
def test_known_look_alikes(
    redis_client: redis.Redis, stored_value: Any, wanted_value: Any, change: bool
) -> None:
    apply_files(redis_client, BEFORE, spec(job(stored_value)))
    plan = plan_files(redis_client, BEFORE, spec(job(wanted_value)))
    assert plan.has_changes is change


def test_export_of_what_redbeat_stored_plans_no_value_change(
    redis_client: redis.Redis, redis_url: str
) -> None:
    """A zoned datetime RedBeat stored survives export (no YAML timestamp can hold
    ``Europe/Paris``): the exported files adopt the entry with no change."""
    app = Celery("values-test", set_as_current=False)
    app.conf.update(redbeat_redis_url=redis_url, redbeat_key_prefix=BEFORE.prefix, timezone="UTC")
    paris = datetime(2026, 3, 1, 9, 30, tzinfo=ZoneInfo("Europe/Paris"))
    RedBeatSchedulerEntry(
        "legacy", "app.tasks.x", schedule(3600), args=[paris], kwargs={"since": paris}, app=app
    ).save()
    held = read_state(redis_client, BEFORE)
    exported = dump_entries([item.entry for item in held.entries.values() if item.entry])
    assert "Europe/Paris" in exported
    plan = plan_files(redis_client, BEFORE, load_text(exported))
    (action,) = plan.actions
    assert action.kind == "adopt" and action.changes == [], render_text(plan)
    app.close()


def test_the_cli_plan_and_drift_report_it(tmp_path: Path, redis_url: str) -> None:
    """The issue as a user saw it: ``plan --detailed-exitcode`` exited 0 ("No changes.")."""
    env = {"REDBEAT_SYNC_REDIS_URL": redis_url, "REDBEAT_SYNC_KEY_PREFIX": BEFORE.prefix}

    def cli(*args: str) -> Result:
        return CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)

    files = tmp_path / "beat.yaml"
    files.write_text(yaml_entry("2026-01-01T00:00:00Z"), encoding="utf-8")
    assert cli("apply", str(files), "--auto-approve").exit_code == 0
    files.write_text(yaml_entry("'2026-01-01T00:00:00+00:00'"), encoding="utf-8")
    planned = cli("plan", str(files), "--detailed-exitcode")
    assert planned.exit_code == 2, planned.output
    assert "Plan: 0 to create, 1 to update, 0 to delete." in planned.output
    drift = cli("drift", str(files), "--detailed-exitcode")
    assert drift.exit_code == 2, drift.output

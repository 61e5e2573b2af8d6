"""Equivalent schedules plan as no change; changes say what they do to the run rate."""

from __future__ import annotations

import json

import pytest
import redis
from apply_helpers import apply_files, plan_files
from plan_helpers import NOW, entry, every, spec, state, stored

from redbeat_sync.plan.compare import compute_plan
from redbeat_sync.plan.render_json import plan_to_json
from redbeat_sync.plan.render_markdown import render_markdown
from redbeat_sync.plan.render_text import render_text
from redbeat_sync.schedule import equivalence as semantics
from redbeat_sync.schedule.cron import cron_sets
from redbeat_sync.schedule.entry import Cron, Every, RRule
from redbeat_sync.state.layout import Layout

LAYOUT = Layout("rs-sem:")


def cron(expression: str) -> Cron:
    return Cron.from_expression(expression)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("*/15 * * * *", "0,15,30,45 * * * *"),
        ("0 9 * * mon-fri", "0 9 * * 1-5"),
        ("0-59 * * * *", "* * * * *"),
        ("0 0 1 jan *", "0 0 1 1 *"),
        ("0 */6 * * *", "0 0,6,12,18 * * *"),
    ],
)
def test_equivalent_crons(a: str, b: str) -> None:
    assert semantics.equivalent_schedules(cron(a), cron(b))
    assert semantics.equivalent_schedules({"cron": a}, {"cron": b})


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("*/15 * * * *", "*/20 * * * *"),
        ("0 9 * * mon-fri", "0 9 * * 0-4"),
        ("0 3 * * *", "0 4 * * *"),
    ],
)
def test_different_crons(a: str, b: str) -> None:
    assert not semantics.equivalent_schedules(cron(a), cron(b))


def test_interval_forms_are_equal() -> None:
    assert semantics.equivalent_schedules(Every(3600.0), Every(3600.0))
    assert not semantics.equivalent_schedules(Every(3600.0), cron("0 * * * *"))


def test_planner_sees_equivalent_cron_as_noop() -> None:
    held = entry("job", schedule=cron("0,15,30,45 * * * *"))
    wanted = entry("job", schedule=cron("*/15 * * * *"))
    plan = compute_plan(spec(wanted), state(stored(held)), now=NOW)
    assert not plan.has_changes
    assert [a.kind for a in plan.actions] == ["noop"]


def test_equivalent_cron_with_another_change_keeps_only_that_change() -> None:
    held = entry("job", schedule=cron("0 9 * * 1-5"))
    wanted = entry("job", schedule=cron("0 9 * * mon-fri"), options={"queue": "q"})
    (action,) = compute_plan(spec(wanted), state(stored(held)), now=NOW).actions
    assert [c.path for c in action.changes] == ["options.queue"]
    assert action.kind == "update"


def test_real_round_trip_apply_then_equivalent_expression(redis_client: redis.Redis) -> None:
    apply_files(redis_client, LAYOUT, spec(entry("job", schedule=cron("0,15,30,45 * * * *"))))
    raw_before = redis_client.hget(LAYOUT.entry_key("job"), "definition")
    plan = plan_files(redis_client, LAYOUT, spec(entry("job", schedule=cron("*/15 * * * *"))))
    assert render_text(plan).strip() == "No changes."
    # Nothing to rewrite: the stored expression stays as it was applied.
    assert redis_client.hget(LAYOUT.entry_key("job"), "definition") == raw_before
    assert "0,15,30,45" in str(raw_before)


@pytest.mark.parametrize(
    ("schedule", "expected"),
    [
        (cron("*/15 * * * *"), (96.0, "day")),
        (cron("0 * * * *"), (24.0, "day")),
        (cron("0 9 * * mon-fri"), (5.0, "week")),
        (cron("0 0 1 * *"), (12.0, "year")),
        (Every(3600.0), (24.0, "day")),
        (Every(7 * 86400.0), (1.0, "week")),
        (RRule("hourly", dtstart=NOW), (24.0, "day")),
        (RRule("weekly", dtstart=NOW), (1.0, "week")),
    ],
)
def test_rates(schedule, expected) -> None:  # type: ignore[no-untyped-def]
    assert semantics.schedule_rate(schedule, "UTC", NOW) == expected


def test_frequency_change_in_text_json_and_markdown() -> None:
    held = entry("job", schedule=cron("*/15 * * * *"))
    wanted = entry("job", schedule=cron("0 * * * *"))
    plan = compute_plan(spec(wanted), state(stored(held)), now=NOW)
    (action,) = plan.actions
    assert action.kind == "reschedule"
    assert "frequency: 96 → 24 runs/day" in render_text(plan)
    data = plan_to_json(plan)
    assert data["actions"][0]["frequency"] == {"before": 96, "after": 24, "unit": "day"}
    json.dumps(data)
    assert "**Frequency:** 96 → 24 runs/day" in render_markdown(plan)


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [
        (7.0, "1,440 → 12,343 runs/day"),  # 12342.857...: whole runs from 100 up
        (420.0, "1,440 → 206 runs/day"),  # 205.71
        (5 * 3600.0, "1,440 → 4.8 runs/day"),
        (12960.0, "1,440 → 6.7 runs/day"),  # 6.666...
        (7000.0, "1,440 → 12.3 runs/day"),
    ],
)
def test_frequencies_are_rounded_as_people_say_them(seconds: float, shown: str) -> None:
    change = semantics.frequency_change(
        entry("job", schedule=cron("* * * * *")), every("job", seconds)
    )
    assert change is not None
    assert semantics.format_frequency(change) == shown


def test_frequency_mixed_units_uses_coarser_unit() -> None:
    old = entry("job", schedule=cron("0 9 * * *"))
    new = entry("job", schedule=cron("0 9 * * mon-fri"))
    assert semantics.frequency_change(old, new) == {"before": 7, "after": 5, "unit": "week"}
    assert semantics.frequency_change(every("a", 60), every("a", 60)) is None


def _field(draw, low: int, high: int) -> str:  # type: ignore[no-untyped-def]
    from hypothesis import strategies as st

    kind = draw(st.sampled_from(["star", "step", "range", "range-step", "list"]))
    if kind == "star":
        return "*"
    if kind == "range-step":
        a = draw(st.integers(low, high))
        return f"{a}-{draw(st.integers(a, high))}/{draw(st.integers(1, 5))}"
    if kind == "step":
        return f"*/{draw(st.integers(1, high - low + 1))}"
    if kind == "range":
        a = draw(st.integers(low, high))
        return f"{a}-{draw(st.integers(a, high))}"
    values = draw(st.sets(st.integers(low, high), min_size=1, max_size=4))
    return ",".join(map(str, sorted(values)))


def test_equivalent_keys_mean_the_same_fire_times() -> None:
    from datetime import timedelta

    from hypothesis import given, settings
    from hypothesis import strategies as st

    from redbeat_sync.schedule import timing

    @st.composite
    def crons(draw):  # type: ignore[no-untyped-def]
        ranges = ((0, 59), (0, 23), (1, 28), (1, 12), (0, 6))
        return " ".join(_field(draw, low, high) for low, high in ranges)

    @settings(max_examples=100, deadline=None)
    @given(crons())
    def check(expression: str) -> None:
        sets = cron_sets(expression)
        listed = " ".join(
            ",".join(map(str, sorted(values)))
            for values in (sets.minute, sets.hour, sets.day_of_month, sets.month_of_year)
        )
        listed += " " + ",".join(map(str, sorted(sets.day_of_week)))
        assert semantics.equivalent_schedules(cron(expression), cron(listed))
        start = NOW + timedelta(days=1)
        a = timing.next_fire_times(entry("a", schedule=cron(expression)), 5, start)
        b = timing.next_fire_times(entry("a", schedule=cron(listed)), 5, start)
        assert a == b

    check()


def test_one_value_ranges_fire_like_celery() -> None:
    """croniter reads 5-5 as '*'; Celery's crontab (RedBeat) as 5: timing follows Celery."""
    from redbeat_sync.schedule import timing

    for expression, minute in (("5-5 * * * *", 5), ("0-0 * * * *", 0), ("7-7/2 * * * *", 7)):
        times = timing.next_fire_times(entry("a", schedule=cron(expression)), 3, NOW)
        assert [t.minute for t in times] == [minute] * 3, expression
        assert cron_sets(expression).minute == (minute,)
    monday = timing.next_fire_times(entry("a", schedule=cron("0 0 * * mon-mon")), 2, NOW)
    assert [t.weekday() for t in monday] == [0, 0]

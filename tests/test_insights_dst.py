"""DST lint: entries firing in a skipped or repeated local hour are warned about."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

from click.testing import CliRunner
from plan_helpers import NOW, entry, spec, state

from redbeat_sync.cli import main
from redbeat_sync.insights import dst_lint
from redbeat_sync.plan.compare import compute_plan
from redbeat_sync.plan.render_json import plan_to_json
from redbeat_sync.plan.render_markdown import render_markdown
from redbeat_sync.plan.render_text import render_text
from redbeat_sync.schedule import timing
from redbeat_sync.schedule.entry import Cron, RRule

UTC = timezone.utc


def cron_entry(expression: str, zone: str, name: str = "job"):  # type: ignore[no-untyped-def]
    return entry(name, schedule=Cron.from_expression(expression), timezone=zone)


def test_paris_transitions_found_to_the_minute() -> None:
    found = dst_lint.transitions("Europe/Paris", NOW.date())
    assert [(t.at, t.skipped) for t in found] == [
        (datetime(2027, 3, 28, 1, 0, tzinfo=UTC), True),
        (datetime(2027, 10, 31, 1, 0, tzinfo=UTC), False),
    ]
    assert found[0].wall_start.hour == 2 and found[0].wall_end.hour == 3
    assert dst_lint.transitions("UTC", NOW.date()) == ()
    assert dst_lint.transitions("Asia/Tokyo", NOW.date()) == ()


def test_paris_skipped_and_repeated() -> None:
    skipped, repeated = dst_lint.dst_warnings(cron_entry("30 2 * * *", "Europe/Paris"), NOW)
    assert "skipped on 2027-03-28" in skipped and "at 03:00 (the end of the gap)" in skipped
    assert "a gap late, at 03:30" in skipped and "Fix:" in skipped and "UTC" in skipped
    assert "repeated on 2027-10-31" in repeated and "first pass" in repeated
    # What the warning says our scheduler does is what timing really does.
    gap_day = datetime(2027, 3, 27, 12, tzinfo=UTC)
    (first,) = timing.next_fire_times(cron_entry("30 2 * * *", "Europe/Paris"), 1, gap_day)
    assert first.astimezone(ZoneInfo("Europe/Paris")).strftime("%H:%M") == "03:00"


def test_new_york_fall_back_only_for_one_am() -> None:
    (warning,) = dst_lint.dst_warnings(cron_entry("30 1 * * *", "America/New_York"), NOW)
    assert "repeated on 2027-11-07" in warning
    (warning,) = dst_lint.dst_warnings(cron_entry("15 2 * * *", "America/New_York"), NOW)
    assert "skipped on 2027-03-14" in warning


def test_no_warning_when_safe() -> None:
    assert dst_lint.dst_warnings(cron_entry("30 4 * * *", "Europe/Paris"), NOW) == []
    assert dst_lint.dst_warnings(cron_entry("30 2 * * *", "UTC"), NOW) == []
    # periodic (wildcard hour): follows real time, nothing to warn about
    assert dst_lint.dst_warnings(cron_entry("*/15 * * * *", "Europe/Paris"), NOW) == []
    # restricted to a weekday that is not the transition day (2027-03-28 is a Sunday)
    assert dst_lint.dst_warnings(cron_entry("30 2 * * mon", "Europe/Paris"), NOW) == []


def test_weekday_restricted_hits_the_sunday() -> None:
    warnings = dst_lint.dst_warnings(cron_entry("30 2 * * sun", "Europe/Paris"), NOW)
    assert len(warnings) == 2


def test_rrule_in_paris() -> None:
    dtstart = datetime(2026, 1, 1, 2, 30, tzinfo=ZoneInfo("Europe/Paris"))
    rule = RRule("daily", dtstart=dtstart, byhour=(2,), byminute=(30,))
    warnings = dst_lint.dst_warnings(entry("r", schedule=rule, timezone="Europe/Paris"), NOW)
    assert len(warnings) == 2 and "fixed UTC offset" in warnings[0]


def test_plan_shows_the_warning_in_every_format() -> None:
    now = datetime.now(UTC)
    plan = compute_plan(spec(cron_entry("30 2 * * *", "Europe/Paris")), state(), now=now)
    assert "warning: DST: cron 30 2 * * * in Europe/Paris" in render_text(plan)
    assert any("DST:" in w for w in plan_to_json(plan)["actions"][0]["warnings"])
    assert "DST: cron 30 2" in render_markdown(plan)


def test_validate_prints_warning_and_exits_zero(tmp_path: Path) -> None:
    file = tmp_path / "s.yaml"
    file.write_text(
        "version: 1\nentries:\n  nightly:\n    task: a.b\n    timezone: Europe/Paris\n"
        "    schedule: {cron: '30 2 * * *'}\n"
    )
    result = CliRunner().invoke(main, ["validate", str(file)])
    assert result.exit_code == 0
    assert "warning:" in result.output and "nightly: DST:" in result.output
    assert "OK: 1 entry" in result.output


def test_validate_keeps_the_warnings_of_loaded_entries_when_others_fail(tmp_path: Path) -> None:
    file = tmp_path / "s.yaml"
    file.write_text(
        "version: 1\nentries:\n  nightly:\n    task: a.b\n    timezone: Europe/Paris\n"
        "    schedule: {cron: '30 2 * * *'}\n  bad: {task: a.b, schedule: {cron: '61 * * * *'}}\n"
    )
    result = CliRunner().invoke(main, ["validate", str(file)])
    assert result.exit_code == 1
    assert "the minute field '61'" in result.output and "nightly: DST:" in result.output
    result = CliRunner().invoke(main, ["validate", "--format", "json", str(file)])
    document = json.loads(result.output)
    assert document["error_count"] == 1 and document["warning_count"] == 2
    assert all("nightly: DST:" in w for w in document["warnings"])

"""A cron restricting both the day of the month and the day of the week is a warning:
Celery's crontab fires only on days matching both (Unix cron: either)."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

from click.testing import CliRunner
from plan_helpers import spec, state

from redbeat_sync.cli import main
from redbeat_sync.insights.cron_lint import both_days_warnings
from redbeat_sync.plan.compare import compute_plan
from redbeat_sync.plan.render_text import render_text
from redbeat_sync.schedule.entry import Cron, Entry


def cron_entry(expression: str) -> Entry:
    return Entry(name="a", task="a.b", schedule=Cron.from_expression(expression))


def test_only_both_kinds_of_day_restricted_warn() -> None:
    for alone in ("0 9 13 * *", "0 9 * * fri", "0 9 * 1 *", "0 9 1-31 * fri", "0 9 13 * 0-6"):
        assert both_days_warnings(cron_entry(alone)) == [], alone
    (warning,) = both_days_warnings(cron_entry("0 9 13 * fri"))
    assert warning.startswith("cron: day of month '13' and day of week 'fri' must both match")


def test_validate_and_plan_show_it(tmp_path: Path) -> None:
    file = tmp_path / "s.yaml"
    file.write_text("version: 1\nentries:\n  a: {task: a.b, schedule: {cron: '0 9 13 * fri'}}\n")
    result = CliRunner().invoke(main, ["validate", str(file)])
    assert result.exit_code == 0  # a warning never fails validation
    assert "s.yaml:3: a: cron: day of month '13' and day of week 'fri' must both match" in (
        result.output
    )
    plan = compute_plan(spec(cron_entry("0 9 13 * fri")), state(), now=datetime.now(timezone.utc))
    assert "must both match" in render_text(plan)

"""A jitter as long as the ``every`` interval is a warning in plan and validate."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

from click.testing import CliRunner
from plan_helpers import every, spec, state

from redbeat_sync.cli import main
from redbeat_sync.insights.jitter_lint import jitter_warnings
from redbeat_sync.plan.compare import compute_plan
from redbeat_sync.plan.render_text import render_text


def test_only_a_jitter_not_shorter_than_the_interval_warns() -> None:
    assert jitter_warnings(every("a", 300, jitter=299.0)) == []
    assert jitter_warnings(every("a", 300)) == []
    (warning,) = jitter_warnings(every("a", 300, jitter=7200.0))
    assert warning.startswith("jitter: 2h is not shorter than the interval (every: 5m)")


def test_plan_and_validate_show_it(tmp_path: Path) -> None:
    plan = compute_plan(
        spec(every("a", 300, jitter=7200.0)), state(), now=datetime.now(timezone.utc)
    )
    assert "warning: jitter: 2h is not shorter" in render_text(plan)
    file = tmp_path / "s.yaml"
    file.write_text("version: 1\nentries:\n  a: {task: a.b, schedule: {every: 5m}, jitter: 2h}\n")
    result = CliRunner().invoke(main, ["validate", str(file)])
    assert result.exit_code == 0
    assert "s.yaml:3: a: jitter: 2h is not shorter" in result.output

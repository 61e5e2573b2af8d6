"""pause/resume/run/runs on the command line, and how plan, drift and apply treat a
pause and ``overlap`` (no beat needed: these are what the CLI writes and shows)."""

from __future__ import annotations

import json
from pathlib import Path

import redis
from click.testing import CliRunner, Result

from redbeat_sync.cli import main
from redbeat_sync.state.audit import read_history
from redbeat_sync.state.layout import Layout

PREFIX = "rs-ops:"
LAYOUT = Layout(PREFIX)
FILE = """version: 1
entries:
  a: {task: app.tasks.a, schedule: {every: 60s}, labels: {team: x}%s}
  b: {task: app.tasks.b, schedule: {every: 60s}}
"""


def cli(redis_url: str, *args: str) -> Result:
    env = {"REDBEAT_SYNC_REDIS_URL": redis_url, "REDBEAT_SYNC_KEY_PREFIX": PREFIX, "NO_COLOR": "1"}
    return CliRunner().invoke(main, list(args), env=env)


def write(tmp_path: Path, extra: str = "") -> Path:
    path = tmp_path / "s.yaml"
    path.write_text(FILE % extra, encoding="utf-8")
    return path


def test_pause_is_shown_by_plan_and_drift_kept_by_apply_and_audited(
    redis_url: str, tmp_path: Path
) -> None:
    path = write(tmp_path)
    assert cli(redis_url, "apply", "--auto-approve", str(path)).exit_code == 0
    paused = cli(redis_url, "pause", "--label", "team=x", "-m", "INC-1", "--who", "me")
    assert paused.exit_code == 0, paused.output
    plan = cli(redis_url, "plan", "--detailed-exitcode", str(path))
    assert plan.exit_code == 0, plan.output  # a pause is not a change
    assert "⏸ a: paused by me since" in plan.output and ": INC-1" in plan.output
    drift = cli(redis_url, "drift", "--detailed-exitcode", str(path))
    assert drift.exit_code == 0 and "paused by me" in drift.output
    markdown = cli(redis_url, "plan", "--format", "markdown", str(path))
    assert "paused by me" in markdown.output
    # apply changing the paused entry keeps the pause
    changed = write(tmp_path, ", args: [1]")
    assert cli(redis_url, "apply", "--auto-approve", str(changed)).exit_code == 0
    shown = json.loads(cli(redis_url, "show", "--format", "json").output)
    row = next(r for r in shown["entries"] if r["name"] == "a")
    assert row["paused"].startswith("paused by me")
    resumed = cli(redis_url, "resume", "a", "-m", "fixed", "--who", "me")
    assert resumed.exit_code == 0, resumed.output
    assert "paused by" not in cli(redis_url, "plan", str(changed)).output
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    actions = [(h.get("action"), h.get("message")) for h in read_history(client, LAYOUT, 10)]
    assert ("pause", "INC-1") in actions and ("resume", "fixed") in actions
    shown = cli(redis_url, "history", "--entry", "a")
    assert shown.exit_code == 0 and "paused a" in shown.output and "INC-1" in shown.output


def test_pause_refuses_unknown_names_and_bad_until(redis_url: str, tmp_path: Path) -> None:
    assert cli(redis_url, "apply", "--auto-approve", str(write(tmp_path))).exit_code == 0
    missing = cli(redis_url, "pause", "a", "nope", "-m", "x")
    assert missing.exit_code == 1 and "no such entry: nope" in missing.output
    bad = cli(redis_url, "pause", "a", "-m", "x", "--until", "tomorrowish")
    assert bad.exit_code == 1 and "--until" in bad.output
    assert cli(redis_url, "pause", "a").exit_code == 1  # --reason is required
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    assert not client.exists(PREFIX + ":sync:paused")  # nothing written
    not_paused = cli(redis_url, "resume", "b")
    assert not_paused.exit_code == 1 and "not paused: b" in not_paused.output


def test_overlap_in_the_plan(redis_url: str, tmp_path: Path) -> None:
    assert cli(redis_url, "apply", "--auto-approve", str(write(tmp_path))).exit_code == 0
    plan = cli(redis_url, "plan", str(write(tmp_path, ", overlap: skip, overlap_timeout: 10m")))
    assert plan.exit_code == 0, plan.output
    assert 'overlap: "allow" → "skip"' in plan.output
    assert "requires redbeat_sync.Scheduler: overlap: skip" in plan.output
    assert "no worker has reported in" in plan.output


def test_runs_of_an_unknown_entry_is_an_error(redis_url: str) -> None:
    result = cli(redis_url, "runs", "nope")
    assert result.exit_code == 1 and "no such entry" in result.output


def test_show_gives_the_last_outcome(redis_url: str, tmp_path: Path) -> None:
    from redbeat_sync.beat.runlog import append_runs, sent_record, update_run

    assert cli(redis_url, "apply", "--auto-approve", str(write(tmp_path))).exit_code == 0
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    append_runs(client, LAYOUT, [("a", sent_record(task_id="t1", slot=None, covers_from=None))], 20)
    update_run(client, LAYOUT, "a", "t1", {"state": "failed", "error": "ValueError: x"})
    text = cli(redis_url, "show").output
    assert "OUTCOME" in text and "failed" in text
    rows = json.loads(cli(redis_url, "show", "--format", "json").output)["entries"]
    outcome = {r["name"]: r["last_outcome"] for r in rows}
    assert outcome["a"]["error"] == "ValueError: x" and outcome["b"] is None
    runs = cli(redis_url, "runs", "a")
    assert runs.exit_code == 0 and "failed" in runs.output and "ValueError: x" in runs.output


def test_pausing_a_paused_entry_says_what_changed(redis_url: str, tmp_path: Path) -> None:
    assert cli(redis_url, "apply", "--auto-approve", str(write(tmp_path))).exit_code == 0
    first = cli(redis_url, "pause", "a", "-m", "x", "--until", "2099-01-01T00:00:00")
    assert first.exit_code == 0 and "was paused" not in first.output, first.output
    again = cli(redis_url, "pause", "a", "-m", "y")
    assert again.exit_code == 0, again.output
    assert "a was paused until 2099-01-01T00:00:00+00:00; now paused with no end" in again.output
    later = cli(redis_url, "pause", "a", "-m", "z", "--until", "2098-06-01T12:00:00Z")
    assert "a was paused with no end; now paused until 2098-06-01T12:00:00+00:00" in later.output
    shown = json.loads(cli(redis_url, "show", "--format", "json").output)
    row = next(r for r in shown["entries"] if r["name"] == "a")
    assert "until 2098-06-01T12:00:00+00:00: z" in row["paused"], row


def test_show_says_when_the_last_outcome_is_a_manual_run(redis_url: str, tmp_path: Path) -> None:
    """A manual run counts no run (LAST RUN stays never): OUTCOME says whose it is."""
    from redbeat_sync.beat.runlog import append_runs, sent_record, update_run

    assert cli(redis_url, "apply", "--auto-approve", str(write(tmp_path))).exit_code == 0
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    manual = sent_record(task_id="m1", slot=None, covers_from=None, kind="manual")
    append_runs(client, LAYOUT, [("a", manual)], 20)
    update_run(client, LAYOUT, "a", "m1", {"state": "failed", "error": "ValueError: x"})
    (row,) = [line for line in cli(redis_url, "show").output.splitlines() if line.startswith("a ")]
    assert "never" in row and "failed (manual run)" in row, row

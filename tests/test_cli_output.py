"""What people and machines read from the CLI (issue 9 §5): colour, JSON, wording."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import pytest
import redis
from click.testing import CliRunner, Result
from plan_helpers import entry, every

from redbeat_sync.cli import main
from redbeat_sync.insights import load
from redbeat_sync.schedule.entry import Cron
from redbeat_sync.state.layout import Layout

PREFIX = "rs-out:"
LAYOUT = Layout(PREFIX)
CLI = [sys.executable, "-m", "redbeat_sync"]
FILES = """version: 1
entries:
  ping: {task: app.ping, schedule: {every: 30s}, timezone: Europe/Paris}
  off: {task: app.off, schedule: {cron: '0 3 * * *'}, enabled: false}
"""
ESC = "\x1b["


def cli(redis_url: str, *args: str, env: dict[str, str] | None = None) -> Result:
    base = {"REDBEAT_SYNC_REDIS_URL": redis_url, "REDBEAT_SYNC_KEY_PREFIX": PREFIX}
    return CliRunner().invoke(main, list(args), env={**base, **(env or {})})


def schedule(tmp_path: Path, text: str = FILES) -> str:
    path = tmp_path / "s.yaml"
    path.write_text(text, encoding="utf-8")
    return str(path)


# --------------------------------------------------------------------------- colour


@pytest.mark.parametrize(
    ("flags", "no_color", "coloured"),
    [
        (["--color"], None, True),  # forced: also into a pipe (CI logs)
        ([], None, False),  # a pipe is not a terminal
        (["--color"], "1", True),  # the flag beats the environment (no-color.org)
        (["--no-color"], None, False),
    ],
)
def test_color_flag_is_honoured_when_piped(
    redis_url: str, tmp_path: Path, flags: list[str], no_color: str | None, coloured: bool
) -> None:
    env = {k: v for k, v in os.environ.items() if k != "NO_COLOR"}
    env.update(REDBEAT_SYNC_REDIS_URL=redis_url, REDBEAT_SYNC_KEY_PREFIX=PREFIX)
    if no_color:
        env["NO_COLOR"] = no_color
    proc = subprocess.run(
        [*CLI, "plan", *flags, schedule(tmp_path)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert (ESC in proc.stdout) is coloured, proc.stdout


# --------------------------------------------------------------------------- JSON


def test_show_json_gives_iso_times_and_nulls(redis_url: str, tmp_path: Path) -> None:
    assert cli(redis_url, "apply", "--auto-approve", schedule(tmp_path)).exit_code == 0
    result = cli(redis_url, "show", "--format", "json")
    assert result.exit_code == 0, result.output
    rows = {row["name"]: row for row in json.loads(result.output)["entries"]}
    ping, off = rows["ping"], rows["off"]
    assert ping["last_run"] is None and off["last_run"] is None  # never ran: not "never"
    assert off["next_run"] is None and off["enabled"] is False  # not "disabled"
    utc = datetime.fromisoformat(ping["next_run"]["utc"])
    local = datetime.fromisoformat(ping["next_run"]["local"])
    assert utc == local and utc.utcoffset().total_seconds() == 0  # type: ignore[union-attr]
    assert local.utcoffset().total_seconds() in (3600, 7200)  # type: ignore[union-attr]
    assert ping["schedule"] == {"every": 30.0} and ping["timezone"] == "Europe/Paris"
    for sentinel in ('"never"', '"disabled"', '"-"'):
        assert sentinel not in result.output


def test_apply_json_is_one_document_on_stdout_with_counts_and_names(
    redis_url: str, redis_client: redis.Redis, tmp_path: Path
) -> None:
    result = cli(redis_url, "apply", "--auto-approve", "--format", "json", schedule(tmp_path))
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)  # the whole of stdout is one JSON document
    assert document["summary"]["create"] == 2  # the plan, as plan --format json gives it
    applied = document["apply"]
    assert applied["outcome"] == "applied"
    assert applied["counts"] == {"create": 2}
    assert applied["changes"] == {"create": {"count": 2, "names": ["off", "ping"]}}
    assert applied["written"]["created"] == 2 and applied["audit_id"]
    again = cli(redis_url, "apply", "--auto-approve", "--format", "json", schedule(tmp_path))
    assert json.loads(again.stdout)["apply"] is None  # no changes: nothing applied

    redis_client.set(LAYOUT.sync_lock_key, json.dumps({"id": "x", "holder": "h"}), px=60_000)
    blocked = cli(
        redis_url,
        "apply",
        "--auto-approve",
        "--format",
        "json",
        "--lock-timeout",
        "0",
        schedule(tmp_path, FILES.replace("30s", "31s")),
    )
    assert blocked.exit_code == 1
    failed = json.loads(blocked.stdout)["apply"]
    assert failed["outcome"] == "refused" and failed["written"]["batches"] == 0
    assert "sync lock" in failed["error"] and "sync lock" in blocked.stderr


def test_validate_json_lists_problems_as_objects(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "version: 1\nentries:\n  a: {task: t, schedule: {every: 30s}, bogus: 1}\n"
        "  b: {task: t, schedule: {cron: 'nope'}}\n",
        encoding="utf-8",
    )
    result = CliRunner().invoke(main, ["validate", "--format", "json", str(bad)])
    assert result.exit_code == 1
    document = json.loads(result.stdout)
    assert document["valid"] is False and document["error_count"] == 2
    for problem in document["problems"]:
        assert set(problem) == {"file", "line", "column", "field", "message"}
        assert problem["file"] == str(bad) and problem["line"] in (3, 4)
    assert {p["field"].split(".")[1] for p in document["problems"]} == {"a", "b"}

    good = CliRunner().invoke(main, ["validate", "--format", "json", schedule(tmp_path)])
    assert good.exit_code == 0
    assert json.loads(good.stdout)["valid"] is True and json.loads(good.stdout)["entries"] == 2


@pytest.mark.parametrize("command", ["plan", "drift", "apply"])
def test_json_output_on_bad_files_is_the_problem_document(
    command: str, redis_url: str, tmp_path: Path
) -> None:
    """``plan --format json`` on invalid files used to print nothing on stdout."""
    bad = schedule(tmp_path, "version: 1\nentries:\n  a: {task: t, schedule: {every: -5s}}\n")
    result = cli(redis_url, command, "--format", "json", bad)
    assert result.exit_code == 1
    document = json.loads(result.stdout)
    assert document["valid"] is False and document["error_count"] == 1
    (problem,) = document["problems"]
    assert set(problem) == {"file", "line", "column", "field", "message"}
    assert (problem["file"], problem["line"]) == (bad, 3)
    assert "problem found" in result.stderr  # the lines for people are still there
    assert not redis.Redis.from_url(redis_url).exists(LAYOUT.inventory_key)


# --------------------------------------------------------------------------- wording


def test_validate_ok_line_is_singular_for_one_entry(tmp_path: Path) -> None:
    one = schedule(tmp_path, "version: 1\nentries:\n  a: {task: t, schedule: {every: 30s}}\n")
    result = CliRunner().invoke(main, ["validate", one])
    assert "OK: 1 entry in 1 file is valid." in result.output


def test_abandon_wording(redis_url: str, tmp_path: Path) -> None:
    assert cli(redis_url, "apply", "--auto-approve", schedule(tmp_path)).exit_code == 0
    refused = cli(redis_url, "abandon", "ping")  # no terminal to ask on
    assert refused.exit_code == 1 and "refusing to abandon" in refused.output
    assert "plan file" not in refused.output
    released = cli(redis_url, "abandon", "ping", "--auto-approve")
    assert released.exit_code == 0, released.output
    assert "Released 1 entry" in released.output
    assert "Remove it from the schedule files too" in released.output


@pytest.mark.parametrize("width", ["60", "80", "100", "140"])
def test_help_never_cuts_a_url_scheme_and_hides_unused_options(width: str) -> None:
    for command in ("plan", "apply", "show", "export", "history", "force-unlock"):
        result = CliRunner().invoke(main, [command, "--help"], env={"COLUMNS": width})
        assert result.exit_code == 0
        for line in result.output.splitlines():
            assert not line.rstrip().endswith(("redis-", "://", "rediss-")), (command, line)
    for command in ("history", "force-unlock"):
        result = CliRunner().invoke(main, [command, "--help"])
        assert "--beat-timezone" not in result.output
    for command in ("show", "export"):
        result = CliRunner().invoke(main, [command, "--help"])
        which = result.output.split("--which", 1)[1].split("\n  -", 1)[0]
        assert "managed" in which and "unmanaged:" in which, which


def test_load_peak_counts_frequent_intervals_and_runs_are_whole() -> None:
    now = datetime(2026, 11, 24, 21, 59, 30, tzinfo=timezone.utc)
    entries = [entry(f"c{i}", schedule=Cron.from_expression("0 * * * *")) for i in range(3)]
    entries += [every("fast", 7), every("slow", 3600)]
    report = load.compute_load(entries, now=now)
    peak = report.peak()
    # 3 crons at :00 plus the 9 runs every-7s can start in one minute; the hourly one's
    # minute is unknown (it depends on its last run) so it is not in the peak.
    assert peak is not None and peak[1] == 3 + 9
    runs = report.runs("default")
    assert runs == int(runs) == 3 * 24 + 86400 // 7 + 24  # whole runs, not 12342.86
    assert ".8" not in load.render_text(report).split("Hourly")[0]


def test_drift_markdown_is_singular_for_one_entry(
    redis_url: str, redis_client: redis.Redis, tmp_path: Path
) -> None:
    assert cli(redis_url, "apply", "--auto-approve", schedule(tmp_path)).exit_code == 0
    redis_client.delete(LAYOUT.entry_key("ping"))  # deleted behind the files' back
    result = cli(redis_url, "drift", "--format", "markdown", schedule(tmp_path))
    assert "**Drift: 1 entry differs.**" in result.output, result.output


def test_validate_never_says_it_wrote_nothing(tmp_path: Path) -> None:
    bad = schedule(tmp_path, "version: 1\nentries:\n  a: {task: t, schedule: {every: -5s}}\n")
    result = CliRunner().invoke(main, ["validate", bad])
    assert result.exit_code == 1
    assert result.stderr.splitlines()[-1] == "Error: 1 problem found."


def test_export_and_show_wording(redis_url: str, tmp_path: Path) -> None:
    one = schedule(tmp_path, "version: 1\nentries:\n  a: {task: t, schedule: {every: 30s}}\n")
    assert cli(redis_url, "apply", "--auto-approve", one).exit_code == 0
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    cleanup = "celery.backend_cleanup"  # as Celery's beat installs it under RedBeat
    definition = {
        "name": cleanup, "task": cleanup, "args": [], "kwargs": {}, "options": {},
        "schedule": {"__type__": "crontab", "minute": "0", "hour": "4", "day_of_week": "*",
                     "day_of_month": "*", "month_of_year": "*"},
        "enabled": True,
    }  # fmt: skip
    client.hset(LAYOUT.entry_key(cleanup), "definition", json.dumps(definition))
    client.zadd(LAYOUT.schedule_key, {LAYOUT.entry_key(cleanup): 1})
    client.set(LAYOUT.beat_lock_key, "a-celery-redbeat-token", ex=60)  # a bare token

    exported = cli(redis_url, "export", "--out", str(tmp_path / "out"))
    assert exported.exit_code == 0, exported.output
    assert f"wrote {tmp_path / 'out' / 'managed.yaml'} (1 entry)" in exported.stderr
    assert "note: not exported: 'celery.backend_cleanup' is Celery's own" in exported.stderr

    shown = cli(redis_url, "show")
    assert shown.exit_code == 0, shown.output
    assert "\n2 entries (1 managed, 1 unmanaged).\n" in shown.stdout
    (lock,) = [line for line in shown.stdout.splitlines() if line.startswith("beat lock:")]
    assert lock.startswith("beat lock: held by ") and "holder=celery-redbeat" in lock
    assert "None" not in lock  # host, pid and since are unknown for celery-redbeat's lock


# --------------------------------------------------------------------------- saved plans


def test_a_saved_plan_refuses_another_beat_timezone(redis_url: str, tmp_path: Path) -> None:
    """--beat-timezone with a saved plan is checked, not silently ignored."""
    planfile = tmp_path / "plan.json"
    made = cli(
        redis_url, "plan", schedule(tmp_path), "--beat-timezone", "UTC", "--out", str(planfile)
    )
    assert made.exit_code == 0, made.output
    refused = cli(redis_url, "apply", str(planfile), "--beat-timezone", "Europe/Paris")
    assert refused.exit_code == 1
    assert "made for beat timezone 'UTC'" in refused.output + refused.stderr
    assert "--beat-timezone says 'Europe/Paris'" in refused.output + refused.stderr
    assert not redis.Redis.from_url(redis_url).exists(LAYOUT.schedule_key)  # nothing written
    same = cli(redis_url, "apply", str(planfile), "--beat-timezone", "UTC", "--auto-approve")
    assert same.exit_code == 0, same.output

"""Load view: runs per minute per queue, pile-ups, histogram; CLI and plan notes."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

from click.testing import CliRunner
from plan_helpers import entry, every, spec, state

from redbeat_sync.cli import main
from redbeat_sync.insights import load
from redbeat_sync.plan.compare import compute_plan
from redbeat_sync.plan.render_markdown import render_markdown
from redbeat_sync.plan.render_text import render_text
from redbeat_sync.schedule.entry import At, Cron

UTC = timezone.utc
NOW = datetime(2026, 11, 24, 21, 59, 30, tzinfo=UTC)  # window starts 22:00


def cron(name: str, expression: str, queue: str | None = None, **fields):  # type: ignore[no-untyped-def]
    options = {"queue": queue} if queue else {}
    return entry(name, schedule=Cron.from_expression(expression), options=options, **fields)


def test_hourly_pileup_detected_per_queue() -> None:
    entries = [cron(f"r{i}", "0 * * * *", "reports") for i in range(42)]
    entries += [cron(f"m{i}", "0 * * * *", "mail") for i in range(3)]
    report = load.compute_load(entries, now=NOW)
    assert report.start == datetime(2026, 11, 24, 22, 0, tzinfo=UTC)
    assert report.runs("reports") == 42 * 24 and report.runs("mail") == 3 * 24
    peak = report.peak()
    assert peak is not None and peak[1:] == (42, "reports")
    (pileup,) = report.pileups()  # mail (3) is under the threshold
    assert pileup.sentence() == (
        "minute :00 of every hour: 42 entries fire together on queue reports"
    )
    assert pileup.minutes == 24


def test_daily_and_single_pileups_and_threshold() -> None:
    entries = [cron(f"d{i}", "30 3 * * *") for i in range(12)]
    week = load.compute_load(entries, window="7d", now=NOW)
    assert [p.pattern for p in week.pileups()] == ["every day at 03:30 UTC"]
    day = load.compute_load(entries, now=NOW)
    assert [p.pattern for p in day.pileups()] == ["at 2026-11-25 03:30 UTC"]
    assert load.compute_load(entries, now=NOW, threshold=13).pileups() == []


def test_histogram_per_hour_and_zones() -> None:
    entries = [cron("a", "*/15 * * * *"), cron("b", "0 9 * * *", timezone="Europe/Paris")]
    report = load.compute_load(entries, now=NOW)
    hourly = report.hourly()
    assert hourly[8] == 4 + 1  # 09:00 Paris is 08:00 UTC in winter
    assert hourly[9] == 4 and sum(hourly) == 96 + 1


def test_intervals_counted_but_not_piled_up() -> None:
    entries = [every(f"e{i}", 60) for i in range(50)]
    report = load.compute_load(entries, now=NOW)
    assert report.runs("default") == 50 * 1440
    assert report.pileups() == [] and report.interval_entries == 50
    assert round(sum(report.hourly())) == 50 * 1440


def test_by_label_and_disabled_and_one_off() -> None:
    entries = [cron(f"t{i}", "0 * * * *", labels={"team": "data"}) for i in range(10)]
    entries.append(cron("off", "0 * * * *", enabled=False))
    entries.append(entry("once", schedule=At(NOW + timedelta(hours=2))))
    report = load.compute_load(entries, by="label:team", now=NOW)
    assert report.groups == ["(none)", "data"]
    assert report.runs("(none)") == 1 and report.runs("data") == 240
    assert report.pileups()[0].sentence("label:team").endswith("on label:team data")


def test_json_and_text_render() -> None:
    entries = [cron(f"r{i}", "0 * * * *", "reports") for i in range(11)]
    report = load.compute_load(entries, now=NOW)
    data = load.to_json(report)
    assert data["peak"]["count"] == 11 and len(data["hourly"]) == 24
    assert data["pileups"][0]["pattern"] == "minute :00 of every hour"
    json.dumps(data)
    text = load.render_text(report)
    assert "warning: minute :00 of every hour: 11 entries fire together on queue reports" in text
    assert "22h" in text and "█" in text


def test_many_entries_are_all_counted() -> None:
    # How long 100k entries take: bench/bench_scale.py.
    expressions = ["0 * * * *", "*/5 * * * *", "30 2 * * *", "0 9 * * mon-fri", "15 */2 * * *"]
    entries = [cron(f"j{i}", expressions[i % 5], ("a", "b", "c")[i % 3]) for i in range(10_000)]
    report = load.compute_load(entries, window="7d", now=NOW)
    assert report.entries == 10_000


def test_plan_mentions_pileups_in_a_few_lines() -> None:
    wanted = [cron(f"r{i}", "0 * * * *", "reports") for i in range(20)]
    plan = compute_plan(spec(*wanted), state(), now=NOW)
    notes = [w for w in plan.warnings if w.startswith("load:")]
    assert 1 <= len(notes) <= 3
    assert "20 entries fire together on queue reports" in notes[0]
    assert "load: minute :00 of every hour" in render_text(plan)
    assert "load: minute :00 of every hour" in render_markdown(plan).replace("\\", "")
    calm = compute_plan(spec(cron("x", "0 * * * *")), state(), now=NOW)
    assert not [w for w in calm.warnings if w.startswith("load:")]


def test_cli_load(tmp_path: Path) -> None:
    lines = ["version: 1", "entries:"]
    for i in range(12):
        lines += [f"  j{i}:", "    task: a.b", "    schedule: {cron: '0 * * * *'}"]
        lines += ["    options: {queue: reports}"]
    lines += ["  spread:", "    task: a.b", "    schedule: {cron: 'H * * * *'}"]
    (tmp_path / "s.yaml").write_text("\n".join(lines) + "\n")
    runner = CliRunner()
    result = runner.invoke(main, ["load", str(tmp_path), "--format", "json", "--window", "7d"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["window_minutes"] == 7 * 1440 and data["groups"]["reports"]["runs"] == 12 * 168
    assert data["pileups"][0]["count"] == 12
    result = runner.invoke(main, ["load", str(tmp_path), "--pileup", "20"])
    assert result.exit_code == 0 and "Pile-ups" not in result.output
    result = runner.invoke(main, ["load", str(tmp_path), "--by", "team"])
    assert result.exit_code == 1 and "label:NAME" in result.output
    assert runner.invoke(main, ["load"]).exit_code == 1


def test_cli_load_from_redis(redis_url: str, redis_client) -> None:  # type: ignore[no-untyped-def]
    from apply_helpers import apply_files

    from redbeat_sync.state.layout import Layout

    layout = Layout("rs-load:")
    wanted = [cron(f"r{i}", "0 * * * *", "reports") for i in range(10)]
    apply_files(redis_client, layout, spec(*wanted))
    args = ["load", "--from-redis", "--redis-url", redis_url, "--key-prefix", layout.prefix]
    result = CliRunner().invoke(main, [*args, "--format", "json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["groups"]["reports"]["runs"] == 240


def test_weekday_pileups_are_grouped_by_clock_time() -> None:
    entries = [cron(f"w{i}", "0 9 * * mon-fri") for i in range(15)]
    report = load.compute_load(entries, window="7d", now=NOW)
    assert [p.pattern for p in report.pileups()] == ["09:00 UTC on 5 days"]

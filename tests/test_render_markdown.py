"""Markdown plans (PR comments, job summaries): golden files plus targeted checks.

Regenerate the goldens after an intended change with
``REDBEAT_SYNC_UPDATE_GOLDEN=1 .venv/bin/pytest tests/test_render_markdown.py`` and
review the diff of tests/golden/*.md like any other change.
"""

from __future__ import annotations

import json
import os
import re
from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from redbeat_sync.plan.actions import ABSENT, Action, FieldChange, Plan
from redbeat_sync.plan.render_markdown import code_span, render_markdown, summary_sentence
from redbeat_sync.plan.render_text import render_text
from redbeat_sync.schedule.entry import Cron, Entry, Every, RunState
from redbeat_sync.state.stored import StoredEntry

GOLDEN = Path(__file__).parent / "golden"
CREATED_AT = datetime(2026, 11, 24, 22, 0, tzinfo=timezone.utc)
PARIS = ZoneInfo("Europe/Paris")


def check_golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("REDBEAT_SYNC_UPDATE_GOLDEN"):
        # CI checks the goldens; it never rewrites them (that would always pass)
        assert not os.environ.get("CI"), "REDBEAT_SYNC_UPDATE_GOLDEN is refused under CI"
        path.parent.mkdir(exist_ok=True)
        path.write_text(text, encoding="utf-8")
    assert path.exists(), f"{path} missing: run with REDBEAT_SYNC_UPDATE_GOLDEN=1"
    assert text == path.read_text(encoding="utf-8")


def stored(entry: Entry, *, managed: bool = True) -> StoredEntry:
    return StoredEntry.decoded(
        name=entry.name,
        key="redbeat:" + entry.name,
        entry=entry,
        run=RunState(last_run_at=CREATED_AT - timedelta(hours=1), total_run_count=4),
        managed=managed,
        marked=managed,
        score=1_790_000_000.0,
        definition_raw=json.dumps({"name": entry.name}),
        extra_raw=None,
    )


def nightly() -> Entry:
    return Entry(
        name="nightly-report",
        task="reports.nightly",
        schedule=Cron("0", "3", "*", "*", "*"),
        kwargs={"fmt": "pdf"},
        options={"queue": "reports"},
        timezone="Europe/Paris",
    )


def mixed_plan() -> Plan:
    cleanup_old = Entry(
        name="cleanup", task="ops.cleanup", schedule=Every(3600.0), options={"queue": "default"}
    )
    cleanup_new = Entry(
        name="cleanup",
        task="ops.cleanup",
        schedule=Every(3600.0),
        args=["a|b", "`tick`"],
        options={"queue": "low"},
    )
    hourly = Entry(name="hourly-sync", task="sync.run", schedule=Cron("15", "*", "*", "*", "*"))
    minutely = Entry(name="poll", task="sync.poll", schedule=Cron("*", "*", "*", "*", "*"))
    seven = Entry(name="poll", task="sync.poll", schedule=Every(7.0))
    legacy = Entry(name="legacy-job", task="legacy.job", schedule=Every(60.0))
    old = Entry(name="old-job", task="ops.old", schedule=Cron("0", "0", "*", "*", "0"))
    actions = [
        Action(
            "create",
            "nightly-report",
            nightly(),
            None,
            next_runs=[datetime(2026, 11, d, 3, 0, tzinfo=PARIS) for d in (25, 26, 27)],
            requires_scheduler=["cron in Europe/Paris, beat runs in UTC"],
            source="schedules/reports.yaml:3",
        ),
        Action(
            "adopt", "legacy-job", legacy, stored(legacy, managed=False), source="legacy.yaml:1"
        ),
        Action(
            "update",
            "cleanup",
            cleanup_new,
            stored(cleanup_old),
            changes=[
                FieldChange("args[0]", ABSENT, "a|b"),
                FieldChange("args[1]", ABSENT, "`tick`"),
                FieldChange("options.queue", "default", "low"),
            ],
            warnings=["<script>alert('x')</script> *not* emphasised"],
            source="schedules/ops.yaml:7",
        ),
        Action(
            "reschedule",
            "hourly-sync",
            hourly,
            stored(hourly),
            next_runs=[datetime(2026, 11, 24, h, 15, tzinfo=timezone.utc) for h in (22, 23)],
            source="schedules/ops.yaml:20",
        ),
        Action(
            "reschedule",
            "poll",
            seven,
            stored(minutely),
            changes=[FieldChange("schedule", {"cron": "* * * * *"}, {"every": 7.0})],
            # kept last_run_at 21:59:00: the 7s slot 21:59:56 is overdue, sent at once
            next_runs=[CREATED_AT, *(CREATED_AT + timedelta(seconds=s) for s in (3, 10))],
            at_once_for=CREATED_AT - timedelta(seconds=4),
            source="schedules/ops.yaml:24",
        ),
        Action("delete", "old-job", None, stored(old)),
        Action("noop", "steady", hourly, stored(hourly)),
    ]
    return Plan(
        actions=actions,
        fingerprint="0123456789abcdef" * 2,
        unmanaged=["manual-a", "manual_b"],
        prefix="redbeat:",
        created_at=CREATED_AT,
        warnings=["maxmemory-policy is allkeys-lru: entries may be evicted"],
    )


def many_plan(count: int) -> Plan:
    actions = []
    for i in range(count):
        entry = Entry(
            name=f"job-{i:04d}",
            task="bulk.task",
            schedule=Every(60.0 + i),
            kwargs={"payload": "x" * 150},
        )
        actions.append(Action("create", entry.name, entry, None, source=f"bulk.yaml:{i + 1}"))
    return Plan(actions, "f" * 40, [], "redbeat:", CREATED_AT)


def test_no_changes_golden() -> None:
    steady = Entry(name="steady", task="t", schedule=Every(30.0))
    plan = Plan(
        [Action("noop", "steady", steady, stored(steady))], "a" * 40, [], "app:", CREATED_AT
    )
    text = render_markdown(plan)
    assert "**No changes.**" in text
    assert "<details>" not in text
    check_golden("plan_no_changes.md", text)


def test_mixed_plan_golden() -> None:
    text = render_markdown(mixed_plan(), log_url="https://example.invalid/run/1")
    check_golden("plan_mixed.md", text)


def test_mixed_plan_structure() -> None:
    text = render_markdown(mixed_plan())
    # summary first, then one collapsed section per change in plan order
    assert text.index("**Plan: 1 to create, 3 to update, 1 to delete, 1 to adopt.**") < (
        text.index("<details>")
    )
    summaries = re.findall(r"<details><summary><code>(.*?)</code>", text)
    assert summaries == [
        "+ nightly-report",
        "&lt;= legacy-job",
        "~ cleanup",
        "~ hourly-sync",
        "~ poll",
        "- old-job",
    ]
    assert "update **3** (2 reschedule)" in text
    assert "unchanged 1 · unmanaged 2" in text
    assert "2 unmanaged entries in Redis left untouched" in text
    assert "`2026-11-25 03:00 CET`" in text
    assert "Requires `redbeat_sync.Scheduler`:** cron in Europe/Paris" in text
    assert "truncat" not in text and "not shown" not in text
    # a change of schedule kind and its frequency in the plan's words, not raw JSON
    assert "| `schedule` | `cron * * * * * (UTC)` | `every 7s` |" in text
    assert "**Frequency:** 1,440 → 12,343 runs/day" in text
    assert "**Next runs:** `now (catch-up for 21:59:56 UTC)`, `2026-11-24 22:00:03 UTC`" in text


def test_same_sentence_as_the_text_plan() -> None:
    plan = mixed_plan()
    assert render_text(plan).rstrip().splitlines()[-1] == summary_sentence(plan)


def test_untrusted_values_cannot_inject_markup() -> None:
    text = render_markdown(mixed_plan())
    assert "<script>" not in text  # warnings are HTML-escaped
    assert "&lt;script&gt;" in text
    assert r"\*not\* emphasised" in text
    # a pipe inside a value must not split the table row; backticks widen the fence
    row = next(line for line in text.splitlines() if line.startswith("| `args[0]`"))
    assert row == '| `args[0]` | *(absent)* | `"a\\|b"` |'
    assert '| ``` "`tick`" ``` |' in text or '| `` "`tick`" `` |' in text


def test_code_span_handles_backticks_and_pipes() -> None:
    assert code_span("plain") == "`plain`"
    assert code_span("a`b") == "`` a`b ``"
    assert code_span("x``y") == "``` x``y ```"
    assert code_span("a|b", in_table=True) == "`a\\|b`"
    assert code_span("two\nlines") == "`two lines`"


def test_truncation_golden() -> None:
    text = render_markdown(many_plan(12), max_chars=4000, log_url="https://example.invalid/r/9")
    assert len(text) <= 4000
    check_golden("plan_truncated.md", text)


@pytest.mark.parametrize("count", [1, 40, 400])
def test_truncation_stays_under_the_limit_and_counts_what_is_left_out(count: int) -> None:
    limit = 6000
    text = render_markdown(many_plan(count), max_chars=limit, log_url="https://x.invalid/l")
    assert len(text) <= limit
    shown = text.count("<details><summary><code>")
    assert text.startswith("### redbeat-sync plan for `redbeat:`")
    assert f"**Plan: {count} to create, 0 to update, 0 to delete.**" in text
    if shown == count:
        assert "not shown" not in text
    else:
        left = count - shown
        noun = "entry" if left == 1 else "entries"
        assert f"**… {left} more {noun} not shown;** see the full plan in the " in text
        assert "[job log](https://x.invalid/l)" in text
        assert shown >= 1


def test_default_limit_fits_a_github_comment() -> None:
    text = render_markdown(many_plan(2000))
    assert len(text) <= 60_000 < 65_536
    assert "more entries not shown; see the full plan in the job log." in text.replace("**", "")


def test_a_huge_change_list_is_cut_inside_its_section() -> None:
    entry = Entry(name="wide", task="t", schedule=Every(1.0), args=list(range(100)))
    changes = [FieldChange(f"args[{i}]", ABSENT, i) for i in range(100)]
    plan = Plan(
        [Action("update", "wide", entry, stored(entry), changes=changes)], "b" * 40, [], "p:",
        CREATED_AT,
    )  # fmt: skip
    text = render_markdown(plan)
    assert "| `args[39]` |" in text and "| `args[40]` |" not in text
    assert "*… 60 more fields (see the job log)*" in text


def test_golden_updates_are_refused_under_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REDBEAT_SYNC_UPDATE_GOLDEN", "1")
    monkeypatch.setenv("CI", "true")
    with pytest.raises(AssertionError, match="refused under CI"):
        check_golden("never-written.md", "anything")
    assert not (GOLDEN / "never-written.md").exists()

"""Text and JSON renderings of plans built from hand-made states."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from plan_helpers import NOW, entry, every, spec, state, stored

from redbeat_sync.drift import drift_from_plan, render_drift_markdown, render_drift_text
from redbeat_sync.plan.compare import compute_plan
from redbeat_sync.plan.render_json import FORMAT_VERSION, render_json
from redbeat_sync.plan.render_text import format_value, render_text
from redbeat_sync.schedule.entry import Cron, RunState


def mixed_plan():  # type: ignore[no-untyped-def]
    current = state(
        stored(entry("upd", options={"queue": "default"})),
        stored(every("resched", 60)),
        stored(entry("gone")),
        stored(entry("legacy"), managed=False, run=RunState(NOW, 3)),
        stored(entry("legacy-2", args=[1]), managed=False),
        stored(entry("other"), managed=False),
    )
    files = spec(
        entry("new", timezone="Europe/Paris"),
        entry("upd", options={"queue": "low"}),
        every("resched", 120),
        entry("legacy"),
        entry("legacy-2", args=[2]),
    )
    return compute_plan(files, current, beat_timezone="UTC", now=NOW)


def test_final_line_counts_reschedules_as_updates_and_adopts_separately() -> None:
    text = render_text(mixed_plan(), color=False)
    assert text.rstrip("\n").splitlines()[-1] == (
        "Plan: 1 to create, 2 to update, 1 to delete, 2 to adopt."
    )


def test_final_line_without_adopts() -> None:
    plan = compute_plan(spec(entry("a")), state(stored(entry("b"))), now=NOW)
    assert render_text(plan, color=False).splitlines()[-1] == (
        "Plan: 1 to create, 0 to update, 1 to delete."
    )


def test_no_changes() -> None:
    plan = compute_plan(spec(entry("a")), state(stored(entry("a"))), now=NOW)
    assert render_text(plan, color=False) == "No changes.\n"


def test_text_shows_markers_changes_next_runs_and_requirements() -> None:
    text = render_text(mixed_plan(), color=False)
    lines = text.splitlines()
    assert "+ new" in lines
    assert "~ upd" in lines
    assert '    options.queue: "default" → "low"' in lines
    assert "~ resched (reschedule)" in lines
    assert "    schedule.every: every 1m → every 2m" in lines
    assert "- gone" in lines
    assert "<= legacy (adopt)" in lines
    assert "<= legacy-2 (adopt)" in lines
    assert "    args[0]: 1 → 2" in lines
    assert "    next: 2026-11-25 03:00 CET, 2026-11-26 03:00 CET, 2026-11-27 03:00 CET" in lines
    assert "    requires redbeat_sync.Scheduler: cron in Europe/Paris, beat runs in UTC" in lines
    assert "1 unmanaged entry in Redis left untouched: other" in lines
    assert "\033[" not in text


def test_color_only_when_asked() -> None:
    colored = render_text(mixed_plan(), color=True)
    assert "\033[32m+ new\033[0m" in colored
    assert "\033[31m- gone\033[0m" in colored
    assert colored.splitlines()[-1] == "Plan: 1 to create, 2 to update, 1 to delete, 2 to adopt."


def test_many_unmanaged_are_summarised() -> None:
    current = state(*(stored(entry(f"u{i:02d}"), managed=False) for i in range(12)))
    text = render_text(compute_plan(spec(), current, now=NOW), color=False)
    assert "12 unmanaged entries in Redis left untouched: u00, u01, u02, u03, u04, … (7 more)" in (
        text
    )
    assert text.splitlines()[-1] == "No changes."


def test_long_values_are_truncated() -> None:
    shown = format_value({"payload": "x" * 500})
    assert len(shown) <= 72 and shown.endswith("…")
    assert format_value([1, "a", None]) == '[1, "a", null]'


def test_json_shape() -> None:
    data = json.loads(render_json(mixed_plan()))
    assert data["format_version"] == FORMAT_VERSION == "2"
    assert data["prefix"] == "redbeat:"
    assert data["fingerprint"] == "fp-1"
    assert data["created_at"] == "2026-11-24T22:00:00+00:00"
    assert data["summary"] == {
        "create": 1, "update": 2, "delete": 1, "adopt": 2, "move": 0, "release": 0,
        "noop": 0, "unmanaged": 1,
    }  # fmt: skip
    assert data["unmanaged"] == ["other"]
    by_name = {a["name"]: a for a in data["actions"]}
    assert set(by_name) == {"new", "upd", "resched", "gone", "legacy", "legacy-2"}
    upd = by_name["upd"]
    assert upd["action"] == "update"
    assert upd["changes"] == [
        {"path": "options.queue", "change": "changed", "old": "default", "new": "low"}
    ]
    assert upd["before"]["options"] == {"queue": "default"}
    assert upd["after"]["options"] == {"queue": "low"}
    new = by_name["new"]
    assert new["before"] is None and new["after"]["timezone"] == "Europe/Paris"
    assert new["next_runs"][0] == "2026-11-25T03:00:00+01:00"
    assert new["requires_scheduler"] == ["cron in Europe/Paris, beat runs in UTC"]
    assert by_name["gone"]["after"] is None
    assert by_name["resched"]["action"] == "reschedule"
    for action in data["actions"]:
        assert set(action) >= {
            "action", "name", "changes", "next_runs", "requires_scheduler", "before", "after",
        }  # fmt: skip


def test_json_added_field_has_null_old() -> None:
    plan = compute_plan(spec(entry("j", kwargs={"k": 1})), state(stored(entry("j"))), now=NOW)
    (action,) = json.loads(render_json(plan))["actions"]
    assert action["changes"] == [{"path": "kwargs.k", "change": "added", "old": None, "new": 1}]


def test_a_change_of_schedule_kind_reads_in_the_plans_words() -> None:
    ran = stored(entry("j", schedule=Cron.from_expression("* * * * *")), run=RunState(NOW))
    plan = compute_plan(spec(every("j", 7)), state(ran), now=NOW)
    lines = render_text(plan).splitlines()
    assert "    schedule: cron * * * * * (UTC) → every 7s" in lines
    assert "    frequency: 1,440 → 12,343 runs/day" in lines
    assert not any("{" in line for line in lines)  # no raw JSON left


def test_datetimes_never_look_like_the_strings_they_differ_from() -> None:
    paris = datetime(2026, 1, 1, 9, tzinfo=ZoneInfo("Europe/Paris"))
    fixed = datetime(2026, 1, 1, 9, tzinfo=timezone(timedelta(hours=1)))
    held = stored(entry("j", args=[paris, fixed], kwargs={"at": "2026-01-01T09:00:00+01:00"}))
    wanted = entry("j", args=[fixed, paris], kwargs={"at": paris})
    lines = render_text(compute_plan(spec(wanted), state(held), now=NOW)).splitlines()
    assert (
        "    args[0]: datetime 2026-01-01T09:00:00 Europe/Paris → "
        "datetime 2026-01-01T09:00:00+01:00"
    ) in lines
    assert (
        '    kwargs.at: "2026-01-01T09:00:00+01:00" → datetime 2026-01-01T09:00:00 Europe/Paris'
        in (lines)
    )


def test_drift_counts_read_as_english() -> None:
    plan = compute_plan(spec(entry("j", args=[2])), state(stored(entry("j", args=[1]))), now=NOW)
    drift = drift_from_plan(plan, state(stored(entry("j", args=[1]))))
    assert "**Drift: 1 entry differs.**" in render_drift_markdown(drift)
    assert "Drift: 1 entry (1 changed in Redis)." in render_drift_text(drift)


def test_interval_changes_keep_their_unit() -> None:
    plan = compute_plan(spec(every("j", 0.5)), state(stored(every("j", 90))), now=NOW)
    assert "    schedule.every: every 1m30s → every 0.5s" in render_text(plan).splitlines()

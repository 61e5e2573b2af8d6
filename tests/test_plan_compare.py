"""compute_plan on hand-built files and states: one test per kind of decision."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from plan_helpers import NOW, entry, every, spec, state, stored
from reader_oracles import build_stored_entry

from redbeat_sync.errors import UserError, field_path
from redbeat_sync.fileformat.loader import Spec, SpecEntry
from redbeat_sync.plan.actions import ABSENT, FieldChange
from redbeat_sync.plan.compare import canonical_equal, compute_plan, field_changes
from redbeat_sync.schedule.entry import Cron, Entry, Every, RunState
from redbeat_sync.state import codec
from redbeat_sync.state.layout import Layout
from redbeat_sync.state.stored import StoredEntry


def kinds(plan) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return {a.name: a.kind for a in plan.actions}


def only(plan, name: str):  # type: ignore[no-untyped-def]
    (action,) = [a for a in plan.actions if a.name == name]
    return action


def test_create_when_in_files_and_not_in_redis() -> None:
    plan = compute_plan(spec(entry("new")), state(), now=NOW)
    action = only(plan, "new")
    assert action.kind == "create"
    assert action.current is None and action.desired is not None
    assert action.expect_digest is None
    assert len(action.next_runs) == 3
    assert action.next_runs[0] == datetime(2026, 11, 25, 3, 0, tzinfo=timezone.utc)
    assert plan.has_changes


def test_equal_entries_are_noops() -> None:
    wanted = entry("same", args=[1, "x"], kwargs={"a": {"b": [1]}})
    plan = compute_plan(spec(wanted), state(stored(wanted)), now=NOW)
    assert kinds(plan) == {"same": "noop"}
    assert not plan.has_changes
    assert plan.counts["noop"] == 1


def test_update_lists_field_level_changes() -> None:
    old = entry("job", args=[1, 2], options={"queue": "default"})
    new = entry("job", args=[1, 3], options={"queue": "low", "priority": 5})
    action = only(compute_plan(spec(new), state(stored(old)), now=NOW), "job")
    assert action.kind == "update"
    assert action.changes == [
        FieldChange("args[1]", 2, 3),
        FieldChange("options.priority", ABSENT, 5),
        FieldChange("options.queue", "default", "low"),
    ]
    assert action.next_runs == []  # the due time does not move
    assert action.expect_digest == action.current.digest


def test_removed_field_and_type_changes_are_changes() -> None:
    old = entry("job", args=[1], kwargs={"gone": True})
    new = entry("job", args=[1.0], kwargs={})
    changes = field_changes(old.to_canonical(), new.to_canonical())
    assert FieldChange("kwargs.gone", True, ABSENT) in changes
    assert [c.path for c in changes] == ["args[0]", "kwargs.gone"]
    # 1 == 1.0 == True in Python, but a task would receive a different value
    assert not canonical_equal({"a": [1]}, {"a": [1.0]})
    assert not canonical_equal({"a": [1]}, {"a": [True]})
    assert canonical_equal({"a": [1], "b": 2}, {"b": 2, "a": [1]})


def test_int_vs_float_argument_is_an_update_not_a_noop() -> None:
    plan = compute_plan(spec(entry("j", args=[True])), state(stored(entry("j", args=[1]))), now=NOW)
    assert only(plan, "j").kind == "update"


def test_disable_and_enable_are_updates() -> None:
    on, off = entry("job"), entry("job", enabled=False)
    disabling = only(compute_plan(spec(off), state(stored(on)), now=NOW), "job")
    assert disabling.kind == "update"
    assert disabling.changes == [FieldChange("enabled", True, False)]
    enabling = only(compute_plan(spec(on), state(stored(off)), now=NOW), "job")
    assert enabling.kind == "update"
    assert enabling.changes == [FieldChange("enabled", False, True)]


@pytest.mark.parametrize(
    ("old", "new", "path"),
    [
        (entry("j"), entry("j", schedule=Cron.from_expression("0 4 * * *")), "schedule.cron"),
        (every("j", 60), every("j", 90), "schedule.every"),
        (entry("j"), entry("j", timezone="Europe/Paris"), "timezone"),
        (entry("j"), entry("j", end_at=datetime(2027, 1, 1, tzinfo=timezone.utc)), "end_at"),
        (entry("j"), every("j", 60), "schedule"),  # another kind of schedule: one change
    ],
)
def test_schedule_changes_are_reschedules(old, new, path) -> None:  # type: ignore[no-untyped-def]
    action = only(compute_plan(spec(new), state(stored(old)), now=NOW), "j")
    assert action.kind == "reschedule"
    assert path in [c.path for c in action.changes]
    assert len(action.next_runs) == 3


def test_schedule_kind_change_is_one_whole_change() -> None:
    action = only(compute_plan(spec(every("j", 60)), state(stored(entry("j"))), now=NOW), "j")
    assert action.changes == [FieldChange("schedule", {"cron": "0 3 * * *"}, {"every": 60.0})]


def test_reschedule_next_runs_are_in_the_entrys_zone() -> None:
    new = entry("j", timezone="Europe/Paris")
    ran = stored(entry("j"), run=RunState(NOW, 4))
    action = only(compute_plan(spec(new), state(ran), now=NOW), "j")
    first = action.next_runs[0]
    assert (first.hour, first.minute) == (3, 0)
    assert first.utcoffset() is not None and first.utcoffset().total_seconds() == 3600


def test_delete_managed_entry_missing_from_files() -> None:
    gone = entry("old")
    plan = compute_plan(spec(), state(stored(gone)), now=NOW)
    action = only(plan, "old")
    assert action.kind == "delete"
    assert action.desired is None
    assert action.expect_digest == stored(gone).digest


def test_delete_of_key_already_gone_only_forgets_it() -> None:
    plan = compute_plan(spec(), state(inventory={"ghost"}), now=NOW)
    action = only(plan, "ghost")
    assert action.kind == "delete"
    assert action.current is None and action.expect_digest is None
    assert any("already gone" in w for w in action.warnings)


def test_adopt_unmanaged_entry_named_in_files_without_changes() -> None:
    legacy = entry("legacy")
    current = stored(legacy, managed=False, run=RunState(NOW, 7))
    action = only(compute_plan(spec(legacy), state(current), now=NOW), "legacy")
    assert action.kind == "adopt"
    assert action.changes == []
    assert action.current is current
    assert action.next_runs == []


def test_adopt_with_field_changes() -> None:
    current = stored(entry("legacy", options={"queue": "a"}), managed=False)
    wanted = entry("legacy", options={"queue": "b"})
    action = only(compute_plan(spec(wanted), state(current), now=NOW), "legacy")
    assert action.kind == "adopt"
    assert action.changes == [FieldChange("options.queue", "a", "b")]
    plan = compute_plan(spec(wanted), state(current), now=NOW)
    assert plan.summary()["adopt"] == 1 and plan.summary()["update"] == 0


def test_adopt_with_schedule_change_shows_next_runs() -> None:
    current = stored(every("legacy", 60), managed=False)
    action = only(compute_plan(spec(every("legacy", 120)), state(current), now=NOW), "legacy")
    assert action.kind == "adopt"
    assert len(action.next_runs) == 3


def test_unmanaged_entries_not_in_files_are_listed_and_untouched() -> None:
    theirs = [stored(entry(n), managed=False) for n in ("theirs-b", "theirs-a")]
    plan = compute_plan(spec(entry("mine")), state(stored(entry("mine")), *theirs), now=NOW)
    assert plan.unmanaged == ["theirs-a", "theirs-b"]
    assert kinds(plan) == {"mine": "noop"}
    assert plan.counts["unmanaged"] == 2


def test_undecodable_entry_named_in_files_is_rewritten() -> None:
    broken = stored(None, name="bad", error="unknown schedule type 'solar'")
    action = only(compute_plan(spec(entry("bad")), state(broken), now=NOW), "bad")
    assert action.kind == "update"
    assert action.expect_digest == broken.digest
    assert any("unknown schedule type 'solar'" in w for w in action.warnings)


def test_undecodable_managed_entry_not_in_files_is_deleted() -> None:
    broken = stored(None, name="bad", error="boom")
    assert kinds(compute_plan(spec(), state(broken), now=NOW)) == {"bad": "delete"}


def test_undecodable_unmanaged_entry_is_listed_with_a_warning() -> None:
    broken = stored(None, name="bad", managed=False, error="boom")
    plan = compute_plan(spec(), state(broken), now=NOW)
    assert plan.actions == []
    assert plan.unmanaged == ["bad"]
    assert any("bad" in w and "boom" in w for w in plan.warnings)


def test_requires_scheduler_and_ignored_feature_warnings() -> None:
    wanted = entry("paris", timezone="Europe/Paris", jitter=30.0)
    action = only(compute_plan(spec(wanted), state(), beat_timezone="UTC", now=NOW), "paris")
    assert action.requires_scheduler == ["cron in Europe/Paris, beat runs in UTC"]
    assert any("jitter" in w for w in action.warnings)
    same_zone = compute_plan(spec(wanted), state(), beat_timezone="Europe/Paris", now=NOW)
    assert only(same_zone, "paris").requires_scheduler == []


def encoded(value: Entry, beat_timezone: str) -> StoredEntry:
    """Stored exactly as the writer stores it for a beat in ``beat_timezone``."""
    written = codec.encode_entry(value, beat_timezone=beat_timezone)
    return build_stored_entry(
        Layout(), value.name, [written.definition, None, written.extra],
        score=0.0, managed=True, beat_timezone=beat_timezone,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("written_for", "planned_for", "kind"),
    [
        ("UTC", "UTC", "noop"),  # inert for RedBeat, still needed
        ("Europe/Paris", "Europe/Paris", "noop"),
        ("UTC", "Europe/Paris", "update"),  # beat moved to Paris: RedBeat can run it now
        ("Europe/Paris", "UTC", "update"),  # beat moved away: must become inert
    ],
)
def test_entry_stored_for_the_other_scheduler_is_rewritten(
    written_for: str, planned_for: str, kind: str
) -> None:
    wanted = entry("paris", timezone="Europe/Paris")
    current = encoded(wanted, written_for)
    plan = compute_plan(spec(wanted), state(current), beat_timezone=planned_for, now=NOW)
    assert only(plan, "paris").kind == kind


def test_managed_entry_without_marker_is_repaired() -> None:
    current = stored(entry("j"), marked=False)
    action = only(compute_plan(spec(entry("j")), state(current), now=NOW), "j")
    assert action.kind == "update" and action.changes == []


def test_plan_metadata_and_order() -> None:
    current = state(stored(entry("b-upd", args=[1])), stored(entry("a-del")))
    plan = compute_plan(
        spec(entry("z-new"), entry("b-upd", args=[2])), current, prefix="x:", now=NOW
    )
    assert [(a.kind, a.name) for a in plan.actions] == [
        ("create", "z-new"),
        ("update", "b-upd"),
        ("delete", "a-del"),
    ]
    assert plan.fingerprint == "fp-1"
    assert plan.prefix == "x:" and plan.created_at == NOW
    assert plan.summary() == {
        "create": 1, "update": 1, "delete": 1, "adopt": 0, "move": 0, "release": 0,
        "noop": 0, "unmanaged": 0,
    }  # fmt: skip


def test_duplicate_names_are_a_user_error() -> None:
    twice = Spec(
        entries=[SpecEntry(entry("j"), "a.yaml", 3, 1), SpecEntry(entry("j"), "b.yaml", 7, 1)],
        files=["a.yaml", "b.yaml"],
    )
    with pytest.raises(UserError, match=r"a\.yaml:3 and b\.yaml:7"):
        compute_plan(twice, state(), now=NOW)


def test_field_path() -> None:
    assert field_path(["options", "queue"]) == "options.queue"
    assert field_path(["args", 0, "x"]) == "args[0].x"
    assert field_path(["kwargs", "a.b"]) == 'kwargs["a.b"]'


def test_many_unchanged_entries_are_all_noops() -> None:
    # How long this takes at 1k-100k entries: bench/bench_sync.py ("plan again").
    entries = [every(f"e{i}", 60 + i, args=[i], options={"queue": "q"}) for i in range(5_000)]
    current = state(*(stored(e) for e in entries))
    plan = compute_plan(spec(*entries), current, now=NOW)
    assert plan.counts["noop"] == 5_000


def test_one_changed_entry_among_many_is_found() -> None:
    entries = [every(f"e{i}", 60) for i in range(2000)]
    current = state(*(stored(e) for e in entries))
    entries[1234] = every("e1234", 60, kwargs={"k": 1})
    plan = compute_plan(spec(*entries), current, now=NOW)
    assert [a.name for a in plan.changes] == ["e1234"]
    assert Every(60.0) == plan.changes[0].desired.schedule


def test_re_enabling_previews_the_catch_up_beat_sends_at_once() -> None:
    last = NOW - timedelta(minutes=63)
    held = stored(every("j", 600, enabled=False), run=RunState(last, 9))
    action = only(compute_plan(spec(every("j", 600)), state(held), now=NOW), "j")
    assert action.kind == "update"
    assert action.at_once_for == NOW - timedelta(minutes=3)  # the latest missed slot
    assert action.next_runs == [NOW, NOW + timedelta(minutes=7), NOW + timedelta(minutes=17)]

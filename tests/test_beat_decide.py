"""Per-entry dispatch rules: misfire policies, jitter, one-offs, windows, parking."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone

from redbeat_sync.beat.decide import decide, jitter_offset
from redbeat_sync.schedule.entry import At, Cron, Entry, Every, RunState

UTC = timezone.utc
T0 = datetime(2026, 5, 4, 12, 0, 0, tzinfo=UTC)


def job(**changes: object) -> Entry:
    values: dict[str, object] = {"name": "j", "task": "t", "schedule": Every(60.0)}
    values.update(changes)
    return Entry(**values)  # type: ignore[arg-type]


def test_not_due_waits_for_the_true_due_time() -> None:
    d = decide(job(), RunState(T0), T0 + timedelta(seconds=10))
    assert d.kind == "wait" and d.fire_at == T0 + timedelta(seconds=60)
    assert d.score == int((T0 + timedelta(seconds=60)).timestamp())


def test_due_runs_for_its_slot_and_counts() -> None:
    d = decide(job(), RunState(T0, 4), T0 + timedelta(seconds=60.7))
    assert d.kind == "run"
    assert d.slot == T0 + timedelta(seconds=60)
    assert d.run == RunState(T0 + timedelta(seconds=60), 5)
    assert d.score == int((T0 + timedelta(seconds=120)).timestamp())


def test_never_run_is_due_now() -> None:
    d = decide(job(), RunState(), T0)
    assert d.kind == "run" and d.slot == T0


def test_catch_up_sends_one_run_for_all_missed_slots() -> None:
    d = decide(job(), RunState(T0), T0 + timedelta(hours=1, seconds=5))
    assert d.kind == "run"
    assert d.covers_from == T0 + timedelta(seconds=60)
    assert d.slot == T0 + timedelta(hours=1)
    assert d.fire_at == T0 + timedelta(hours=1, seconds=60)


def test_skip_drops_late_runs_but_not_on_time_ones() -> None:
    entry = job(misfire="skip", schedule=Cron("0", "3"))
    last = datetime(2026, 5, 3, 3, 0, tzinfo=UTC)
    on_time = decide(entry, RunState(last), datetime(2026, 5, 4, 3, 0, 2, tzinfo=UTC))
    assert on_time.kind == "run"
    late = decide(entry, RunState(last, 7), datetime(2026, 5, 4, 5, 0, tzinfo=UTC))
    assert late.kind == "skip"
    assert late.run == RunState(datetime(2026, 5, 4, 3, 0, tzinfo=UTC), 7)  # not counted
    assert late.fire_at == datetime(2026, 5, 5, 3, 0, tzinfo=UTC)


def test_deadline_bounds_lateness() -> None:
    entry = job(misfire="deadline", deadline=600.0, schedule=Cron("0", "3"))
    last = datetime(2026, 5, 3, 3, 0, tzinfo=UTC)
    assert decide(entry, RunState(last), datetime(2026, 5, 4, 3, 9, tzinfo=UTC)).kind == "run"
    assert decide(entry, RunState(last), datetime(2026, 5, 4, 3, 11, tzinfo=UTC)).kind == "skip"


def test_one_off_runs_once_then_is_parked() -> None:
    entry = job(schedule=At(T0))
    assert decide(entry, RunState(), T0 - timedelta(seconds=5)).kind == "wait"
    ran = decide(entry, RunState(), T0 + timedelta(seconds=1))
    assert ran.kind == "run" and ran.slot == T0 and ran.score == -1
    assert ran.run is not None
    assert decide(entry, ran.run, T0 + timedelta(days=1)).kind == "park"


def test_one_off_missed_with_skip_never_runs() -> None:
    entry = job(schedule=At(T0), misfire="skip")
    assert decide(entry, RunState(), T0 + timedelta(minutes=5)).kind == "skip"


def test_disabled_is_parked() -> None:
    d = decide(job(enabled=False), RunState(T0), T0 + timedelta(hours=1))
    assert d.kind == "park" and d.score == -1


def test_window_start_and_end() -> None:
    entry = job(start_at=T0 + timedelta(hours=1), end_at=T0 + timedelta(hours=2))
    early = decide(entry, RunState(T0), T0 + timedelta(minutes=5))
    assert early.kind == "wait" and early.fire_at == T0 + timedelta(hours=1)
    after = decide(entry, RunState(T0 + timedelta(hours=2)), T0 + timedelta(hours=3))
    assert after.kind == "park"


def test_jitter_is_bounded_deterministic_and_in_the_score() -> None:
    entry = job(jitter=30.0)
    offsets = {jitter_offset(replace(entry, name=f"n{i}"), T0) for i in range(50)}
    assert all(0 <= o < 30 for o in offsets) and len(offsets) > 40
    d1 = decide(entry, RunState(T0), T0 + timedelta(seconds=59))
    d2 = decide(entry, RunState(T0), T0 + timedelta(seconds=59))
    assert d1 == d2 and d1.kind == "wait"
    slot = T0 + timedelta(seconds=60)
    assert d1.fire_at == slot + timedelta(seconds=jitter_offset(entry, slot))
    assert d1.fire_at is not None
    ran = decide(entry, RunState(T0), d1.fire_at)
    assert ran.kind == "run" and ran.slot == slot  # last_run_at is the slot, not slot+jitter


def test_rrule_first_occurrence_at_dtstart_is_not_skipped() -> None:
    from redbeat_sync.schedule.entry import RRule

    entry = job(schedule=RRule("hourly", dtstart=T0, count=2))
    d = decide(entry, RunState(), T0 - timedelta(minutes=1))
    assert d.kind == "wait" and d.fire_at == T0
    first = decide(entry, RunState(), T0)
    assert first.kind == "run" and first.slot == T0
    assert first.run is not None
    second = decide(entry, first.run, T0 + timedelta(hours=1))
    assert second.kind == "run" and second.score == -1  # count exhausted after it

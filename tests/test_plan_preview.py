"""The plan's ``next:`` times are the times a real beat sends (issue 9 §1).

A real ``redbeat_sync.Scheduler`` runs in-process on a real redis-server with a
Redis broker; each pass is given its ``now`` (as beat's own clock would be), and
the test advances that clock by exactly the sleep each pass asks for, as beat's
loop does.  The preview is made before apply from the same run history, then
compared with what the scheduler sends after apply.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
import redis
from beat_app import TASK, queued

from redbeat_sync import Scheduler
from redbeat_sync.apply import apply_plan
from redbeat_sync.beat.scheduler import SLOT_HEADER
from redbeat_sync.fileformat.loader import load_text
from redbeat_sync.plan.actions import Action, Plan
from redbeat_sync.plan.compare import compute_plan
from redbeat_sync.plan.render_text import render_text
from redbeat_sync.state.layout import Layout
from redbeat_sync.state.reader import read_state

UTC = timezone.utc
LAYOUT = Layout()  # the scheduler's default prefix


def files(line: str) -> str:
    return f"version: 1\nentries:\n  {line}\n"


def plan_at(client: redis.Redis, text: str, now: datetime) -> Plan:
    return compute_plan(load_text(text), read_state(client, LAYOUT), now=now)


def apply_at(client: redis.Redis, plan: Plan, now: datetime) -> None:
    apply_plan(client, LAYOUT, plan, lock_timeout=2.0, who="tester@ci", now=now)


def run_beat(
    beat: Scheduler, broker: redis.Redis, start: datetime, until: datetime
) -> list[tuple[datetime, str]]:
    """(send time, slot header) of every run the scheduler sends in [start, until)."""
    sent: list[tuple[datetime, str]] = []
    moment = start
    while moment < until:
        before = broker.llen("celery")
        sleep = beat.dispatch_once(moment)
        sent += [(moment, headers[SLOT_HEADER]) for headers in queued(broker)[before:]]
        moment += timedelta(seconds=max(sleep, 0.001))  # beat sleeps as long as it asks
    return sent


def apply_and_run(
    beat: Scheduler,
    broker: redis.Redis,
    client: redis.Redis,
    plan: Plan,
    now: datetime,
    until: datetime,
) -> list[tuple[datetime, str]]:
    """Apply ``plan`` at ``now``, then run beat until ``until``: what it sends then."""
    broker.delete("celery")
    apply_at(client, plan, now)
    return run_beat(beat, broker, now, until)


#: How late beat may send a run the plan calls "now": an entry just rewritten by apply
#: can be claimed a retry later (beat re-reads it after ``_RETRY_LOST``, 50 ms) when
#: its change notification arrives after the pass read it.
AT_ONCE_SLACK = timedelta(seconds=1)


def assert_sent_as_previewed(sent: list[tuple[datetime, str]], action: Action) -> None:
    """Same slots, sent at the previewed times (a run due "now": within the slack)."""
    expected = previewed(action)
    assert [slot for _, slot in sent] == [slot for _, slot in expected], (sent, expected)
    for i, ((when, _), (planned, _)) in enumerate(zip(sent, expected, strict=True)):
        if i == 0 and action.at_once_for is not None:
            assert planned <= when < planned + AT_ONCE_SLACK, (sent, expected)
        else:
            assert when == planned, (sent, expected)


def previewed(action: Action) -> list[tuple[datetime, str]]:
    """(send time, slot) the plan announces: the first run's slot is ``at_once_for``
    when it goes out at once, else its send time (no jitter here)."""
    out = []
    for i, moment in enumerate(action.next_runs):
        slot = action.at_once_for if i == 0 and action.at_once_for is not None else moment
        out.append((moment.astimezone(UTC), slot.astimezone(UTC).isoformat()))
    return out


@pytest.fixture
def minute() -> datetime:
    """A whole minute in the recent past: the test's timeline (beat takes it as now)."""
    return datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=3)


def test_cron_to_every_7s_previews_the_catch_up_beat_sends(
    beat: Scheduler, broker: redis.Redis, redis_client: redis.Redis, minute: datetime
) -> None:
    cron = files("poll: {task: " + TASK + ", schedule: {cron: '* * * * *'}, args: [poll]}")
    created = minute - timedelta(seconds=30)
    first = plan_at(redis_client, cron, created)
    ran = apply_and_run(beat, broker, redis_client, first, created, minute + timedelta(seconds=2))
    assert ran == [(minute, minute.isoformat())]  # last_run_at is now the slot :00

    now = minute + timedelta(seconds=9)
    every_7s = files("poll: {task: " + TASK + ", schedule: {every: 7s}, args: [poll]}")
    plan = plan_at(redis_client, every_7s, now)
    (action,) = plan.changes
    assert action.kind == "reschedule"
    slot = minute + timedelta(seconds=7)  # kept last_run_at :00 + 7s, already missed
    assert action.at_once_for == slot
    assert [t.astimezone(UTC) for t in action.next_runs] == [
        now,
        minute + timedelta(seconds=14),
        minute + timedelta(seconds=21),
    ]
    text = render_text(plan)
    assert f"now (catch-up for {slot:%H:%M:%S} UTC)" in text
    assert "schedule: cron * * * * * (UTC) → every 7s" in text
    assert "frequency: 1,440 → 12,343 runs/day" in text

    sent = apply_and_run(beat, broker, redis_client, plan, now, minute + timedelta(seconds=22))
    assert_sent_as_previewed(sent, action)


def test_rename_previews_from_the_kept_run_history(
    beat: Scheduler, broker: redis.Redis, redis_client: redis.Redis, minute: datetime
) -> None:
    old = files("old-poll: {task: " + TASK + ", schedule: {every: 5s}, args: [poll]}")
    created = minute - timedelta(seconds=30)
    first = plan_at(redis_client, old, created)
    ran = apply_and_run(beat, broker, redis_client, first, created, minute + timedelta(seconds=1))
    assert ran[-1] == (minute, minute.isoformat())  # runs on created + 5s * k

    now = minute + timedelta(seconds=3, microseconds=400_000)
    moved = files(
        "new-poll: {task: " + TASK + ", schedule: {every: 5s}, args: [poll], moved_from: old-poll}"
    )
    plan = plan_at(redis_client, moved, now)
    (action,) = plan.changes
    assert action.kind == "move"
    assert action.at_once_for is None
    assert [t.astimezone(UTC) for t in action.next_runs] == [
        minute + timedelta(seconds=s) for s in (5, 10, 15)
    ]

    sent = apply_and_run(beat, broker, redis_client, plan, now, minute + timedelta(seconds=16))
    assert_sent_as_previewed(sent, action)


def test_a_create_previews_what_beat_sends_after_apply(
    beat: Scheduler, broker: redis.Redis, redis_client: redis.Redis, minute: datetime
) -> None:
    now = minute + timedelta(seconds=1, microseconds=500_000)
    plan = plan_at(redis_client, files("fresh: {task: " + TASK + ", schedule: {every: 4s}}"), now)
    (action,) = plan.changes
    assert action.kind == "create" and action.at_once_for is None
    sent = apply_and_run(beat, broker, redis_client, plan, now, now + timedelta(seconds=13))
    assert_sent_as_previewed(sent, action)


def test_next_runs_share_one_time_format() -> None:
    """A jittered run that lands on :00 keeps its seconds when the others show theirs."""
    from redbeat_sync.schedule.describe import describe_next_runs

    utc = timezone.utc
    runs = [datetime(2026, 12, 2, 4, 40, 1, tzinfo=utc), datetime(2026, 12, 2, 4, 41, tzinfo=utc)]
    assert describe_next_runs(runs, None) == ["2026-12-02 04:40:01 UTC", "2026-12-02 04:41:00 UTC"]
    whole = [datetime(2026, 12, 2, 4, 40, tzinfo=utc), datetime(2026, 12, 2, 4, 41, tzinfo=utc)]
    assert describe_next_runs(whole, None) == ["2026-12-02 04:40 UTC", "2026-12-02 04:41 UTC"]

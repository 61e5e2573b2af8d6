"""Pause, resume and run-now in the scheduler in-process (clock injected)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import redis
from beat_app import TASK, MakeScheduler, queued

from redbeat_sync import Scheduler, SchedulerEntry
from redbeat_sync.beat.metrics import Metrics
from redbeat_sync.beat.runlog import append_runs, read_runs, sent_record, workers_key
from redbeat_sync.beat.scheduler import COVERS_FROM_HEADER, SLOT_HEADER
from redbeat_sync.schedule.entry import Entry, Every, RunState
from redbeat_sync.state.layout import Layout
from redbeat_sync.state.pause import pause, resume
from redbeat_sync.state.runnow import REQUEST_HEADER, read_sent, request_run

UTC = timezone.utc
LAYOUT = Layout()
T0 = datetime(2030, 1, 1, 12, 0, 0, tzinfo=UTC)


def add(scheduler, name: str, seconds: float, last: datetime) -> None:  # type: ignore[no-untyped-def]
    entry = Entry(name, TASK, Every(seconds), args=[name])
    SchedulerEntry.from_entry(entry, RunState(last), app=scheduler.app).save()


def sent_runs(broker: redis.Redis) -> list[dict]:
    return [h for h in queued(broker) if h["task"] == TASK]


def settle(beat, now: datetime) -> None:  # type: ignore[no-untyped-def]
    """One tick as beat runs it: passes until nothing is left to retry at ``now``
    (a claim that lost to a changed overlay is re-read at once)."""
    for _ in range(5):
        if beat.dispatch_once(now=now) > 0.05:
            return


def at(t: float) -> datetime:
    return T0 + timedelta(seconds=t)


def test_pause_until_sends_nothing_then_resumes_without_catch_up(
    beat: Scheduler,
    redis_client: redis.Redis,
    broker: redis.Redis,
) -> None:
    add(beat, "tick", 1.0, at(0))
    settle(beat, at(1.2))
    assert len(sent_runs(broker)) == 1
    pause(redis_client, LAYOUT, ["tick"], who="ops", reason="r", until=at(5.5), now=at(1.3))
    for t in (2.2, 3.2, 4.2, 5.2):
        settle(beat, at(t))
    assert len(sent_runs(broker)) == 1
    settle(beat, at(6.1))
    sent = sent_runs(broker)
    assert len(sent) == 2
    assert sent[1][SLOT_HEADER] == at(6).isoformat()
    assert sent[1][COVERS_FROM_HEADER] == at(6).isoformat()  # missed slots skipped
    assert not redis_client.hexists(LAYOUT.prefix + ":sync:paused", "tick")  # marker spent


def add_paused_tick(beat: Scheduler, redis_client: redis.Redis) -> None:
    """Entry ``tick`` (every second from 0), paused without an end at 0.5."""
    add(beat, "tick", 1.0, at(0))
    pause(redis_client, LAYOUT, ["tick"], who="ops", reason="r", now=at(0.5))


def test_resume_catch_up_leaves_it_to_the_misfire_policy(
    beat: Scheduler,
    redis_client: redis.Redis,
    broker: redis.Redis,
) -> None:
    add_paused_tick(beat, redis_client)
    settle(beat, at(3.2))
    assert sent_runs(broker) == []
    resume(redis_client, LAYOUT, ["tick"], who="ops", reason=None, catch_up=True, now=at(3.3))
    settle(beat, at(3.4))
    sent = sent_runs(broker)
    assert len(sent) == 1 and sent[0][COVERS_FROM_HEADER] == at(1).isoformat()


def test_run_now_is_consumed_once_and_leaves_the_schedule_alone(
    make_scheduler: MakeScheduler,
    redis_client: redis.Redis,
    broker: redis.Redis,
) -> None:
    beat = make_scheduler()
    add(beat, "hourly", 3600.0, at(0))
    meta = redis_client.hget(LAYOUT.entry_key("hourly"), "meta")
    request_id = request_run(
        redis_client, LAYOUT, "hourly", who="ops", reason=None, expires_at=None, now=at(10)
    )
    other = make_scheduler(lead=False)  # a standby never sends it
    settle(other, at(10.5)) if other.is_leader() else None
    settle(beat, at(10.5))
    settle(beat, at(10.6))
    sent = sent_runs(broker)
    assert [h.get(REQUEST_HEADER) for h in sent] == [request_id]
    assert sent[0]["id"] == request_id and SLOT_HEADER not in sent[0]
    assert redis_client.hget(LAYOUT.entry_key("hourly"), "meta") == meta
    assert (
        redis_client.zscore(LAYOUT.schedule_key, LAYOUT.entry_key("hourly")) == at(3600).timestamp()
    )


def test_an_expired_run_now_request_is_dropped_unsent(
    beat: Scheduler,
    redis_client: redis.Redis,
    broker: redis.Redis,
) -> None:
    add(beat, "hourly", 3600.0, at(0))
    request_run(redis_client, LAYOUT, "hourly", who="ops", reason=None, expires_at=at(5), now=at(1))
    settle(beat, at(6))  # queued with no leader, the leader came too late
    assert sent_runs(broker) == []
    assert not redis_client.hexists(LAYOUT.prefix + ":sync:run-requests", "hourly")


def test_a_paused_entry_ignores_an_apply_rewriting_its_score(
    beat: Scheduler,
    redis_client: redis.Redis,
    broker: redis.Redis,
) -> None:
    add_paused_tick(beat, redis_client)
    redis_client.zadd(LAYOUT.schedule_key, {LAYOUT.entry_key("tick"): at(1).timestamp()})
    settle(beat, at(3.2))
    assert sent_runs(broker) == []
    assert redis_client.zscore(LAYOUT.schedule_key, LAYOUT.entry_key("tick")) == -1  # parked again


def busy_with_an_unfinished_run(beat, redis_client: redis.Redis, every: float) -> None:  # type: ignore[no-untyped-def]
    """Entry ``busy`` (``overlap: skip``) whose run of slot 0 started and never ended,
    with a worker that reports outcomes."""
    entry = Entry("busy", TASK, Every(every), overlap="skip", overlap_timeout=7200.0)
    SchedulerEntry.from_entry(entry, RunState(at(0)), app=beat.app).save()
    redis_client.hset(workers_key(LAYOUT), "w1", 1.0)
    running = sent_record(task_id="t-long", slot=at(0), covers_from=at(0), now=at(0))
    append_runs(redis_client, LAYOUT, [("busy", running)], 20)


def test_overlap_skip_holds_back_a_run_now_and_says_so(
    beat: Scheduler,
    redis_client: redis.Redis,
    broker: redis.Redis,
) -> None:
    busy_with_an_unfinished_run(beat, redis_client, every=3600.0)
    request_id = request_run(
        redis_client, LAYOUT, "busy", who="ops", reason=None, expires_at=None, now=at(10)
    )
    settle(beat, at(10.5))
    assert sent_runs(broker) == []
    assert read_sent(redis_client, LAYOUT, request_id)["skipped"].startswith("overlap")
    assert read_runs(redis_client, LAYOUT, "busy")[0]["state"] == "skipped"


class _Recorded(Metrics):
    """The scheduler's recording calls, kept (Prometheus itself: test_beat_metrics)."""

    def __init__(self) -> None:
        self.skipped: list[tuple[str, str]] = []

    def run_skipped(self, entry: str, reason: str) -> None:
        self.skipped.append((entry, reason))


def test_a_run_overlap_holds_back_is_counted_as_an_overlap_skip(
    beat: Scheduler,
    redis_client: redis.Redis,
    broker: redis.Redis,
) -> None:
    recorded = beat.metrics = _Recorded()
    busy_with_an_unfinished_run(beat, redis_client, every=5.0)
    settle(beat, at(5.5))
    assert sent_runs(broker) == []
    assert recorded.skipped == [("busy", "overlap")]

"""Run now across a change of leader, in-process on a real Redis and broker queue.

A "kill" is a scheduler object abandoned between its claim and its send: its lock
keeper stops without releasing (no renewals, as after SIGKILL) and its lock then
expires (deleted here, which is what the TTL does a timeout later), so another
Scheduler with another lock token takes over.  No timing luck involved.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone

import pytest
import redis
from beat_app import MakeScheduler, queued
from celery import signals

from redbeat_sync import Scheduler, SchedulerEntry
from redbeat_sync.beat.claim import LockLost
from redbeat_sync.beat.dispatch import Due
from redbeat_sync.schedule.entry import Entry, Every, RunState
from redbeat_sync.state.layout import Layout
from redbeat_sync.state.runnow import (
    REQUEST_HEADER,
    cancel_request,
    parse_request,
    read_sent,
    request_run,
)

UTC = timezone.utc
LAYOUT = Layout()
TASK = "tests.beat_app.record"
T0 = datetime(2030, 1, 1, 12, 0, 0, tzinfo=UTC)
REQUESTS = LAYOUT.prefix + ":sync:run-requests"


def at(t: float) -> datetime:
    return T0 + timedelta(seconds=t)


@pytest.fixture
def store(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    yield client
    client.close()


def add(beat: Scheduler, name: str, seconds: float, last: datetime) -> None:
    entry = Entry(name, TASK, Every(seconds), args=[name])
    SchedulerEntry.from_entry(entry, RunState(last), app=beat.app).save()


def sent_runs(broker: redis.Redis) -> list[dict]:
    return [h for h in queued(broker) if h["task"] == TASK]


def run_now_sent(broker: redis.Redis, request_id: str) -> int:
    return sum(1 for h in sent_runs(broker) if h.get(REQUEST_HEADER) == request_id)


def claim_only(beat: Scheduler, now: datetime) -> Due:
    """The leader's claim of the run-now run, and nothing after it (no send)."""
    assert beat.dispatcher is not None
    (due,) = beat.dispatcher.run_batch(now, beat.token).runs
    assert due.request is not None
    return due


def kill(beat: Scheduler, store: redis.Redis) -> None:
    assert beat.keeper is not None
    beat.keeper.stop(release=False)  # dead: no renewal, no release
    store.delete(LAYOUT.beat_lock_key)  # ... and its lock ran out


def settle(beat: Scheduler, now: datetime) -> None:
    for _ in range(5):
        if beat.dispatch_once(now=now) > 0.05:
            return


def test_a_leader_killed_between_claim_and_send_does_not_lose_the_run(
    make_scheduler: MakeScheduler,
    store: redis.Redis,
    broker: redis.Redis,
) -> None:
    old = make_scheduler()
    add(old, "hourly", 3600.0, at(0))
    request_id = request_run(store, LAYOUT, "hourly", who="ops", reason="backfill",
                             expires_at=None, now=at(10))  # fmt: skip
    claim_only(old, at(10.5))
    taken = parse_request(store.hget(REQUESTS, "hourly"))
    assert taken is not None and taken.taken_by == old.token  # taken, not deleted
    kill(old, store)

    new = make_scheduler()  # a standby that takes over, with a token of its own
    assert new.token != old.token
    settle(new, at(11))
    settle(new, at(12))
    assert run_now_sent(broker, request_id) == 1
    assert len(sent_runs(broker)) == 1  # only the extra run: the schedule is not due
    assert not store.hexists(REQUESTS, "hourly")
    sent = read_sent(store, LAYOUT, request_id)  # what `run --wait` reads
    assert sent is not None and sent["task_id"] == request_id and not sent["skipped"]


def test_a_claimed_and_sent_request_is_gone_and_no_other_beat_sends_it(
    make_scheduler: MakeScheduler,
    store: redis.Redis,
    broker: redis.Redis,
) -> None:
    leader = make_scheduler()
    standby = make_scheduler(lead=False)
    add(leader, "hourly", 3600.0, at(0))
    request_id = request_run(store, LAYOUT, "hourly", who="ops", reason=None,
                             expires_at=None, now=at(10))  # fmt: skip
    due = claim_only(leader, at(10.5))
    assert standby.dispatcher is not None and not standby.is_leader()
    with pytest.raises(LockLost):  # a standby that believes it leads is fenced
        standby.dispatcher.run_batch(at(10.6), standby.token)
    assert parse_request(store.hget(REQUESTS, "hourly")).taken_by == leader.token  # type: ignore[union-attr]
    leader.send(due)
    assert not store.hexists(REQUESTS, "hourly")  # deleted with the sent record
    assert read_sent(store, LAYOUT, request_id) is not None
    settle(leader, at(11))
    assert run_now_sent(broker, request_id) == 1


def test_a_leader_never_sends_a_request_it_took_twice(
    make_scheduler: MakeScheduler,
    store: redis.Redis,
    broker: redis.Redis,
) -> None:
    leader = make_scheduler()
    add(leader, "hourly", 3600.0, at(0))
    request_id = request_run(store, LAYOUT, "hourly", who="ops", reason=None,
                             expires_at=None, now=at(10))  # fmt: skip
    claim_only(leader, at(10.5))
    taken = store.hget(REQUESTS, "hourly")
    settle(leader, at(10.6))  # a later pass of the same leader finds its own take
    assert run_now_sent(broker, request_id) == 0
    assert not store.hexists(REQUESTS, "hourly")  # dropped, not sent by this beat
    assert taken is not None and json.loads(taken)["taken_by"] == leader.token


def test_a_lease_ending_before_the_send_hands_the_request_back(
    make_scheduler: MakeScheduler,
    store: redis.Redis,
    broker: redis.Redis,
) -> None:
    old = make_scheduler()
    add(old, "minutely", 60.0, at(0))  # due first: its send ends the lease
    add(old, "hourly", 3600.0, at(0))
    request_id = request_run(store, LAYOUT, "hourly", who="ops", reason=None,
                             expires_at=None, now=at(90))  # fmt: skip

    def end_lease(**_: object) -> None:
        signals.before_task_publish.disconnect(end_lease)
        assert old.keeper is not None
        old.keeper.stop(release=True)

    signals.before_task_publish.connect(end_lease, weak=False)
    try:
        with pytest.raises(LockLost):
            old.dispatch_once(at(90.5))
    finally:
        signals.before_task_publish.disconnect(end_lease)
    assert run_now_sent(broker, request_id) == 0
    back = parse_request(store.hget(REQUESTS, "hourly"))
    assert back is not None and back.id == request_id and back.taken_by is None  # pending

    new = make_scheduler()
    settle(new, at(91))
    assert run_now_sent(broker, request_id) == 1
    assert not store.hexists(REQUESTS, "hourly")


def test_a_taken_request_is_not_withdrawn(
    make_scheduler: MakeScheduler,
    store: redis.Redis,
    broker: redis.Redis,
) -> None:
    """`run --wait` withdraws a request it waited for in vain only while it is
    pending: one a leader has taken is on its way (and --wait must not say otherwise)."""
    leader = make_scheduler()
    add(leader, "hourly", 3600.0, at(0))
    request_id = request_run(store, LAYOUT, "hourly", who="ops", reason=None,
                             expires_at=None, now=at(10))  # fmt: skip
    due = claim_only(leader, at(10.5))
    assert not cancel_request(store, LAYOUT, "hourly", request_id)
    leader.send(due)
    assert run_now_sent(broker, request_id) == 1
    pending = request_run(store, LAYOUT, "hourly", who="ops", reason=None,
                          expires_at=None, now=at(20))  # fmt: skip
    assert not cancel_request(store, LAYOUT, "hourly", request_id)  # not its id
    assert cancel_request(store, LAYOUT, "hourly", pending)
    assert not store.hexists(REQUESTS, "hourly")


def test_without_a_lock_the_claim_deletes_the_request(
    make_scheduler: MakeScheduler,
    store: redis.Redis,
    broker: redis.Redis,
) -> None:
    """No leader lock, no successor to take over: at most once, as before."""
    beat = make_scheduler(lead=False, redbeat_lock_key=None)
    assert beat.keeper is None
    add(beat, "hourly", 3600.0, at(0))
    request_id = request_run(store, LAYOUT, "hourly", who="ops", reason=None,
                             expires_at=None, now=at(10))  # fmt: skip
    due = claim_only(beat, at(10.5))
    assert not store.hexists(REQUESTS, "hourly")
    beat.send(due)
    settle(beat, at(11))
    assert run_now_sent(broker, request_id) == 1
    assert read_sent(store, LAYOUT, request_id) is not None

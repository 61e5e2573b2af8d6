"""No send once the lease may have expired; unsent claims are handed back (issue 8, item 2).

In-process, on a real Redis and a real Redis broker queue.  The lease ends for real:
the lock keeper is stopped (no more renewals, leadership given up) from inside the
first send of a batch, through Celery's own ``before_task_publish`` signal.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from beat_app import TASK, MakeScheduler, queued
from celery import signals
from celery.schedules import schedule

from redbeat_sync import Scheduler, SchedulerEntry
from redbeat_sync.beat.claim import LockLost
from redbeat_sync.beat.scheduler import SLOT_HEADER
from redbeat_sync.state.layout import Layout

UTC = timezone.utc
LAYOUT = Layout()


def add(beat: Scheduler, names: list[str], last_run_at: datetime) -> None:
    for name in names:
        entry = SchedulerEntry(
            name, TASK, schedule(timedelta(seconds=60)), args=[name], app=beat.app
        )
        entry.last_run_at = last_run_at
        entry.save()


def test_lease_ending_mid_batch_stops_sending_and_hands_the_rest_back(
    make_scheduler: MakeScheduler, broker, redis_client
) -> None:
    old = make_scheduler()
    now = datetime.now(UTC)
    names = [f"e{i}" for i in range(5)]
    add(old, names, now - timedelta(seconds=90))
    before = {n: redis_client.hget(f"redbeat:{n}", "meta") for n in names}
    scores = {n: redis_client.zscore(LAYOUT.schedule_key, f"redbeat:{n}") for n in names}

    def end_lease(**_: object) -> None:
        signals.before_task_publish.disconnect(end_lease)
        assert old.keeper is not None
        old.keeper.stop(release=True)  # renewals stop; the lock is free for another

    signals.before_task_publish.connect(end_lease, weak=False)
    try:
        with pytest.raises(LockLost):
            old.dispatch_once(now)
    finally:
        signals.before_task_publish.disconnect(end_lease)
    assert len(queued(broker)) == 1  # the send under way when the lease ended
    assert old.handed_back == 4 and old.not_handed_back == 0
    unsent = [n for n in names if redis_client.hget(f"redbeat:{n}", "meta") == before[n]]
    assert len(unsent) == 4  # run history as before the claim
    for name in unsent:
        # The score the claim replaced is back: due now, not later than after add().  (An
        # overdue entry's score is the second it was saved in; beat's change listener may
        # rescore it before the claim, to the second before on a loaded machine.)
        restored = redis_client.zscore(LAYOUT.schedule_key, f"redbeat:{name}")
        assert restored is not None and restored <= scores[name]

    new = make_scheduler()  # the next leader sends them, once each
    new.dispatch_once(now + timedelta(seconds=1))
    slots = [m[SLOT_HEADER] for m in queued(broker)]
    assert len(slots) == 5 and len(set(m["id"] for m in queued(broker))) == 5
    assert set(slots) == {(now - timedelta(seconds=30)).isoformat()}


def test_hand_back_never_undoes_a_run_another_beat_made_since(
    beat: Scheduler, broker, redis_client
) -> None:
    now = datetime.now(UTC)
    add(beat, ["taken"], now - timedelta(seconds=90))
    assert beat.dispatcher is not None
    result = beat.dispatcher.run_batch(now, beat.token)  # claimed, not sent
    (due,) = result.runs
    newer = '{"last_run_at": "the other beat ran it", "total_run_count": 9}'
    redis_client.hset("redbeat:taken", "meta", newer)
    score = redis_client.zscore(LAYOUT.schedule_key, "redbeat:taken")
    assert beat.dispatcher.hand_back(result.runs) == 0
    assert redis_client.hget("redbeat:taken", "meta") == newer
    assert redis_client.zscore(LAYOUT.schedule_key, "redbeat:taken") == score
    assert due.claim is not None

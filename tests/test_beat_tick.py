"""The scheduler in-process, on a real Redis and a real Redis broker queue."""

from __future__ import annotations

import logging
import threading
import time
from datetime import datetime, timedelta, timezone

import pytest
import redis
from beat_app import LEAD_WAIT, TASK, MakeScheduler, broker_url_for, leading, make_app, queued
from celery.schedules import schedule

from redbeat_sync import Scheduler, SchedulerEntry
from redbeat_sync.beat.claim import LockLost
from redbeat_sync.beat.scheduler import COVERS_FROM_HEADER, SLOT_HEADER
from redbeat_sync.schedule.entry import At, Entry, Every, RunState
from redbeat_sync.state.codec import decode_meta, encode_meta
from redbeat_sync.state.layout import Layout
from redbeat_sync.state.stored import Put
from redbeat_sync.state.writer import write

UTC = timezone.utc
LAYOUT = Layout()


def every(name: str, seconds: float, app: object, last_run_at: datetime | None) -> SchedulerEntry:
    entry = SchedulerEntry(name, TASK, schedule(timedelta(seconds=seconds)), args=[name], app=app)
    entry.last_run_at = last_run_at
    return entry.save()


def test_due_entry_is_sent_once_for_its_slot(beat: Scheduler, broker, redis_client):
    now = datetime.now(UTC)
    every("due", 60, beat.app, now - timedelta(seconds=90))
    every("not-due", 60, beat.app, now - timedelta(seconds=10))
    beat.dispatch_once(now)
    messages = queued(broker)
    assert [m["task"] for m in messages] == [TASK]
    slot = now - timedelta(seconds=30)
    assert messages[0][SLOT_HEADER] == slot.isoformat()
    run = decode_meta(redis_client.hget("redbeat:due", "meta"))
    assert run.last_run_at == slot  # the slot, not the send time: no drift
    assert run.total_run_count == 1
    assert redis_client.zscore(LAYOUT.schedule_key, "redbeat:due") == int(
        (slot + timedelta(seconds=60)).timestamp()
    )
    beat.dispatch_once(now + timedelta(seconds=1))
    assert len(queued(broker)) == 1  # claimed: never sent twice


def test_missed_slots_are_coalesced_into_one_catch_up_run(beat, broker, redis_client):
    now = datetime.now(UTC)
    last = now - timedelta(seconds=10.5)
    every("fast", 1, beat.app, last)
    beat.dispatch_once(now)
    (message,) = queued(broker)
    assert message[COVERS_FROM_HEADER] == (last + timedelta(seconds=1)).isoformat()
    assert message[SLOT_HEADER] == (last + timedelta(seconds=10)).isoformat()


def test_standby_sends_nothing(make_scheduler: MakeScheduler, broker) -> None:
    leader = make_scheduler()
    standby = make_scheduler(lead=False)
    time.sleep(0.3)
    assert leader.is_leader() and not standby.is_leader()
    now = datetime.now(UTC)
    every("due", 60, leader.app, now - timedelta(seconds=90))
    assert standby.tick() == 0
    assert queued(broker) == []
    leader.dispatch_once(now)
    assert len(queued(broker)) == 1


def test_old_leader_cannot_send_after_losing_the_lock(beat, broker, redis_client):
    """Fencing: a leader that still believes it leads (stalled past its lock, say) is
    refused in Redis by the claim script, and nothing is sent or advanced."""
    now = datetime.now(UTC)
    every("due", 60, beat.app, now - timedelta(seconds=90))
    beat.dispatch_once(now - timedelta(seconds=120))  # start-up work of the term done
    meta_before = redis_client.hget("redbeat:due", "meta")
    redis_client.set(LAYOUT.beat_lock_key, "a-new-leader", px=60_000)  # taken over
    with pytest.raises(LockLost):
        beat.dispatch_once(now)  # straight to the claim, no local leadership check
    assert queued(broker) == []
    assert redis_client.hget("redbeat:due", "meta") == meta_before
    assert beat.tick() == 0  # the tick turns that into standing by
    assert not beat.is_leader()
    assert queued(broker) == []


def test_disabled_and_exhausted_entries_are_parked(beat, broker, redis_client):
    now = datetime.now(UTC)
    off = SchedulerEntry("off", TASK, schedule(timedelta(seconds=60)), app=beat.app, enabled=False)
    off.last_run_at = now - timedelta(hours=1)
    off.save()
    redis_client.zadd(LAYOUT.schedule_key, {"redbeat:off": 1})  # as RedBeat leaves it
    once = SchedulerEntry.from_entry(
        Entry("once", TASK, At(now - timedelta(seconds=1))), app=beat.app
    ).save()
    assert once.key == "redbeat:once"
    beat.dispatch_once(now)
    assert [m["task"] for m in queued(broker)] == [TASK]  # the one-off ran
    assert redis_client.zscore(LAYOUT.schedule_key, "redbeat:off") == -1
    assert redis_client.zscore(LAYOUT.schedule_key, "redbeat:once") == -1
    assert decode_meta(redis_client.hget("redbeat:once", "meta")).total_run_count == 1
    assert beat.dispatcher is not None
    later = beat.dispatcher.due_keys(now + timedelta(days=1))
    assert "redbeat:off" not in later and "redbeat:once" not in later  # never re-read


def park_then_enable_in_place(
    beat: Scheduler, redis_client: redis.Redis, name: str, now: datetime
) -> None:
    """A disabled, overdue entry that beat parks (score -1), then re-enabled by editing
    only its stored definition (the score stays -1)."""
    entry = every(name, 60, beat.app, now - timedelta(seconds=90))
    entry.enabled = False
    entry.save()
    beat.dispatch_once(now)
    assert redis_client.zscore(LAYOUT.schedule_key, f"redbeat:{name}") == -1
    definition = redis_client.hget(f"redbeat:{name}", "definition")
    enabled = definition.replace('"enabled": false', '"enabled": true')
    redis_client.hset(f"redbeat:{name}", "definition", enabled)


def test_reenabled_entry_gets_a_real_score_again(beat, broker, redis_client):
    now = datetime.now(UTC)
    # an apply that rewrites only the definition keeps the -1 score
    park_then_enable_in_place(beat, redis_client, "toggle", now)
    beat.listener.event.clear()
    redis_client.publish(LAYOUT.changes_channel, '{"count": 1, "names": ["toggle"]}')
    deadline = time.monotonic() + 2
    while not beat.listener.event.is_set() and time.monotonic() < deadline:
        time.sleep(0.01)
    beat.dispatch_once(now)
    assert len(queued(broker)) == 1


def test_statics_written_once_leading_and_old_ones_removed(make_scheduler, redis_client):
    redis_client.sadd(LAYOUT.statics_key, "gone", "managed-old")
    redis_client.hset("redbeat:gone", "definition", "{}")
    redis_client.zadd(LAYOUT.schedule_key, {"redbeat:gone": 5})
    redis_client.sadd(LAYOUT.inventory_key, "managed", "managed-old")
    redis_client.hset("redbeat:managed", "definition", "keep-me")
    redis_client.hset("redbeat:managed-old", "definition", "keep-me-too")
    statics = {
        "static": {"task": TASK, "schedule": 30.0, "args": ["s"]},
        "managed": {"task": TASK, "schedule": 30.0},
    }
    standby_holder = redis_client.set(LAYOUT.beat_lock_key, "someone", px=60_000)
    assert standby_holder
    beat = make_scheduler(lead=False, beat_schedule=statics)
    beat.tick()
    assert not redis_client.exists("redbeat:static")  # not leading: nothing written
    redis_client.delete(LAYOUT.beat_lock_key)
    leading(beat)
    beat.dispatch_once()
    assert redis_client.exists("redbeat:static")
    assert not redis_client.exists("redbeat:gone")
    assert redis_client.hget("redbeat:managed", "definition") == "keep-me"
    assert redis_client.hget("redbeat:managed-old", "definition") == "keep-me-too"
    assert redis_client.smembers(LAYOUT.statics_key) == {"static"}


def test_apply_wakes_a_sleeping_beat(make_scheduler, broker, redis_client):
    """A leader with nothing due sleeps until its next look (here 5 minutes: nothing is
    scheduled and the heartbeat of a 600 s lock is due every 300 s); the change an apply
    publishes wakes it, so a one-off written meanwhile is sent long before that."""
    beat = make_scheduler(beat_max_loop_interval=3600, redbeat_lock_timeout=600)
    asleep = threading.Event()
    dispatch = beat.dispatch_once

    def dispatch_and_note(now: datetime | None = None) -> float:
        wait = dispatch(now)
        if wait > 0:
            asleep.set()  # tick() now waits up to ``wait`` for a change notice
        return wait

    beat.dispatch_once = dispatch_and_note
    stop = threading.Event()

    def loop() -> None:
        while not stop.is_set():
            beat.tick()

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    try:
        assert asleep.wait(LEAD_WAIT), "beat never went to sleep"
        when = datetime.now(UTC) + timedelta(seconds=0.3)
        write(redis_client, LAYOUT, [Put(Entry("one-off", TASK, At(when)), None)])
        # A bound on waiting only, a tenth of the sleep the notice cut short.
        deadline = time.monotonic() + 30
        while not queued(broker) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert [m["task"] for m in queued(broker)] == [TASK], "the change did not wake beat"
    finally:
        stop.set()
        # Wake it until the loop has ended: a set() that lands before the next tick
        # clears the event would leave the thread asleep for 5 minutes.
        deadline = time.monotonic() + LEAD_WAIT
        while thread.is_alive() and time.monotonic() < deadline:
            beat.listener.event.set()
            thread.join(0.1)
        assert not thread.is_alive(), "the tick loop did not stop"


def test_interval_entries_keep_their_phase(beat, broker, redis_client) -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    every("phase", 10, beat.app, start)
    now = start + timedelta(seconds=10.9)  # dispatched 0.9 s late
    beat.dispatch_once(now)
    beat.dispatch_once(start + timedelta(seconds=20.1))
    slots = [m[SLOT_HEADER] for m in queued(broker)]
    assert slots == [
        (start + timedelta(seconds=10)).isoformat(),
        (start + timedelta(seconds=20)).isoformat(),
    ]


def test_batches_larger_than_the_batch_size(make_scheduler, broker, redis_client) -> None:
    beat = make_scheduler(redbeat_sync_batch_size=50)
    now = datetime.now(UTC)
    for i in range(120):
        every(f"bulk-{i}", 60, beat.app, now - timedelta(seconds=61))
    waits = [beat.dispatch_once(now) for _ in range(4)]
    assert waits[:2] == [0, 0]  # full batches: go again at once
    assert len(queued(broker)) == 120
    assert len({m["id"] for m in queued(broker)}) == 120


def test_banner_shows_redis_prefix_lock_and_warnings(redis_url: str, redis_client) -> None:
    redis_client.config_set("maxmemory-policy", "allkeys-lru")
    try:
        app = make_app(redis_url.replace("redis://", "redis://:pw@"), redbeat_lock_timeout=30)
        app.conf.redbeat_redis_url = redis_url
        info = Scheduler(app, lazy=True).info
    finally:
        redis_client.config_set("maxmemory-policy", "noeviction")
    assert "redis -> " + redis_url in info
    assert "prefix -> redbeat:" in info
    assert "`redbeat::lock` 30s" in info
    assert "allkeys-lru" in info
    assert "lock timeout 30s" in info


def test_redis_outage_is_survived_logged_once_and_never_sends_unfenced(
    tmp_path, caplog: pytest.LogCaptureFixture
) -> None:
    """Redis dies under a leader: no crash, one log line per change, resumes after."""
    from devsupport.devserver import RedisServer

    server = RedisServer().start()
    try:
        url = server.url
        broker_url = broker_url_for(url)
        app = make_app(url, broker_url, beat_max_loop_interval=1)
        every("during", 1, app, datetime.now(UTC) - timedelta(seconds=5))
        beat = Scheduler(app)
        beat.start()
        leading(beat)
        beat.tick()
        caplog.clear()
        server.kill()
        for _ in range(6):
            assert beat.tick() == 0  # never raises
        assert not beat.is_leader() or beat._redis_down
        errors = [r for r in caplog.records if "Redis unavailable" in r.getMessage()]
        assert len(errors) <= 1
        server.start()
        deadline = time.monotonic() + 15
        while not beat.is_leader() and time.monotonic() < deadline:
            beat.tick()
        assert beat.is_leader()
        broker = redis.Redis.from_url(broker_url, decode_responses=True)
        before = len(queued(broker))
        every("after", 1, app, datetime.now(UTC) - timedelta(seconds=5))
        for _ in range(3):
            beat.tick()
        assert len(queued(broker)) > before
        beat.close()
    finally:
        server.stop()


def test_early_scores_are_corrected_to_the_true_due_time(beat, broker, redis_client):
    """RedBeat writes scores early (its #307); beat moves them to the real due time."""
    now = datetime.now(UTC)
    every("early", 600, beat.app, now - timedelta(seconds=60))
    redis_client.zadd(LAYOUT.schedule_key, {"redbeat:early": int(now.timestamp()) - 30})
    wait = beat.dispatch_once(now)
    assert queued(broker) == []
    true_due = now - timedelta(seconds=60) + timedelta(seconds=600)
    assert redis_client.zscore(LAYOUT.schedule_key, "redbeat:early") == int(true_due.timestamp())
    assert beat.dispatcher is not None
    assert "redbeat:early" not in beat.dispatcher.due_keys(now + timedelta(seconds=60))
    assert 0 < wait <= beat.max_interval


def test_options_reach_the_broker(beat, broker, redis_client) -> None:
    now = datetime.now(UTC)
    expires = now + timedelta(hours=1)
    entry = Entry(
        "routed", TASK, Every(60.0), kwargs={"label": "r"},
        options={"queue": "other", "expires": expires, "headers": {"mine": "1"}},
    )  # fmt: skip
    SchedulerEntry.from_entry(entry, decode_meta(None), app=beat.app).save()
    beat.dispatch_once(now)  # never run: due now
    (message,) = queued(broker, "other")
    assert message["task"] == TASK
    assert message["mine"] == "1" and SLOT_HEADER in message
    assert datetime.fromisoformat(message["expires"]) == expires


def test_what_beat_remembers_never_overrides_a_change_made_since(
    beat, broker, redis_client
) -> None:
    """A running beat claims from memory of its own last write; a change made since
    (here as celery-redbeat's reschedule() makes it: no notification) makes that
    claim fail, and the entry is decided again from what Redis holds."""
    start = datetime.now(UTC) - timedelta(minutes=10)
    every("remembered", 60, beat.app, start)
    beat.dispatch_once(start + timedelta(seconds=61))
    assert len(queued(broker)) == 1
    later = encode_meta(RunState(start + timedelta(seconds=200), 1))
    redis_client.hset("redbeat:remembered", "meta", later)  # "it ran later than you think"
    assert beat.dispatch_once(start + timedelta(seconds=125)) <= 0.05  # lost: re-read soon
    beat.dispatch_once(start + timedelta(seconds=125))
    assert len(queued(broker)) == 1  # due only at 260 s now
    beat.dispatch_once(start + timedelta(seconds=261))
    assert len(queued(broker)) == 2
    assert queued(broker)[-1][SLOT_HEADER] == (start + timedelta(seconds=260)).isoformat()


def test_parked_entry_reenabled_without_notification_is_picked_up(
    make_scheduler, broker, redis_client
) -> None:
    """Re-enabling by editing the stored definition (a RedBeat user's way: no change
    notification) is seen within ``beat_max_loop_interval``, not at the next term."""
    beat = make_scheduler(beat_max_loop_interval=5)
    now = datetime.now(UTC)
    park_then_enable_in_place(beat, redis_client, "edited", now)
    beat.listener.take_changes()  # whatever save() announced is long handled
    assert beat.dispatch_once(now + timedelta(seconds=1)) <= 5
    assert queued(broker) == []  # parked entries are not read every pass...
    beat.dispatch_once(now + timedelta(seconds=5))
    assert len(queued(broker)) == 1  # ...but at least every max interval


def test_orphan_warning_only_for_real_inconsistencies(
    make_scheduler, broker, redis_client, caplog: pytest.LogCaptureFixture
) -> None:
    """An apply that deletes an entry (hash and member together) is expected: beat,
    re-checking the name the apply announced, logs no warning.  A member left without
    its hash (deleted by hand) is a real inconsistency: one warning naming it."""
    from redbeat_sync.state.stored import Remove, field_digest

    beat = make_scheduler()
    now = datetime.now(UTC)
    write(redis_client, LAYOUT, [Put(Entry("doomed", TASK, Every(60.0)), None)])
    definition, extra = redis_client.hmget("redbeat:doomed", "definition", "redbeat_sync")
    beat.dispatch_once(now)
    caplog.set_level(logging.DEBUG, logger="celery.beat")
    caplog.clear()
    write(redis_client, LAYOUT, [Remove("doomed", field_digest(definition, extra))])
    assert not redis_client.exists("redbeat:doomed")
    beat.dispatcher.recheck(["doomed"], now, beat.token)  # what the notification triggers
    beat.dispatch_once(now)
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []
    redis_client.zadd(LAYOUT.schedule_key, {"redbeat:orphan": 1})
    beat.dispatch_once(now)
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1 and "orphan" in warnings[0], warnings
    assert redis_client.zscore(LAYOUT.schedule_key, "redbeat:orphan") is None

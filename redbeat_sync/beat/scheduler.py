"""``redbeat_sync.Scheduler``: ``celery beat -S redbeat_sync.Scheduler``.

The tick, in order:

1. not the leader -> wait (on the "became leader" event, no polling) and return;
2. first tick of a leadership term -> write the static ``beat_schedule`` entries
   (only now: a standby must never overwrite the leader's, RedBeat #198) and
   re-check parked entries (a re-enable may have happened while nobody led);
3. re-check entries named by change notifications (cheap, usually none);
4. claim the due batch (``Dispatcher.run_batch``: fenced by the lock in Redis) and
   send each claimed run through Celery's ``apply_entry``, checking the local lease
   deadline before each send (past it: hand the unsent claims back, stand down);
5. sleep until the earliest score in the sorted set, or the exact fire time of the
   entries just decided (at most ``max_interval``; parked entries are re-read that
   often too) on the change listener's Event, so ``redbeat-sync apply`` or ``save()``
   wakes beat at once; return 0 so Celery's loop calls ``tick`` again without
   sleeping itself.

Redis errors are retried with exponential backoff and logged once per outage.
Nothing is sent unless the claim (which checks the lock in Redis) succeeded.

Running it: ``celery beat -S redbeat_sync.Scheduler``, or embedded in a worker with
``celery worker --beat --scheduler redbeat_sync.Scheduler`` (in ``celery worker``
``-S`` means ``--statedb``), or ``beat_scheduler = "redbeat_sync.Scheduler"``.

Settings: RedBeat's (see ``config``), plus ``redbeat_sync_batch_size`` (entries
loaded and claimed per script call, default 1000).

Every task sent carries two headers: ``redbeat_sync_slot`` (ISO time of the slot the
run is for) and ``redbeat_sync_covers_from`` (the first slot it stands for when
missed slots were coalesced into it); a task reads them as ``self.request.<name>``.
At-most-once: a run is claimed before it is sent, so a broker failure at that
moment loses that run (logged by Celery's ``apply_entry``) rather than doubling it.
"""

from __future__ import annotations

import contextlib
import json
import logging
import sys
import threading
import time
import uuid
from datetime import datetime, timezone
from typing import Any

import redis
from celery import signals
from celery.beat import Scheduler as CeleryScheduler

from ..bulk import gc_paused
from ..errors import UserError
from ..state.eviction import check_eviction_for_beat
from ..state.pause import count_paused
from ..state.runnow import REQUEST_HEADER, record_sent, requeue_request
from .claim import Claimer, LockLost
from .config import DEFAULT_LOCK_TIMEOUT, beat_client, ensure_conf
from .credentials import describe_redis_failure
from .decide import fire_time
from .dispatch import DEFAULT_BATCH_SIZE, BatchResult, Dispatcher, Due
from .heartbeat import FILE_SETTING, BeatState, Heartbeat, leader_quiet
from .lock import BeatLock, LockKeeper
from .metrics import Metrics, metrics_for
from .runlog import (
    DEFAULT_HISTORY,
    ENTRY_HEADER,
    append_runs,
    latest_runs,
    record_skips,
    sent_record,
    still_running,
    update_run,
    worker_seen,
)
from .scheduler_entry import SchedulerEntry
from .statics import save_static_entries, write_statics
from .wakeup import ChangeListener

logger = logging.getLogger("celery.beat")
UTC = timezone.utc

#: Header names added to every task beat sends: the slot a run is for, and the
#: first slot it stands for when missed slots were coalesced into it.
SLOT_HEADER = "redbeat_sync_slot"
COVERS_FROM_HEADER = "redbeat_sync_covers_from"
_MAX_BACKOFF = 30.0
#: A standby re-checks at least this often whether it should stop waiting.
_STANDBY_WAIT = 1.0
#: Sleep before re-reading entries whose claim lost a compare-and-set.
_RETRY_LOST = 0.05
#: Watchdog: seconds an entry may be overdue while this beat leads before it is
#: reported as a stall.
_OVERDUE_ALARM = 3.0


class ClaimedRun:
    """What Celery's ``apply_entry``/``apply_async`` read of an entry, nothing more.

    Building a full ``SchedulerEntry`` (a Celery schedule object included) for each
    of thousands of runs was a large share of dispatch time.
    """

    __slots__ = ("args", "kwargs", "last_run_at", "name", "options", "task", "total_run_count")

    def __init__(self, due: Due, options: dict[str, Any]) -> None:
        entry, run = due.entry, due.run
        self.name = entry.name
        self.task = entry.task
        self.args = list(entry.args)
        self.kwargs = dict(entry.kwargs)
        self.options = options
        self.last_run_at = run.last_run_at if run else None
        self.total_run_count = run.total_run_count if run else 0

    def __repr__(self) -> str:
        return f"<ClaimedRun {self.name} {self.task}>"


class _Stamps:
    """``isoformat`` per distinct datetime: the runs of one batch share a few slots."""

    __slots__ = ("_texts",)

    def __init__(self) -> None:
        self._texts: dict[tuple[Any, ...], str] = {}

    def iso(self, value: datetime) -> str:
        # Equal instants in other zones compare equal but print differently: the
        # zone and fold are part of the key.
        key = (value, value.tzinfo, value.fold)
        text = self._texts.get(key)
        if text is None:
            text = self._texts[key] = value.isoformat()
        return text


class Scheduler(CeleryScheduler):
    """RedBeat-compatible scheduler that doesn't drop, double or stall runs."""

    Entry = SchedulerEntry

    def __init__(
        self,
        app: Any,
        lock_key: str | None = None,
        lock_timeout: float | None = None,
        batch_size: int | None = None,
        **kwargs: Any,
    ) -> None:
        self.conf = ensure_conf(app)
        self.layout = self.conf.layout
        self.lock_key = lock_key or self.conf.lock_key
        self.lock_timeout = float(lock_timeout or self.conf.lock_timeout or DEFAULT_LOCK_TIMEOUT)
        self.batch_size = int(
            batch_size or app.conf.get("redbeat_sync_batch_size") or DEFAULT_BATCH_SIZE
        )
        history = app.conf.get("redbeat_sync_run_history")
        self.run_history = int(DEFAULT_HISTORY if history is None else history)
        self.sent_count = 0  # runs sent by this process (its heartbeat reports it)
        self.overlap_skipped = 0  # runs held back by overlap: skip
        self._worker_seen = False
        self.keeper: LockKeeper | None = None
        self.listener: ChangeListener | None = None
        self.dispatcher: Dispatcher | None = None
        self._started = False
        self._ready_term = -1  # leadership term whose start-up work (statics...) is done
        self._redis_down = False
        self._backoff = 0.0
        self._start_lock = threading.Lock()
        self.warnings: list[str] = []
        # Claimed runs unsent when the lease expired: handed back / already run on.
        self.handed_back = 0
        self.not_handed_back = 0
        # Watchdog (see _watch): episodes of runs overdue while leading, and by how much.
        self.overdue_alarm = _OVERDUE_ALARM
        self.stall_episodes = 0
        self.last_overdue = 0.0
        self._stalled = False
        # Heartbeat (redis + file) and metrics: see heartbeat.py and metrics.py.
        self.heartbeat = Heartbeat(self.layout, file=app.conf.get(FILE_SETTING))
        self._heartbeat_role: tuple[bool, str | None] | None = None  # as last written
        self.metrics: Metrics = Metrics()  # the real one is made by start()
        self._continuing = False  # the last pass was a full batch: more of a burst follows
        epoch = datetime.fromtimestamp(0, UTC)
        self._term_started = epoch
        self._parked_checked = epoch
        super().__init__(app, **kwargs)

    # --- Celery hooks ---------------------------------------------------------------
    def setup_schedule(self) -> None:
        """Nothing to load: Redis is the schedule.  Statics wait for the lock."""
        _detach_redbeat_lock_handler()

    def get_schedule(self) -> dict[str, Any]:
        return {}

    def set_schedule(self, schedule: Any) -> None:
        pass

    schedule = property(get_schedule, set_schedule)

    def update_from_dict(self, dict_: dict[str, Any]) -> None:
        """Celery's hook for static/default entries: saved to Redis (leader only)."""
        save_static_entries(self, self.client, dict_)

    def sync(self) -> None:
        """Nothing to flush: every claim is written to Redis as it happens."""

    @property
    def client(self) -> redis.Redis:
        # The app's client plus beat's start-up checks (a Redis is configured, and it
        # accepts our credentials): raises UserError, never picks a default Redis.
        client: redis.Redis = beat_client(self.app)
        return client

    def start(self) -> None:
        """Start the lock keeper and change listener (idempotent; not in ``__init__``
        because Celery builds throwaway instances and forks embedded beats)."""
        with self._start_lock:
            if self._started:
                return
            client = self.client
            # maxmemory-policy: the banner warns; refuse only when configured to.
            refuse = bool(self.app.conf.get("redbeat_sync_refuse_evicting_redis"))
            eviction = check_eviction_for_beat(client, refuse=refuse)
            if eviction is not None and eviction.evicting:
                logger.warning("beat: %s", eviction.message)
            # A bad metrics setting or a missing prometheus_client stops beat here.
            self.metrics = metrics_for(self.app, self)
            self.metrics.paused_count = lambda: count_paused(client, self.layout)
            self.metrics.start()
            self._started = True
            self.dispatcher = Dispatcher(
                client,
                self.layout,
                Claimer(client, self.layout, self.lock_key),
                beat_timezone=self.conf.beat_timezone,
                batch_size=self.batch_size,
            )
            self.listener = ChangeListener(client, self.layout.changes_channel)
            self.listener.start()
            if self.lock_key:
                lock = BeatLock(client, self.lock_key, self.lock_timeout)
                self.keeper = LockKeeper(lock, on_change=self._leadership_changed)
                logger.info("beat: Waiting for the leader lock %s...", self.lock_key)
                self.keeper.start()
            else:
                logger.warning("beat: redbeat_lock_key is None: running without a leader lock")

    def _leadership_changed(self, leader: bool) -> None:
        self.metrics.leadership(leader)
        if self.listener is not None:
            self.listener.event.set()  # wake the tick to start (or stop) at once

    def is_leader(self) -> bool:
        return self.keeper.is_leader() if self.keeper is not None else self._started

    @property
    def token(self) -> str | None:
        return self.keeper.token if self.keeper is not None else None

    @property
    def started(self) -> bool:
        return self._started

    @property
    def stalled(self) -> bool:
        """The watchdog's current episode: runs overdue while leading, not caught up."""
        return self._stalled

    def tick(self, *args: Any, **kwargs: Any) -> float:
        self.start()
        assert self.listener is not None
        # A change of role is written at once: health must see the new leader's record
        # as soon as it holds the lock, not up to a heartbeat interval later.
        if self.heartbeat.due() or self._heartbeat_role != (self.is_leader(), self.token):
            self._beat_alive()
        if not self.is_leader():
            # Changes seen while standing by are covered by the re-check every new
            # term starts with; drop them so they don't pile up.
            self.listener.take_changes()
            if self.keeper is not None:
                self.keeper.became_leader.wait(min(self.max_interval, _STANDBY_WAIT))
            return 0
        self.listener.event.clear()
        tick_started = time.perf_counter()
        try:
            wait = self.dispatch_once()
        except LockLost as exc:
            if self.keeper is not None:
                self.keeper.lose(str(exc))
            return 0
        except (redis.RedisError, OSError) as exc:
            self._redis_failed(exc)
            self.listener.event.wait(self._backoff)
            return 0
        if self._redis_down:
            self._redis_down = False
            self._backoff = 0.0
            logger.info("beat: Redis reachable again, dispatching")
        self.metrics.tick(time.perf_counter() - tick_started)
        if wait > 0:
            # Woken at least that often to write the heartbeat, with nothing due.
            self.listener.event.wait(min(wait, leader_quiet(self.lock_timeout)))
        return 0

    def _beat_alive(self) -> None:
        """Heartbeat: the file and this beat's record in Redis (heartbeat.py)."""
        leader = self.is_leader()
        self._heartbeat_role = (leader, self.token)
        lock_id = None
        if leader and self.token:
            with contextlib.suppress(ValueError, TypeError, AttributeError):
                lock_id = json.loads(self.token).get("id")
        state = BeatState(
            role="leader" if leader else "standby",
            lock_id=lock_id,
            lock_timeout=self.lock_timeout,
            sent=self.sent_count,
            due_backlog=None,
            stalled=self._stalled,
            stall_episodes=self.stall_episodes,
            last_overdue=self.last_overdue,
            redis_down=self._redis_down,
        )
        self.heartbeat.beat(self.client if self._started else None, state)

    def dispatch_once(self, now: datetime | None = None) -> float:
        """One leader pass; returns how long to sleep (0: go again at once).

        ``now`` is for tests (what time the pass believes it is); beat passes None.
        """
        assert self.dispatcher is not None and self.listener is not None

        def clock() -> datetime:
            return now if now is not None else self._now()

        # A term number, not a flag reset by the lock thread: a loss and regain racing
        # with this very block can then never skip the next term's start-up work.
        term = self.keeper.term if self.keeper is not None else 0
        if self._ready_term != term:
            write_statics(self, self.client)
            self.dispatcher.recheck_parked(clock(), self.token)
            self._ready_term = term
            self._term_started = self._parked_checked = clock()
        names, everything = self.listener.take_changes()
        if everything or self._parked_due(clock()):
            # Parked entries are re-read at least every max_interval: a re-enable made
            # by editing the stored definition (no notification) is picked up too.
            self.dispatcher.recheck_parked(clock(), self.token)
            self._parked_checked = clock()
        if names:
            self.dispatcher.recheck(names, clock(), self.token)
        started = clock()
        self._check_lease()
        # A batch builds thousands of small acyclic objects: collections re-scanning
        # them were a sixth of a first burst.  Bounded by the batch size.
        with gc_paused():
            result = self.dispatcher.run_batch(started, self.token)
            self._watch(result, started)
            if self.metrics.enabled:
                self._count_unsent(result)
            if result.runs:
                self._send_all(result.runs)
        self._continuing = result.full
        if result.full:
            return 0
        if result.lost:
            # Someone changed those entries between our read and our claim (a
            # reschedule(), another writer): look at them again shortly.
            return _RETRY_LOST
        finished = clock()
        return max(0.0, self._wake_at(result, started) - finished.timestamp())

    def _wake_at(self, result: BatchResult, started: datetime) -> float:
        """When to look again (UNIX time): never later than the earliest score.

        A score is the floored second its entry fires in, so an entry scored ``e``
        fires in ``[e, e + 1)``: a score in the future means "look at ``e``"; one not
        in the future means "look now", unless this batch has just decided that very
        entry, whose exact fire time (in that second) is then known.  Taken from the
        sorted set after the batch, whatever the batch did or the clock did meanwhile,
        so no entry is left behind a long sleep (beat once slept 300 s past a run
        claimed late in its slot: its new score was already due).
        """
        assert self.dispatcher is not None
        wake = started.timestamp() + float(self.max_interval)
        if result.next_fire is not None:
            wake = min(wake, result.next_fire.timestamp())
        earliest = self.dispatcher.earliest()
        if earliest is not None:
            key, score = earliest
            if score > started.timestamp():
                wake = min(wake, score)
            elif key in result.decided and result.next_fire is not None:
                wake = min(wake, score + 1)  # next_fire, within that second, is sooner
            else:
                wake = min(wake, score)  # due and not decided by this batch: now
        return wake

    def _count_unsent(self, result: BatchResult) -> None:
        """Metrics: runs the misfire policy skipped, and runs standing for several slots."""
        for due in result.skipped:
            self.metrics.run_skipped(due.entry.name, "misfire")
        for due in result.runs:
            decision = due.decision
            if decision.covers_from is not None and decision.covers_from != decision.slot:
                self.metrics.run_skipped(due.entry.name, "coalesced")

    def _parked_due(self, now: datetime) -> bool:
        return (now - self._parked_checked).total_seconds() >= float(self.max_interval)

    # --- the lease: no send once it may have expired ------------------------------------
    def _lease_ok(self) -> bool:
        return self.keeper is None or self.keeper.lease_valid()

    def _check_lease(self) -> None:
        if not self._lease_ok():
            raise LockLost("the lease expired (not renewed in time)")

    def _send_all(self, runs: list[Due]) -> None:
        """Send claimed runs, checking the lease before each one.

        Once the local lease deadline has passed (the process was stopped, renewals
        failed), another beat may lead: the rest are handed back, not sent late.
        """
        assert self.dispatcher is not None
        # One lookup of the (lazily connected) producer and one isoformat per slot for
        # the whole batch, not per run.
        producer, stamps = self.producer, _Stamps()
        runs = self._apply_overlap(runs)
        task_ids = self._record_runs(runs)
        for index, due in enumerate(runs):
            if not self._lease_ok():
                self._give_back(runs[index:], task_ids[index:])
                raise LockLost("the lease expired while sending a batch")
            self.send(due, producer=producer, stamps=stamps, task_id=task_ids[index])

    def _apply_overlap(self, runs: list[Due]) -> list[Due]:
        """Drop the runs of ``overlap: skip`` entries whose previous run has not
        reported an end (and is younger than ``overlap_timeout``); each one dropped
        is recorded in the history as skipped.  Its slot stays claimed: skipped,
        like a misfire skip, not retried."""
        guarded = [d for d in runs if d.entry.overlap == "skip"]
        if not guarded:
            return runs
        if self.run_history <= 0:
            self._warn_once("overlap: skip needs the run history (redbeat_sync_run_history > 0)")
            return runs
        try:
            latest = latest_runs(self.client, self.layout, [d.entry.name for d in guarded])
            if not self._worker_seen and worker_seen(self.client, self.layout):
                self._worker_seen = True
        except (redis.RedisError, OSError) as exc:
            logger.warning("beat: Could not read run history for overlap: skip: %s", exc)
            return runs
        if not self._worker_seen:
            self._warn_once(
                "overlap: skip is set on some entries but no worker has reported in "
                "(import redbeat_sync.worker in the workers): runs are not held back"
            )
            return runs  # nobody reports ends: holding back would stop them for good
        now = self._now()
        skipped: list[tuple[str, dict[str, Any]]] = []
        keep: list[Due] = []
        for due in runs:
            previous = latest.get(due.entry.name) if due.entry.overlap == "skip" else None
            if previous is not None and still_running(previous, due.entry, now):
                record = sent_record(
                    task_id=None, slot=due.decision.slot, covers_from=due.decision.covers_from,
                    kind="manual" if due.request is not None else "scheduled",
                    state="skipped", reason="overlap: the previous run has not finished",
                )  # fmt: skip
                record["blocked_by"] = previous.get("task_id")
                skipped.append((due.entry.name, record))
                self.overlap_skipped += 1
                self.metrics.run_skipped(due.entry.name, "overlap")
                if due.request is not None:  # tell `run --wait` instead of letting it time out
                    with contextlib.suppress(redis.RedisError, OSError):
                        record_sent(
                            self.client, self.layout, due.request, due.entry.name,
                            due.request.id, skipped=str(record["reason"]),
                        )  # fmt: skip
                continue
            keep.append(due)
        if skipped:
            logger.info(
                "beat: Skipped %d run(s) (overlap: skip, previous still running): %s",
                len(skipped), ", ".join(name for name, _ in skipped[:5]),
            )  # fmt: skip
            with contextlib.suppress(redis.RedisError, OSError):
                record_skips(self.client, self.layout, skipped, self.run_history)
        return keep

    def _warn_once(self, message: str) -> None:
        if message not in self.warnings:
            self.warnings.append(message)
            logger.warning("beat: %s", message)

    def _record_runs(self, runs: list[Due]) -> list[str | None]:
        """Task ids for ``runs``, their history records written BEFORE they are sent
        (one pipeline per batch), so a fast worker always finds the record it
        reports to.  A failure costs history, never a run."""
        if self.run_history <= 0:
            return [d.request.id if d.request is not None else None for d in runs]
        task_ids: list[str | None] = []
        records: list[tuple[str, dict[str, Any]]] = []
        for due in runs:
            # Run now: the request id is the task id (what `run --wait` looks for).
            task_id = due.request.id if due.request is not None else str(uuid.uuid4())
            task_ids.append(task_id)
            record = sent_record(
                task_id=task_id, slot=due.decision.slot, covers_from=due.decision.covers_from,
                kind="manual" if due.request is not None else "scheduled",
            )  # fmt: skip
            if due.request is not None:
                record["requested_by"] = due.request.by
                record["reason"] = due.request.reason
            records.append((due.entry.name, record))
        try:
            append_runs(self.client, self.layout, records, self.run_history)
        except (redis.RedisError, OSError) as exc:
            logger.warning("beat: Could not record %d run(s) in the history: %s", len(records), exc)
        return task_ids

    def _give_back(self, unsent: list[Due], task_ids: list[str | None] | None = None) -> None:
        assert self.dispatcher is not None
        for due, task_id in zip(unsent, task_ids or [None] * len(unsent), strict=True):
            with contextlib.suppress(redis.RedisError, OSError):
                if due.request is not None:  # never sent: pending again for the next leader
                    requeue_request(self.client, self.layout, due.entry.name, due.request)
                if task_id is not None and self.run_history > 0:
                    patch = {"state": "not_sent", "reason": "lease expired before sending"}
                    update_run(self.client, self.layout, due.entry.name, task_id, patch)
        try:
            restored = self.dispatcher.hand_back(unsent)
        except (redis.RedisError, OSError) as exc:
            restored = 0
            logger.error("beat: Could not hand back claimed runs: %s", exc)
        self.handed_back += restored
        self.not_handed_back += len(unsent) - restored
        names = ", ".join(d.entry.name for d in unsent[:5]) + (", ..." if len(unsent) > 5 else "")
        logger.warning(
            "beat: Lease expired with %d claimed run(s) unsent (%s): stopped sending; "
            "%d handed back for the next leader, %d already run on by another beat "
            "since and not sent (at most once)",
            len(unsent), names, restored, len(unsent) - restored,
        )  # fmt: skip

    # --- the watchdog ---------------------------------------------------------------------
    def _watch(self, result: BatchResult, started: datetime) -> None:
        """Notice a stall: the most overdue entry is late by more than ``overdue_alarm``
        seconds while this beat leads.

        Lateness counts from the end of the score's second, and not from before this
        leadership term began (runs missed while nobody led are a failover, not a
        stall), nor inside a burst of full batches (that is work, reported by the
        batches themselves).  Logged once per episode; ``stall_episodes`` and
        ``last_overdue`` are for health checks and metrics.
        """
        if result.earliest_due is None or self._continuing:
            overdue = 0.0
        else:
            since = max(result.earliest_due + 1, self._term_started.timestamp())
            overdue = started.timestamp() - since
        if overdue > self.overdue_alarm:
            self.last_overdue = overdue
            if not self._stalled:
                self._stalled = True
                self.stall_episodes += 1
                logger.warning(
                    "beat: Runs overdue by %.1fs while leading (process paused or "
                    "overloaded?): dispatching them now",
                    overdue,
                )
        elif self._stalled and overdue <= 0:
            self._stalled = False
            logger.info("beat: Caught up: nothing overdue any more")

    def _now(self) -> datetime:
        return datetime.now(UTC)

    def send(
        self,
        due: Due,
        producer: Any = None,
        stamps: _Stamps | None = None,
        task_id: str | None = None,
    ) -> None:
        """Send one claimed run through Celery's normal path (``apply_entry``)."""
        iso = (stamps or _Stamps()).iso
        options = due.entry.options
        headers = dict(options.get("headers") or {})
        if due.decision.slot is not None:
            headers[SLOT_HEADER] = iso(due.decision.slot)
        if due.decision.covers_from is not None:
            headers[COVERS_FROM_HEADER] = iso(due.decision.covers_from)
        headers[ENTRY_HEADER] = due.entry.name
        if due.request is not None:
            headers[REQUEST_HEADER] = due.request.id
            task_id = task_id or due.request.id
        extra: dict[str, Any] = {"task_id": task_id} if task_id else {}
        sent = self.apply_entry(
            ClaimedRun(due, {**options, **extra, "headers": headers}),
            producer=producer if producer is not None else self.producer,
        )
        if due.request is not None:
            # At once, before anything else: until this deletes the request (taken by
            # our claim), a successor that finds us gone sends it again.  A kill
            # between the publish above and this one Redis call is the only way a
            # run-now goes out twice (same task id); a kill before the publish no
            # longer loses it (state/runnow.py).  --wait reads the record it writes.
            with contextlib.suppress(redis.RedisError, OSError):
                record_sent(self.client, self.layout, due.request, due.entry.name, due.request.id)
        self.sent_count += 1
        if sent and self.metrics.enabled and due.decision.slot is not None:
            self.metrics.run_sent(
                due.entry.name, due.entry.task, fire_time(due.entry, due.decision.slot)
            )
        if due.request is not None:
            logger.info(
                "beat: Sent run-now of %r (requested by %s: %s)",
                due.entry.name, due.request.by, due.request.reason or "no reason given",
            )  # fmt: skip

    def apply_entry(self, entry: Any, producer: Any = None) -> bool:
        """Celery's ``apply_entry`` (a broker error is logged, never raised: the run was
        claimed, at most once), saying whether the run was sent, and counting failures."""
        logger.info("Scheduler: Sending due task %s (%s)", entry.name, entry.task)
        try:
            self.apply_async(entry, producer=producer, advance=False)
        except Exception as exc:  # whatever the broker or the task's options raise
            logger.error("Message Error: %s", exc, exc_info=True)
            self.metrics.send_failed(entry.name, entry.task)
            return False
        return True

    def _redis_failed(self, exc: BaseException) -> None:
        self._backoff = min(max(self._backoff * 2, 0.5), _MAX_BACKOFF, self.max_interval)
        if not self._redis_down:
            self._redis_down = True
            logger.error(
                "beat: %s: nothing is sent until it is back", describe_redis_failure(exc, self.conf)
            )

    def close(self) -> None:
        if self._started:
            self.heartbeat.remove(self.client)
        self.metrics.stop()
        if self.listener is not None:
            self.listener.stop()
        if self.keeper is not None:
            self.keeper.stop(release=True)
        super().close()

    # --- banner -------------------------------------------------------------------------
    @property
    def info(self) -> str:
        from .banner import banner_lines

        return "\n".join(banner_lines(self))


RedBeatScheduler = Scheduler


def _detach_redbeat_lock_handler() -> None:
    """celery-redbeat's own ``beat_init`` handler would take the lock for us with a
    blocking redis-py Lock it never renews; when celery-redbeat is imported in this
    process, keep it away from our scheduler."""
    module = sys.modules.get("redbeat.schedulers")
    handler = getattr(module, "acquire_distributed_beat_lock", None)
    if handler is None or handler is acquire_distributed_beat_lock:
        return  # not installed, or the name is an alias of ours
    original = getattr(handler, "__wrapped_by_redbeat_sync__", None)
    if original is not None:
        return

    def guarded(sender: Any = None, **kwargs: Any) -> Any:
        if isinstance(getattr(sender, "scheduler", None), Scheduler):
            return None
        return handler(sender=sender, **kwargs)

    guarded.__wrapped_by_redbeat_sync__ = handler  # type: ignore[attr-defined]
    with contextlib.suppress(Exception):
        signals.beat_init.disconnect(handler)
        signals.beat_init.connect(guarded, weak=False)
        module.acquire_distributed_beat_lock = guarded  # type: ignore[union-attr]


@signals.beat_init.connect
def acquire_distributed_beat_lock(sender: Any = None, **kwargs: Any) -> None:
    """Start chasing the leader lock as beat starts (RedBeat's hook name).

    Unlike RedBeat's, this never blocks or raises: the lock is taken (and retaken
    after a loss) by the scheduler's ``LockKeeper`` thread for as long as beat runs.
    """
    scheduler = getattr(sender, "scheduler", None)
    if isinstance(scheduler, Scheduler):
        try:
            scheduler.start()
        except UserError as exc:
            # A configuration error (no Redis configured, credentials refused): one
            # line and a non-zero exit, before anything is written anywhere.  Celery
            # swallows exceptions from signal handlers, not SystemExit.
            logger.critical("beat: %s", exc)
            raise SystemExit(1) from None
        if scheduler.keeper is not None:
            # Give a lone beat its lock before the first tick instead of after 1 s.
            scheduler.keeper.became_leader.wait(min(1.0, scheduler.lock_timeout))


__all__ = ["RedBeatScheduler", "Scheduler", "acquire_distributed_beat_lock"]

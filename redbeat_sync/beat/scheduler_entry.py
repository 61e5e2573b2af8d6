"""``SchedulerEntry``: RedBeat's entry API over our canonical ``Entry`` and codec.

Code written for ``redbeat.RedBeatSchedulerEntry`` keeps working: build one with a
Celery schedule (``schedule``, ``crontab``, a number of seconds, RedBeat's
``rrule``), ``save()`` it, load it back with ``from_key``, ``delete()`` or
``reschedule()`` it.  Underneath, every read and write goes through the one codec
the CLI uses, and every write PUBLISHes on the changes channel so a running beat
re-reads at once.

Differences from RedBeat, on purpose:

- ``due_at``/``score``/``is_due()`` use ``redbeat_sync.schedule.timing`` (the rules beat
  dispatches by): DST-correct cron in the entry's zone, rrule's first occurrence
  at dtstart, start/end windows.
- extra keyword ``timezone=`` (IANA name) evaluates a crontab in that zone;
  ``start_at``/``end_at``/``jitter``/``misfire``/``deadline`` are accepted too.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from typing import Any

from celery.beat import ScheduleEntry
from celery.schedules import BaseSchedule, crontab, schedstate
from celery.schedules import schedule as interval_schedule
from redis.cluster import ClusterPipeline

from ..errors import UserError
from ..fileformat.from_celery import NotConvertible, schedule_from_celery
from ..schedule import timing
from ..schedule.entry import Cron, Entry, Every, RRule, RunState, Schedule
from ..schedules import rrule
from ..state import codec
from ..state.layout import DEFINITION_FIELD, EXTRA_FIELD, META_FIELD
from .config import ensure_conf, get_redis

UTC = timezone.utc
#: RedBeat's answer for a disabled entry: look again in 5 s.
DISABLED_RECHECK = 5.0


class TimingSchedule(BaseSchedule):
    """A Celery schedule driven by ``redbeat_sync.schedule.timing`` (rrule, at, zoned cron)."""

    def __init__(self, entry: Entry, app: Any = None) -> None:
        super().__init__(app=app)
        self.entry = entry

    def remaining_estimate(self, last_run_at: datetime) -> timedelta | None:
        now = datetime.now(UTC)
        due = timing.next_due(self.entry, last_run_at, now)
        return None if due is None else due - now

    def is_due(self, last_run_at: datetime | None) -> schedstate:
        now = datetime.now(UTC)
        due = timing.next_due(self.entry, last_run_at, now)
        if due is None:
            return schedstate(False, None)
        if due <= now:
            following = timing.next_due(self.entry, now, now)
            wait = (following - now).total_seconds() if following else None
            return schedstate(True, wait)
        return schedstate(False, (due - now).total_seconds())

    def __repr__(self) -> str:
        return f"<TimingSchedule {self.entry.schedule.to_canonical()} {self.entry.timezone}>"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, TimingSchedule) and other.entry == self.entry

    __hash__ = None  # type: ignore[assignment]


# --------------------------------------------------------------------------- conversions


def _schedule_of(value: Any) -> Schedule:
    """Our canonical schedule for a Celery / RedBeat schedule object."""
    if isinstance(value, TimingSchedule):
        return value.entry.schedule
    try:
        return schedule_from_celery(value)
    except NotConvertible as exc:
        raise UserError(f"schedule {value!r} cannot be stored in RedBeat's format: {exc}") from None


def schedule_to_celery(entry: Entry, beat_timezone: str, app: Any) -> Any:
    """A Celery schedule object for user code that inspects ``entry.schedule``."""
    schedule = entry.schedule
    if isinstance(schedule, Every) and not (entry.start_at or entry.end_at):
        return interval_schedule(timedelta(seconds=schedule.seconds), schedule.relative, app=app)
    windowless = not (entry.start_at or entry.end_at)
    if isinstance(schedule, RRule) and schedule.dtstart is not None and windowless:
        # RedBeat's rrule class (attributes freq, dtstart, ...), read in the entry's zone.
        return rrule.from_rule(schedule, entry.timezone, app=app)
    if isinstance(schedule, Cron) and entry.timezone == beat_timezone and not entry.start_at:
        return crontab(
            minute=schedule.minute,
            hour=schedule.hour,
            day_of_month=schedule.day_of_month,
            month_of_year=schedule.month_of_year,
            day_of_week=schedule.day_of_week,
            app=app,
        )
    return TimingSchedule(entry, app=app)


# --------------------------------------------------------------------------- the entry


_EXTRA_KEYS = (
    "timezone", "start_at", "end_at", "jitter", "misfire", "deadline", "overlap", "overlap_timeout",
)  # fmt: skip
#: How ``args: null`` appears in a stored definition (json.dumps' spacing): a cheap
#: test before parsing the definition again.
_NULL_ARGS = '"args": null'


class SchedulerEntry(ScheduleEntry):
    """RedBeat-compatible schedule entry stored in Redis (alias RedBeatSchedulerEntry)."""

    last_run_at: datetime | None  # None: never ran (Celery's own entries say "now")

    def __init__(
        self,
        name: str | None = None,
        task: str | None = None,
        schedule: Any = None,
        args: Any = None,
        kwargs: Any = None,
        enabled: bool = True,
        options: Any = None,
        **clsargs: Any,
    ) -> None:
        self._features = {k: clsargs.pop(k) for k in _EXTRA_KEYS if k in clsargs}
        self._canonical: Entry | None = clsargs.pop("canonical", None)
        super().__init__(
            name=str(name),
            task=task,
            schedule=schedule,
            args=args,
            kwargs=kwargs,
            options=options,
            **clsargs,
        )
        self.enabled = enabled
        self.conf = ensure_conf(self.app)

    # --- construction --------------------------------------------------------------
    @classmethod
    def from_entry(
        cls, entry: Entry, run: RunState | None = None, *, app: Any, celery_schedule: bool = True
    ) -> SchedulerEntry:
        """Wrap a canonical entry (``celery_schedule=False`` skips building the
        Celery schedule object: dispatch only needs task, args and options)."""
        conf = ensure_conf(app)
        run = run or RunState()
        made = cls(
            name=entry.name,
            task=entry.task,
            schedule=schedule_to_celery(entry, conf.beat_timezone, app)
            if celery_schedule
            else None,
            args=list(entry.args),
            kwargs=dict(entry.kwargs),
            options=dict(entry.options),
            enabled=entry.enabled,
            app=app,
            canonical=entry,
            total_run_count=run.total_run_count,
        )
        made.last_run_at = run.last_run_at  # never "now" for an entry that never ran
        return made

    @staticmethod
    def generate_key(app: Any, name: str) -> str:
        return ensure_conf(app).key_prefix + name

    @classmethod
    def from_key(cls, key: str, app: Any = None) -> SchedulerEntry:
        """The entry stored under ``key`` (KeyError if none); ``app=None``: current app."""
        conf = ensure_conf(app)
        definition, meta, extra = get_redis(app).hmget(
            key, DEFINITION_FIELD, META_FIELD, EXTRA_FIELD
        )
        if not definition:
            raise KeyError(key)
        name = conf.layout.name_of(key)
        entry, _marked = codec.decode_entry(
            name, definition, extra, beat_timezone=conf.beat_timezone
        )
        made = cls.from_entry(entry, codec.decode_meta(meta), app=app)
        if not entry.args and _NULL_ARGS in definition and json.loads(definition)["args"] is None:
            made.args = None  # RedBeat stored args=None: a re-save keeps it so
        return made

    # --- canonical view ---------------------------------------------------------------
    def to_entry(self) -> Entry:
        """This entry as the canonical type (what the codec stores)."""
        base = self._canonical
        features = dict(self._features)
        if base is not None and self.schedule is None:
            schedule = base.schedule
        elif isinstance(self.schedule, TimingSchedule):
            schedule = self.schedule.entry.schedule
            features.setdefault("timezone", self.schedule.entry.timezone)
        elif isinstance(self.schedule, rrule) and base is None:
            # An rrule built by user code is read in dtstart's zone (as RedBeat reads it).
            schedule = self.schedule.rule
            if self.schedule.zone_name != "UTC":
                features.setdefault("timezone", self.schedule.zone_name)
        else:
            schedule = _schedule_of(self.schedule)
        for key in _EXTRA_KEYS:
            if base is not None:
                features.setdefault(key, getattr(base, key))
        features.setdefault("timezone", self.conf.beat_timezone)
        return Entry(
            name=self.name,
            task=self.task,
            schedule=schedule,
            args=list(self.args or []),
            kwargs=dict(self.kwargs or {}),
            options=dict(self.options or {}),
            enabled=bool(self.enabled),
            description=base.description if base else None,
            labels=dict(base.labels) if base else {},
            **features,
        )

    @property
    def key(self) -> str:
        return self.generate_key(app=self.app, name=self.name)

    def _now(self) -> datetime:
        return datetime.now(UTC)

    @property
    def due_at(self) -> datetime | None:
        """Next due time; None when no run is left.  Overdue means now (as RedBeat)."""
        now = self._now()
        due = timing.next_due(self.to_entry(), self.last_run_at, now)
        if due is None:
            return None
        return max(due.astimezone(UTC), now)

    @property
    def score(self) -> int:
        if not self.enabled:
            return -1  # parked: beat's rule for disabled entries
        return timing.score(self.due_at)

    @property
    def rank(self) -> int | None:
        rank: int | None = get_redis(self.app).zrank(self.conf.schedule_key, self.key)
        return rank

    def is_due(self) -> schedstate:
        if not self.enabled:
            return schedstate(False, DISABLED_RECHECK)
        entry = self.to_entry()
        now = self._now()
        due = timing.next_due(entry, self.last_run_at, now)
        if due is None:
            return schedstate(False, None)
        if due <= now:
            following = timing.next_due(entry, now, now)
            return schedstate(True, (following - now).total_seconds() if following else None)
        return schedstate(False, (due - now).total_seconds())

    # --- writes -----------------------------------------------------------------------
    def _notify(self, pipe: Any) -> None:
        payload = {"count": 1, "names": [self.name]}
        channel, message = self.conf.layout.changes_channel, json.dumps(payload)
        if isinstance(pipe, ClusterPipeline):
            # Cluster pipelines refuse PUBLISH: publish right after the pipeline ran.
            execute = pipe.execute

            def execute_then_publish(*args: Any, **kwargs: Any) -> Any:
                result = execute(*args, **kwargs)
                get_redis(self.app).publish(channel, message)
                return result

            pipe.execute = execute_then_publish  # type: ignore[method-assign]  # wrap
            return
        pipe.publish(channel, message)

    def save(self) -> SchedulerEntry:
        """Write definition (and extra field), create meta if missing, set the score."""
        entry = self.to_entry()
        encoded = codec.encode_entry(
            entry,
            beat_timezone=self.conf.beat_timezone,
            managed=False,
            null_args=self.args is None,
        )
        meta = codec.encode_meta(RunState(self.last_run_at, self.total_run_count))
        with get_redis(self.app).pipeline() as pipe:
            pipe.hset(self.key, DEFINITION_FIELD, encoded.definition)
            if encoded.extra is not None:
                pipe.hset(self.key, EXTRA_FIELD, encoded.extra)
            else:
                pipe.hdel(self.key, EXTRA_FIELD)
            pipe.hsetnx(self.key, META_FIELD, meta)  # never resets beat's run history
            pipe.zadd(self.conf.schedule_key, {self.key: self.score})
            self._notify(pipe)
            pipe.execute()
        return self

    def delete(self) -> None:
        with get_redis(self.app).pipeline() as pipe:
            pipe.zrem(self.conf.schedule_key, self.key)
            pipe.delete(self.key)
            self._notify(pipe)
            pipe.execute()

    def reschedule(self, last_run_at: datetime | None = None) -> None:
        """Pretend the entry last ran at ``last_run_at`` (default now)."""
        self.last_run_at = last_run_at or self._now()
        meta = codec.encode_meta(RunState(self.last_run_at, self.total_run_count))
        with get_redis(self.app).pipeline() as pipe:
            pipe.hset(self.key, META_FIELD, meta)
            pipe.zadd(self.conf.schedule_key, {self.key: self.score})
            self._notify(pipe)
            pipe.execute()

    def _next_instance(
        self, last_run_at: datetime | None = None, only_update_last_run_at: bool = False
    ) -> SchedulerEntry:
        """RedBeat's ``next(entry)``: a copy that has run once more, persisted."""
        entry = self.to_entry()
        made = SchedulerEntry.from_entry(
            entry,
            RunState(
                last_run_at or self._now(),
                self.total_run_count + (0 if only_update_last_run_at else 1),
            ),
            app=self.app,
        )
        meta = codec.encode_meta(RunState(made.last_run_at, made.total_run_count))
        with get_redis(self.app).pipeline() as pipe:
            pipe.hset(self.key, META_FIELD, meta)
            pipe.zadd(self.conf.schedule_key, {self.key: made.score})
            pipe.execute()
        return made

    __next__ = next = _next_instance

    def __repr__(self) -> str:
        return f"<SchedulerEntry {self.name} {self.task} {self.schedule!r}>"


RedBeatSchedulerEntry = SchedulerEntry

__all__ = [
    "RedBeatSchedulerEntry",
    "SchedulerEntry",
    "TimingSchedule",
    "schedule_to_celery",
]

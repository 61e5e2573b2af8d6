"""The canonical entry: the one type the spec produces and the state layer reads.

Both sides of every comparison are built into these plain, immutable values so the
diff compares like with like: the YAML loader turns `{every: 1h30m}` into
``Every(5400.0)`` and the Redis reader turns RedBeat's
``{"__type__": "interval", "every": 5400.0, "relative": false}`` into the same thing.

``to_canonical()`` gives a JSON-able dict used for diffs, plan files and JSON output.
``args``, ``kwargs`` and ``options`` are in the form RedBeat stores (``values``):
datetimes as RedBeat's tagged objects, not ISO strings, because a task receives a
datetime and a string differently and the plan must see that.  Schedule-side
instants (``start_at``, ``at``, rrule ``dtstart``...) are UTC ISO strings: they
only decide when the entry fires, which the plan compares as instants.
"""

from __future__ import annotations

from dataclasses import MISSING, dataclass, field, fields
from datetime import datetime, timezone
from typing import Any

from ..values import decode_value, encode_value
from .vocabulary import (
    DEFAULT_MISFIRE,
    DEFAULT_OVERLAP,
    DEFAULT_TIMEZONE,
    SOLAR_EVENTS,
    MisfirePolicy,
    OverlapPolicy,
    RRuleFrequency,
    SolarEvent,
    solar_event,
)

#: How long an unfinished run blocks the next under ``overlap: skip`` when the entry
#: names no ``overlap_timeout`` (a worker may die without reporting).
DEFAULT_OVERLAP_TIMEOUT = 3600.0


def _iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc).isoformat()


def _from_iso(value: str | None) -> datetime | None:
    if value is None:
        return None
    parsed = datetime.fromisoformat(value)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


# --------------------------------------------------------------------------- schedules


@dataclass(frozen=True)
class Cron:
    """Five cron fields, kept as written (RedBeat keeps crontab values as given)."""

    minute: str = "*"
    hour: str = "*"
    day_of_month: str = "*"
    month_of_year: str = "*"
    day_of_week: str = "*"

    kind = "cron"

    @classmethod
    def from_expression(cls, expression: str) -> Cron:
        parts = expression.split()
        if len(parts) != 5:
            raise ValueError(f"expected 5 fields (m h dom mon dow), got {len(parts)}")
        return cls(*parts)

    @property
    def expression(self) -> str:
        return " ".join(
            (self.minute, self.hour, self.day_of_month, self.month_of_year, self.day_of_week)
        )

    def to_canonical(self) -> dict[str, Any]:
        return {"cron": self.expression}


@dataclass(frozen=True)
class Every:
    """A fixed interval in seconds (Celery's ``schedule(run_every=...)``)."""

    seconds: float
    relative: bool = False

    kind = "every"

    def to_canonical(self) -> dict[str, Any]:
        out: dict[str, Any] = {"every": float(self.seconds)}
        if self.relative:
            out["relative"] = True
        return out


@dataclass(frozen=True)
class RRule:
    """An RFC 5545 recurrence rule (dateutil / RedBeat's ``rrule`` schedule).

    ``by*`` fields are sorted tuples of ints (None when unset); ``byweekday`` holds
    weekday numbers 0=Monday..6=Sunday; datetimes are timezone-aware.
    """

    freq: RRuleFrequency
    interval: int = 1
    dtstart: datetime | None = None
    until: datetime | None = None
    count: int | None = None
    wkst: int | None = None
    bysetpos: tuple[int, ...] | None = None
    bymonth: tuple[int, ...] | None = None
    bymonthday: tuple[int, ...] | None = None
    byyearday: tuple[int, ...] | None = None
    byeaster: tuple[int, ...] | None = None
    byweekno: tuple[int, ...] | None = None
    byweekday: tuple[int, ...] | None = None
    byhour: tuple[int, ...] | None = None
    byminute: tuple[int, ...] | None = None
    bysecond: tuple[int, ...] | None = None

    kind = "rrule"

    BY_FIELDS = (
        "bysetpos", "bymonth", "bymonthday", "byyearday", "byeaster",
        "byweekno", "byweekday", "byhour", "byminute", "bysecond",
    )  # fmt: skip

    def to_canonical(self) -> dict[str, Any]:
        body: dict[str, Any] = {"freq": self.freq, "interval": self.interval}
        for name in ("dtstart", "until"):
            value = getattr(self, name)
            if value is not None:
                body[name] = _iso(value)
        for name in ("count", "wkst", *self.BY_FIELDS):
            value = getattr(self, name)
            if value is not None:
                body[name] = list(value) if isinstance(value, tuple) else value
        return {"rrule": body}


@dataclass(frozen=True)
class At:
    """A one-off run at an instant (no RedBeat encoding: needs our scheduler)."""

    when: datetime

    kind = "at"

    def to_canonical(self) -> dict[str, Any]:
        return {"at": _iso(self.when)}


@dataclass(frozen=True)
class Solar:
    """A solar event at a place (Celery's ``solar``; no RedBeat encoding: needs our
    scheduler).  Computed with the optional ``ephem`` package, see ``solar``."""

    event: SolarEvent
    lat: float  # -90..90, degrees north
    lon: float  # -180..180, degrees east

    kind = "solar"

    def to_canonical(self) -> dict[str, Any]:
        return {"solar": {"event": self.event, "lat": float(self.lat), "lon": float(self.lon)}}


Schedule = Cron | Every | RRule | At | Solar


def schedule_from_canonical(data: dict[str, Any]) -> Schedule:
    if "cron" in data:
        return Cron.from_expression(data["cron"])
    if "every" in data:
        return Every(float(data["every"]), bool(data.get("relative", False)))
    if "solar" in data:
        body = data["solar"]
        if body.get("event") not in SOLAR_EVENTS:
            raise ValueError(f"bad solar schedule {body!r:.80}")
        solar = Solar(solar_event(body["event"]), float(body["lat"]), float(body["lon"]))
        if abs(solar.lat) > 90 or abs(solar.lon) > 180:
            raise ValueError(f"bad solar schedule {body!r:.80}")
        return solar
    if "at" in data:
        when = _from_iso(data["at"])
        assert when is not None
        return At(when)
    if "rrule" in data:
        body = dict(data["rrule"])
        for name in ("dtstart", "until"):
            if name in body:
                body[name] = _from_iso(body[name])
        for name in RRule.BY_FIELDS:
            if body.get(name) is not None:
                body[name] = tuple(body[name])
        return RRule(**body)
    raise ValueError(f"unknown schedule kind in {sorted(data)}")


# --------------------------------------------------------------------------- entries


@dataclass(frozen=True)
class Entry:
    """One schedule entry, as the files want it or as Redis holds it.

    ``timezone`` is always concrete: entries RedBeat wrote (which store no zone) get
    the zone beat runs in, so they compare equal to a file that names that zone.
    """

    name: str
    task: str
    schedule: Schedule
    args: list[Any] = field(default_factory=list)
    kwargs: dict[str, Any] = field(default_factory=dict)
    options: dict[str, Any] = field(default_factory=dict)
    enabled: bool = True
    timezone: str = DEFAULT_TIMEZONE
    description: str | None = None
    labels: dict[str, str] = field(default_factory=dict)
    # Features only redbeat_sync.Scheduler honours (RedBeat ignores or cannot express).
    start_at: datetime | None = None  # no run before this instant
    end_at: datetime | None = None  # no run after this instant
    jitter: float = 0.0  # seconds of random delay added to each run
    misfire: MisfirePolicy = DEFAULT_MISFIRE  # what to do with runs missed while beat was down
    deadline: float | None = None  # with misfire="deadline": max lateness in seconds
    overlap: OverlapPolicy = DEFAULT_OVERLAP  # skip: no run while the previous one still runs
    overlap_timeout: float | None = None  # a run silent this long counts as finished
    # Lifecycle flag, not part of what runs: False keeps the entry in Redis (released,
    # no longer managed) when it leaves the files instead of deleting it.
    prune: bool = True

    def to_canonical(self) -> dict[str, Any]:
        """JSON-able dict with every field, the form diffs and fingerprints use."""
        return {
            "name": self.name,
            "task": self.task,
            "schedule": self.schedule.to_canonical(),
            # As stored for RedBeat: every value the task could receive differently
            # (a datetime or its ISO string, 1 or 1.0) stays different here.
            "args": encode_value(list(self.args)),
            "kwargs": encode_value(dict(self.kwargs)),
            "options": encode_value(dict(self.options)),
            "enabled": self.enabled,
            "timezone": self.timezone,
            "description": self.description,
            "labels": dict(self.labels),
            "start_at": _iso(self.start_at),
            "end_at": _iso(self.end_at),
            "jitter": float(self.jitter),
            "misfire": self.misfire,
            "deadline": self.deadline,
            # Only when set: entries without it keep their canonical form (and digests).
            **({} if self.prune else {"prune": False}),
            **(
                {"overlap": self.overlap, "overlap_timeout": self.overlap_timeout}
                if self.overlap != DEFAULT_OVERLAP or self.overlap_timeout is not None
                else {}
            ),
        }

    def non_default_fields(self) -> dict[str, Any]:
        """The canonical fields whose value is not the field's declared default.

        Name, task and schedule have no default and are always included.  Read from the
        dataclass defaults, so a field added later is covered without a second list.
        """
        canonical = self.to_canonical()
        out: dict[str, Any] = {}
        for f in fields(self):
            if f.name not in canonical:  # left out of the canonical form: default
                continue
            if f.default is not MISSING:
                default: Any = f.default
            elif f.default_factory is not MISSING:
                default = f.default_factory()
            else:
                out[f.name] = canonical[f.name]
                continue
            if getattr(self, f.name) != default:
                out[f.name] = canonical[f.name]
        return out

    @classmethod
    def from_canonical(cls, data: dict[str, Any]) -> Entry:
        """Inverse of ``to_canonical``."""
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        values["schedule"] = schedule_from_canonical(data["schedule"])
        for name in ("args", "kwargs", "options"):
            if name in values:
                values[name] = decode_value(values[name])
        for name in ("start_at", "end_at"):
            values[name] = _from_iso(values.get(name))
        return cls(**values)


@dataclass(frozen=True)
class RunState:
    """An entry's run history, RedBeat's ``meta`` field. Never reset by apply."""

    last_run_at: datetime | None = None  # None: never run (RedBeat: due now)
    total_run_count: int = 0


def scheduler_only_features(entry: Entry, beat_timezone: str = DEFAULT_TIMEZONE) -> list[str]:
    """Why celery-redbeat's own scheduler cannot run this entry as written.

    Such entries are stored inert for RedBeat (disabled in ``definition``, the real
    schedule in our extra field) so a RedBeat beat never fires them at a wrong time;
    the plan lists these reasons so the user knows they need redbeat_sync.Scheduler.
    """
    reasons: list[str] = []
    if isinstance(entry.schedule, At):
        reasons.append("one-off 'at' schedule")
    if isinstance(entry.schedule, Solar):
        reasons.append("solar schedule")
    if isinstance(entry.schedule, Cron) and entry.timezone != beat_timezone:
        reasons.append(f"cron in {entry.timezone}, beat runs in {beat_timezone}")
    if entry.start_at is not None or entry.end_at is not None:
        reasons.append("start/end window")
    if entry.overlap != DEFAULT_OVERLAP:
        reasons.append(f"overlap: {entry.overlap}")
    return reasons


def redbeat_ignored_features(entry: Entry) -> list[str]:
    """Features RedBeat's scheduler silently ignores (harmless, but worth saying)."""
    ignored: list[str] = []
    if entry.jitter:
        ignored.append("jitter")
    if entry.misfire != DEFAULT_MISFIRE:
        ignored.append(f"misfire policy {entry.misfire}")
    return ignored

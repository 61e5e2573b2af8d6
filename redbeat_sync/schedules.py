"""``redbeat_sync.schedules.rrule``: RedBeat's rrule schedule under our import path.

Code written for ``redbeat.schedules.rrule`` keeps working after replacing
``redbeat`` with ``redbeat_sync``: same constructor (``freq`` as a dateutil constant
or a name such as ``"DAILY"``, ``dtstart`` defaulting to now, the ``by*`` parts),
same attributes (``freq``, ``dtstart``, ``until``, ``interval``, ``count``, ...,
``rrule``: a dateutil rule), same ``remaining_estimate``/``is_due``.

The arithmetic is ``redbeat_sync.schedule.timing``'s (the rules beat dispatches by), applied
to the canonical ``RRule`` this object stands for (``rule``): so a zone-aware
dtstart is followed across DST, and a never-run entry's first occurrence is dtstart
itself (RedBeat #74) when beat asks.  Rules are read in dtstart's zone, as dateutil
and RedBeat read them: a fixed offset stays fixed.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from functools import cached_property
from typing import Any
from zoneinfo import ZoneInfo

from celery.schedules import BaseSchedule, schedstate
from dateutil.rrule import DAILY, HOURLY, MINUTELY, MONTHLY, SECONDLY, WEEKLY, YEARLY
from dateutil.rrule import rrule as dateutil_rrule
from dateutil.rrule import weekday as dateutil_weekday

from .schedule import timing
from .schedule.entry import RRule
from .schedule.vocabulary import RRULE_FREQUENCIES, rrule_frequency

#: The rule parts after ``freq``, in the order RedBeat's constructor takes them.
RULE_PARTS = ("dtstart", "interval", "wkst", "count", "until", *RRule.BY_FIELDS)


def _weekday_number(value: Any) -> int:
    """A dateutil weekday object's number, or the number itself."""
    number: Any = getattr(value, "weekday", value)
    return int(number)


def _numbers(value: Any, name: str) -> tuple[int, ...] | None:
    """A by-part as sorted unique ints (weekday objects become their numbers)."""
    if value is None:
        return None
    items = value if isinstance(value, (list, tuple, set, frozenset)) else [value]
    if name == "byweekday":
        return tuple(sorted({_weekday_number(v) for v in items})) or None
    return tuple(sorted({int(v) for v in items})) or None


def _aware_utc(value: datetime | None) -> datetime | None:
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=timing.UTC)


def rule_of(value: Any) -> RRule:
    """The canonical ``RRule`` of an object with RedBeat rrule's attributes (ours, or
    celery-redbeat's own class when both are installed)."""
    if isinstance(value, rrule):
        return value.rule
    return _rule_from_attributes(value)


def _rule_from_attributes(value: Any) -> RRule:
    freq = value.freq
    return RRule(
        freq=RRULE_FREQUENCIES[freq] if isinstance(freq, int) else rrule_frequency(str(freq)),
        interval=int(value.interval or 1),
        dtstart=_aware_utc(value.dtstart),
        until=_aware_utc(value.until),
        count=value.count,
        wkst=getattr(value.wkst, "weekday", value.wkst),
        **{name: _numbers(getattr(value, name, None), name) for name in RRule.BY_FIELDS},
    )


def _zone_of(start: datetime) -> str:
    """The zone name ``timing`` reads a rule in: dtstart's named zone, else UTC (where a
    non-zero fixed offset is kept as it is, see ``timing.rule_zone``)."""
    tz = start.tzinfo
    return tz.key if isinstance(tz, ZoneInfo) and tz.key else "UTC"


class rrule(BaseSchedule):
    """A Celery schedule for an RFC 5545 recurrence rule (RedBeat's ``rrule``)."""

    FREQ_MAP = {name.upper(): number for number, name in enumerate(RRULE_FREQUENCIES)}

    def __init__(
        self,
        freq: int | str,
        dtstart: datetime | None = None,
        interval: int = 1,
        wkst: Any = None,
        count: int | None = None,
        until: datetime | None = None,
        bysetpos: Any = None,
        bymonth: Any = None,
        bymonthday: Any = None,
        byyearday: Any = None,
        byeaster: Any = None,
        byweekno: Any = None,
        byweekday: Any = None,
        byhour: Any = None,
        byminute: Any = None,
        bysecond: Any = None,
        **kwargs: Any,
    ) -> None:
        self._zone: str | None = kwargs.pop("zone_name", None)
        super().__init__(**kwargs)
        if isinstance(freq, str):
            try:
                freq = self.FREQ_MAP[freq.upper()]
            except KeyError:
                raise ValueError(
                    f"unknown rrule frequency {freq!r}: one of {', '.join(self.FREQ_MAP)}"
                ) from None
        if not isinstance(freq, int) or not 0 <= freq < len(RRULE_FREQUENCIES):
            raise ValueError(f"unknown rrule frequency {freq!r}")
        self.freq = freq
        self.dtstart = self.maybe_make_aware(dtstart or self.now())
        self.until = self.maybe_make_aware(until) if until else None
        self.interval = interval
        self.wkst = wkst
        self.count = count
        self.bysetpos = bysetpos
        self.bymonth = bymonth
        self.bymonthday = bymonthday
        self.byyearday = byyearday
        self.byeaster = byeaster
        self.byweekno = byweekno
        self.byweekday = byweekday
        self.byhour = byhour
        self.byminute = byminute
        self.bysecond = bysecond

    @classmethod
    def from_rule(cls, rule: RRule, zone_name: str, app: Any = None) -> rrule:
        """This class for a canonical rule read in ``zone_name`` (an entry's zone)."""
        weekdays = (
            tuple(dateutil_weekday(day) for day in rule.byweekday) if rule.byweekday else None
        )
        parts: dict[str, Any] = {name: getattr(rule, name) for name in RRule.BY_FIELDS}
        parts["byweekday"] = weekdays
        made = cls(
            RRULE_FREQUENCIES.index(rule.freq),
            dtstart=rule.dtstart,
            interval=rule.interval,
            wkst=rule.wkst,
            count=rule.count,
            until=rule.until,
            app=app,
            zone_name=zone_name,
            **parts,
        )
        made.__dict__["rule"] = rule  # exact, not rebuilt from the attributes
        return made

    # --- what the attributes mean -------------------------------------------------------
    @cached_property
    def rule(self) -> RRule:
        """The canonical rule (what the codec stores and ``timing`` evaluates)."""
        return _rule_from_attributes(self)

    @property
    def zone_name(self) -> str:
        return self._zone or _zone_of(self.dtstart)

    @cached_property
    def rrule(self) -> dateutil_rrule:
        """The dateutil rule, for code that walks occurrences itself."""
        return timing.dateutil_rule(self.rule, self.zone_name)

    # --- Celery's schedule API ----------------------------------------------------------
    def _next_after(self, moment: datetime) -> datetime | None:
        return timing.rrule_after(self.rule, self.zone_name, self.maybe_make_aware(moment))

    def remaining_estimate(self, last_run_at: datetime) -> timedelta | None:
        """Time from now to the first occurrence after ``last_run_at``; None when the
        rule has no further occurrence."""
        following = self._next_after(last_run_at)
        if following is None:
            return None
        now: datetime = self.maybe_make_aware(self.now())
        return following - now

    def is_due(self, last_run_at: datetime) -> schedstate:
        remaining = self.remaining_estimate(last_run_at)
        if remaining is None:
            return schedstate(False, None)
        if remaining.total_seconds() > 0:
            return schedstate(False, remaining.total_seconds())
        upcoming = self.remaining_estimate(self.now())
        return schedstate(True, max(upcoming.total_seconds(), 0) if upcoming else None)

    def __repr__(self) -> str:
        parts = ", ".join(
            f"{name}={getattr(self, name)!r}"
            for name in RULE_PARTS
            if getattr(self, name) is not None
        )
        return f"<rrule {RRULE_FREQUENCIES[self.freq].upper()} {parts}>"

    def __reduce__(self) -> tuple[Any, ...]:
        values = tuple(getattr(self, name) for name in RULE_PARTS)
        return (self.__class__, (self.freq, *values))


__all__ = [
    "DAILY",
    "HOURLY",
    "MINUTELY",
    "MONTHLY",
    "SECONDLY",
    "WEEKLY",
    "YEARLY",
    "rrule",
    "rule_of",
]

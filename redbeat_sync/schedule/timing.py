"""When an entry fires: next fire times, next due time and the sorted-set score.

Shared by the planner (next 3 fire times, reschedules), the writer (scores) and the
beat scheduler (dispatch).  All inputs and outputs are timezone-aware datetimes.

CONTRACT:

- ``next_fire_after(entry, after) -> datetime | None``: first fire time strictly
  after ``after``, honouring the entry's timezone (DST-correct; cron as Celery reads it),
  start/end window; None when the schedule is exhausted.
- ``next_fire_times(entry, n=3, now=None) -> list[datetime]``: the next n fire times
  after now (floored to the whole second), expressed in the entry's own zone.
- ``next_due(entry, last_run_at, now) -> datetime | None``: when the entry is next
  due given its last run.  Never run (None) means due now for intervals/cron (as
  RedBeat), the first occurrence at or after dtstart for rrule (RedBeat #74 skipped
  it), ``when`` for one-off ``at``; None means no further run.  The result may lie
  before ``now``: the entry is overdue (the caller decides what a misfire means).
- ``score(due) -> int``: integer UNIX seconds, floored so it is never late; -1 for None.

``enabled`` is not looked at here: this module is schedule arithmetic only.

Cron semantics (the same as Celery's ``crontab``, which RedBeat uses):

- day-of-month and day-of-week must BOTH match when both are restricted (Celery ANDs
  them; classic cron ORs them).  Fields are evaluated in the entry's IANA zone.
- DST, following what Vixie cron / cronie do, because both obvious alternatives
  surprise someone:

  * hour field a wildcard (``*``, ``*/2``...): the job is "periodic" and follows real
    time.  Local times skipped by spring-forward do not exist and are not run;
    local times repeated by fall-back are run in both passes (an hourly job stays
    hourly in elapsed time).
  * hour field fixed (``30 2 * * *``): the job is "at a time of day".  A local time
    skipped by spring-forward fires at the first valid instant after the gap (the
    transition itself, 03:00 in Europe/Paris), so a daily job never loses its day;
    several skipped times collapse into that one firing.  A repeated local time
    fires once, in its first pass.

Interval (``Every``): fire times are ``last_run_at + k * seconds``; with no run
history, ``next_fire_times`` counts from now (a created entry gets ``last_run_at`` =
save time, so it first fires one interval later, like RedBeat).  ``relative``
intervals use Celery's own rounding (``celery.utils.time.remaining``), as RedBeat does.
A cron expression that names no date (``0 0 30 2 *``), or an rrule whose by-rules
select nothing, never fires (None).

RRule: evaluated with dateutil in the zone ``rule_zone`` picks: the entry's zone
(DST-correct) unless dtstart carries a different fixed offset, which is then kept
(that is how RedBeat reads a rule it stored).  No ``dtstart`` means "from now"; a
never-run rule's first occurrence is dtstart itself when it matches (inclusive).
``count``/``until`` exhaustion gives None.  Rules without ``count`` are fast-forwarded
by whole periods, so an old dtstart costs nothing.

Solar (``Solar``): the next event computed by ``solar`` with the optional ``ephem``,
as Celery's ``solar`` computes it; None (no further run) when ephem is missing.

Windows: no fire before ``start_at``; None once the next fire would be after ``end_at``.
"""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import datetime, timedelta, timezone, tzinfo
from functools import lru_cache
from typing import Literal, cast
from zoneinfo import ZoneInfo

from dateutil import rrule as du_rrule

from . import cron as cron_fields
from . import solar
from .entry import At, Cron, Entry, Every, RRule, Schedule, Solar
from .vocabulary import RRULE_FREQUENCIES, RRuleFrequency

UTC = timezone.utc

#: Largest DST shift looked around a transition (real ones are <= 2 h).
_DST_MARGIN = timedelta(hours=3)
_TINY = timedelta(microseconds=1)


# --------------------------------------------------------------------------- helpers


@lru_cache(maxsize=512)
def zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _floor_second(value: datetime) -> datetime:
    return value.replace(microsecond=0)


def _later(when: datetime, seconds: float) -> datetime | None:
    """``when`` plus ``seconds``; None (no further run) past the last datetime.

    Files bound intervals to 100 years, but an entry another writer stored (RedBeat
    takes any float) may hold more: that is "never again", not an OverflowError.
    """
    try:
        return when + timedelta(seconds=seconds)
    except OverflowError:
        return None


def score(due: datetime | None) -> int:
    """Sorted-set score of a due time: floored UNIX seconds, -1 for "never again"."""
    if due is None:
        return -1
    return math.floor(_aware(due).timestamp())


# --------------------------------------------------------------------------- cron


def _cron_walk(expression: str, start: datetime, limit: int) -> list[datetime]:
    """The next ``limit`` naive wall-clock matches strictly after ``start``, as Celery
    reads the crontab (CronNeverMatches when no date matches)."""
    crontab = cron_fields.cron_sets(expression)
    found: list[datetime] = []
    for _ in range(limit):
        start = crontab.next_after(start)
        found.append(start)
    return found


@lru_cache(maxsize=4096)
def _gap_end(wall: datetime, zone_name: str) -> datetime:
    """First real instant after the spring-forward gap that swallowed ``wall``."""
    tz = zone(zone_name)
    # In a gap fold=0 uses the offset before the transition (a later instant),
    # fold=1 the offset after it (an earlier one): the transition lies between.
    later = wall.replace(tzinfo=tz, fold=0).astimezone(UTC)
    earlier = wall.replace(tzinfo=tz, fold=1).astimezone(UTC)
    after_offset = wall.replace(tzinfo=tz, fold=1).utcoffset()
    lo, hi = math.floor(earlier.timestamp()), math.ceil(later.timestamp())
    while hi - lo > 1:  # lo: before the transition, hi: at or after it
        mid = (lo + hi) // 2
        if datetime.fromtimestamp(mid, UTC).astimezone(tz).utcoffset() == after_offset:
            hi = mid
        else:
            lo = mid
    return datetime.fromtimestamp(hi, UTC).astimezone(tz)


def _instants(wall: datetime, tz: ZoneInfo, zone_name: str, periodic: bool) -> list[datetime]:
    """The real instants (UTC) a naive local wall time stands for, per the DST policy."""
    first = wall.replace(tzinfo=tz, fold=0)
    second = wall.replace(tzinfo=tz, fold=1)
    off_first, off_second = first.utcoffset(), second.utcoffset()
    if off_first == off_second:
        return [first.astimezone(UTC)]
    assert off_first is not None and off_second is not None
    if off_first > off_second:  # repeated by fall-back
        if periodic:
            return [first.astimezone(UTC), second.astimezone(UTC)]
        return [first.astimezone(UTC)]
    # skipped by spring-forward
    return [] if periodic else [_gap_end(wall, zone_name).astimezone(UTC)]


def _cron_next_after(cron: Cron, zone_name: str, after: datetime) -> datetime | None:
    """First cron instant strictly after ``after``, in UTC (None: never matches).

    Works on naive local wall times (the crontab knows calendar arithmetic only) and maps
    each match to real instants; all comparisons are made in UTC, because Python
    compares two datetimes sharing a tzinfo by wall time, ignoring ``fold``.
    """
    tz = zone(zone_name)
    expression = cron.expression
    periodic = cron.hour.strip().startswith("*")
    after = after.astimezone(UTC)
    offset_before = (after - _DST_MARGIN).astimezone(tz).utcoffset()
    offset_after = (after + _DST_MARGIN).astimezone(tz).utcoffset()
    local = after.astimezone(tz)
    wall = local.replace(tzinfo=None, fold=0)
    if offset_before == offset_after == local.utcoffset():
        # Wall time and real time run together around ``after``: the first match is it,
        # unless that match is itself in a gap (skipped) or repeated (first pass).
        while True:
            for candidate in _cron_walk(expression, wall, 1):
                for instant in _instants(candidate, tz, zone_name, periodic):
                    if instant > after:
                        return instant
                wall = candidate
    # Near a transition wall-time order and real-time order differ: look a little
    # before and after, and take the earliest instant really after ``after``.
    best: datetime | None = None
    best_wall: datetime | None = None
    wall -= _DST_MARGIN
    while True:
        for candidate in _cron_walk(expression, wall, 8):
            if best is not None and best_wall is not None and candidate > best_wall + _DST_MARGIN:
                return best
            for instant in _instants(candidate, tz, zone_name, periodic):
                if instant > after and (best is None or instant < best):
                    best, best_wall = instant, candidate
            wall = candidate


# --------------------------------------------------------------------------- rrule


def _weekday(n: int) -> du_rrule.weekday:
    return du_rrule.weekdays[n]


#: Rule frequencies whose periods have a fixed wall-clock length.
_FIXED_PERIODS: dict[RRuleFrequency, timedelta] = {
    "weekly": timedelta(weeks=1),
    "daily": timedelta(days=1),
    "hourly": timedelta(hours=1),
    "minutely": timedelta(minutes=1),
    "secondly": timedelta(seconds=1),
}


def rule_zone(rule: RRule, zone_name: str) -> tzinfo:
    """The zone a rule's by-hour/by-day parts are read in.

    dateutil (and so RedBeat) reads them in dtstart's own zone, and RedBeat stores
    that zone as a fixed UTC offset.  A fixed offset equal to the entry zone's offset
    at dtstart is that zone flattened by storage: use the zone itself (DST-correct),
    as for a dtstart with no offset or with a named zone.  Any other fixed offset
    (``09:00+05:30`` in a UTC entry) was meant: keep it, so an rrule RedBeat wrote
    fires here at the same times as under RedBeat.  The codec stores dtstart with
    this zone's offset, so the choice survives a round trip through Redis.
    """
    entry_zone = zone(zone_name)
    start = rule.dtstart
    if start is None or start.tzinfo is None or isinstance(start.tzinfo, ZoneInfo):
        return entry_zone
    if start.utcoffset() == start.astimezone(entry_zone).utcoffset():
        return entry_zone
    return start.tzinfo


@lru_cache(maxsize=1024)
def _rrule(rule: RRule, tz: tzinfo) -> du_rrule.rrule:
    """Rules that must be walked from dtstart (count, monthly/yearly); their
    occurrences are few per year, or bounded by count, so dateutil may cache them."""
    assert rule.dtstart is not None
    return build_dateutil_rrule(rule, tz, rule.dtstart, cache=True)


DateutilFrequency = Literal[0, 1, 2, 3, 4, 5, 6]


def _dateutil_frequency(freq: str) -> DateutilFrequency:
    """dateutil's number for a frequency name (``yearly`` is 0, ``secondly`` 6)."""
    return cast(DateutilFrequency, RRULE_FREQUENCIES.index(freq))


def build_dateutil_rrule(
    rule: RRule, tz: tzinfo, dtstart: datetime, *, wall_clock: bool = False, cache: bool = False
) -> du_rrule.rrule:
    """The one translation of our ``RRule`` into dateutil's, read in ``tz`` from ``dtstart``.

    ``wall_clock=True`` gives the same rule over naive local times of ``tz`` (a naive
    ``dtstart`` is one already): every wall time once, even those a DST change skips
    or repeats, which is what the DST lint looks for.
    """

    def local(value: datetime) -> datetime:
        if wall_clock and value.tzinfo is None:
            return value
        shown = _aware(value).astimezone(tz)
        return shown.replace(tzinfo=None) if wall_clock else shown

    return du_rrule.rrule(
        _dateutil_frequency(rule.freq),
        dtstart=local(dtstart),
        interval=rule.interval,
        wkst=rule.wkst,
        count=rule.count,
        until=local(rule.until) if rule.until else None,
        bysetpos=rule.bysetpos,
        bymonth=rule.bymonth,
        bymonthday=rule.bymonthday,
        byyearday=rule.byyearday,
        byeaster=rule.byeaster,
        byweekno=rule.byweekno,
        byweekday=tuple(_weekday(d) for d in rule.byweekday) if rule.byweekday else None,
        byhour=rule.byhour,
        byminute=rule.byminute,
        bysecond=rule.bysecond,
        cache=cache,
    )


def _rrule_for(rule: RRule, tz: tzinfo, after: datetime) -> du_rrule.rrule:
    """A dateutil rule that gives the same occurrences as ``rule`` after ``after``.

    dateutil walks every period from dtstart, so a minutely rule started a year ago
    costs ~500k steps per question (RedBeat pays that on every tick).  Without a
    count, moving dtstart forward by whole periods (in wall-clock time, as dateutil
    iterates) keeps the phase and every default dateutil takes from dtstart (time of
    day, weekday), so the occurrences after ``after`` are unchanged.
    """
    if rule.dtstart is None:  # "from now": anchored on the question
        return build_dateutil_rrule(rule, tz, _floor_second(after))
    period = _FIXED_PERIODS.get(rule.freq)
    if period is None or rule.count is not None:
        return _rrule(rule, tz)
    start_wall = _aware(rule.dtstart).astimezone(tz).replace(tzinfo=None)
    after_wall = after.astimezone(tz).replace(tzinfo=None)
    step = period * rule.interval
    skip = (after_wall - start_wall) // step - 1  # one period of slack for DST
    if skip <= 0:
        return _rrule(rule, tz)
    return build_dateutil_rrule(rule, tz, (start_wall + skip * step).replace(tzinfo=tz))


def _rrule_after(rule: RRule, zone_name: str, after: datetime, inclusive: bool) -> datetime | None:
    # ``after`` in UTC: dateutil compares its zone-local results with it, and a
    # UTC operand forces a real-instant comparison.
    after = after.astimezone(UTC)
    try:
        found = _rrule_for(rule, rule_zone(rule, zone_name), after).after(after, inc=inclusive)
    except ValueError:  # dateutil: the by-rules select nothing (e.g. odd hours, byhour=0)
        return None
    return found.astimezone(UTC) if found is not None else None


def rrule_after(
    rule: RRule, zone_name: str, after: datetime, inclusive: bool = False
) -> datetime | None:
    """First occurrence (UTC) of a bare rule after ``after`` (>= when ``inclusive``)."""
    return _rrule_after(rule, zone_name, _aware(after), inclusive)


def dateutil_rule(rule: RRule, zone_name: str) -> du_rrule.rrule:
    """The dateutil rule our arithmetic reads ``rule`` as (RedBeat's ``schedule.rrule``)."""
    start = rule.dtstart if rule.dtstart is not None else _floor_second(datetime.now(UTC))
    return build_dateutil_rrule(rule, rule_zone(rule, zone_name), start)


#: by* parts that pick dates (the others pick times of day or positions).
_DATE_PARTS = ("bymonthday", "byyearday", "byweekno", "byweekday", "byeaster")


def rrule_first_between(
    rule: RRule, zone_name: str, start: datetime, end: datetime
) -> datetime | None:
    """The rule's first occurrence in [start, end], its own ``until`` left out.

    For checking that a rule can fire at all (bymonth 2 with bymonthday 30 cannot).
    ``until`` is left out because a rule that ran out did fire; that is the plan's
    news, like an ``at`` in the past.
    """
    start = _aware(start).astimezone(UTC)
    probe = replace(rule, dtstart=rule.dtstart or _floor_second(start), until=end, count=None)
    if any(getattr(rule, part) for part in _DATE_PARTS):
        # dateutil finds "no date" only by walking every period up to ``end``: ten
        # seconds for a secondly rule.  The dates the by-parts allow, walked a year at
        # a time, settle most rules first (a rule fires only on such a date).
        dates = replace(probe, freq="yearly", interval=1, bysetpos=None)
        dates = replace(dates, byhour=None, byminute=None, bysecond=None)
        if _first_between(dates, zone_name, start) is None:
            return None
    return _first_between(probe, zone_name, start)


@lru_cache(maxsize=1024)
def _first_between(probe: RRule, zone_name: str, start: datetime) -> datetime | None:
    try:
        assert probe.dtstart is not None
        found = build_dateutil_rrule(probe, rule_zone(probe, zone_name), probe.dtstart).after(
            start, inc=True
        )
    except (ValueError, OverflowError, IndexError):  # selects nothing; edge of time; dateutil
        return None
    return found.astimezone(UTC) if found is not None else None


def _cache_variant(schedule: Schedule, zone_name: str) -> tzinfo | None:
    """What a cache key needs beyond the schedule itself.

    Two rules whose dtstart is the same instant in different offsets compare equal
    (datetimes compare as instants) but read by-hours in different zones.
    """
    if isinstance(schedule, RRule) and schedule.dtstart is not None:
        return rule_zone(schedule, zone_name)
    return None


# --------------------------------------------------------------------------- per kind


def _schedule_after(
    schedule: Schedule, zone_name: str, after: datetime, inclusive: bool = False
) -> datetime | None:
    """First fire (UTC) of the bare schedule after ``after`` (>= when ``inclusive``)."""
    after = _aware(after).astimezone(UTC)
    if isinstance(schedule, Cron):
        try:
            return _cron_next_after(schedule, zone_name, after - _TINY if inclusive else after)
        except cron_fields.CronNeverMatches:
            return None
    if isinstance(schedule, RRule):
        return _rrule_after(schedule, zone_name, after, inclusive)
    if isinstance(schedule, At):
        when = _aware(schedule.when).astimezone(UTC)
        return when if (when >= after if inclusive else when > after) else None
    if isinstance(schedule, Every):
        return after if inclusive else _later(after, schedule.seconds)
    if isinstance(schedule, Solar):  # ephem, as Celery's solar (None without ephem)
        return solar.next_event_after(schedule, after - _TINY if inclusive else after)
    raise TypeError(f"unknown schedule {schedule!r}")


def _windowed(
    schedule: Schedule,
    zone_name: str,
    start_at: datetime | None,
    end_at: datetime | None,
    due: datetime | None,
) -> datetime | None:
    """Apply the start/end window to a candidate fire time; result in the entry's zone."""
    if due is None:
        return None
    due = due.astimezone(UTC)
    if start_at is not None and due < _aware(start_at):
        found = _schedule_after(schedule, zone_name, _aware(start_at), inclusive=True)
        if found is None:
            return None
        due = found
    if end_at is not None and due > _aware(end_at):
        return None
    return due.astimezone(zone(zone_name))


def _next_after(
    schedule: Schedule,
    zone_name: str,
    start_at: datetime | None,
    end_at: datetime | None,
    after: datetime,
    variant: tzinfo | None = None,  # cache key only, see _cache_variant
) -> datetime | None:
    found = _schedule_after(schedule, zone_name, after)
    return _windowed(schedule, zone_name, start_at, end_at, found)


_next_after_cached = lru_cache(maxsize=65536)(_next_after)


def _cache_instant(schedule: Schedule, after: datetime) -> datetime:
    """An instant with the same answer as ``after``, shared by more callers.

    Cron fires on whole minutes, so "first fire strictly after t" is the same for
    every t within one minute: last-run times of a busy beat share a few minutes.
    """
    if isinstance(schedule, Cron):
        return after.replace(second=0, microsecond=0)
    return after


def next_fire_after(entry: Entry, after: datetime) -> datetime | None:
    """First fire time strictly after ``after`` (in the entry's zone), None if exhausted."""
    key = (entry.schedule, entry.timezone, entry.start_at, entry.end_at)
    after = _cache_instant(entry.schedule, _aware(after).astimezone(UTC))
    if isinstance(entry.schedule, RRule) and entry.schedule.dtstart is None:
        return _next_after(*key, after)  # anchored on ``after``: not cacheable
    return _next_after_cached(*key, after, _cache_variant(entry.schedule, entry.timezone))


@lru_cache(maxsize=16384)
def _fire_times_cached(
    schedule: Schedule,
    zone_name: str,
    start_at: datetime | None,
    end_at: datetime | None,
    n: int,
    now: datetime,
    variant: tzinfo | None = None,  # cache key only, see _cache_variant
) -> tuple[datetime, ...]:
    if isinstance(schedule, RRule) and schedule.dtstart is None:
        # "from now" keeps one anchor, in the entry's zone
        schedule = replace(schedule, dtstart=now.astimezone(zone(zone_name)))
    variant = _cache_variant(schedule, zone_name)
    times: list[datetime] = []
    cursor = now
    while len(times) < n:
        found = _next_after_cached(schedule, zone_name, start_at, end_at, cursor, variant)
        if found is None:
            break
        times.append(found)
        cursor = found.astimezone(UTC)
    return tuple(times)


def next_fire_times(entry: Entry, n: int = 3, now: datetime | None = None) -> list[datetime]:
    """The next ``n`` fire times after ``now`` (floored to the second), in the entry's zone."""
    moment = _floor_second(_aware(now).astimezone(UTC) if now else datetime.now(UTC))
    key = (entry.schedule, entry.timezone, entry.start_at, entry.end_at)
    variant = _cache_variant(entry.schedule, entry.timezone)
    return list(_fire_times_cached(*key, n, moment, variant))


def next_due(entry: Entry, last_run_at: datetime | None, now: datetime) -> datetime | None:
    """When the entry is next due given its last run (may be before ``now``: overdue)."""
    now = _aware(now).astimezone(UTC)
    schedule = entry.schedule
    window = (entry.schedule, entry.timezone, entry.start_at, entry.end_at)
    if isinstance(schedule, At):
        when = _aware(schedule.when).astimezone(UTC)
        if last_run_at is not None and _aware(last_run_at) >= when:
            return None
        return _windowed(*window, when)
    if last_run_at is None:
        if isinstance(schedule, RRule):
            anchor = _aware(schedule.dtstart) if schedule.dtstart is not None else now
            return _windowed(*window, _rrule_after(schedule, entry.timezone, anchor, True))
        return _windowed(*window, now)
    last = _aware(last_run_at).astimezone(UTC)
    if isinstance(schedule, Every) and schedule.relative:
        # Celery's own rule (round to the interval's resolution in local time,
        # DST-aware in Celery 5.5+); RedBeat runs it the same way.
        from celery.utils.time import remaining  # Celery costs ~130 ms; only this path needs it

        start = last.astimezone(zone(entry.timezone))
        try:
            due = now + remaining(start, timedelta(seconds=schedule.seconds), now, relative=True)
        except OverflowError:  # see _later
            return None
        return _windowed(*window, due)
    if isinstance(schedule, Every):
        return _windowed(*window, _later(last, schedule.seconds))
    return next_fire_after(entry, last)

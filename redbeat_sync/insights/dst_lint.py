"""Warn about entries that fire inside a local hour DST skips or repeats.

Only "time of day" schedules are looked at: a cron whose hour field is fixed
(``30 2 * * *``; a wildcard hour such as ``*/15 * * * *`` follows real time, see
``timing``) and rrules of daily or coarser frequency.  The next 12 months of the
entry's zone are searched for transitions; for each, the local times it skips
(spring forward) or repeats (fall back) are matched against the schedule.

What happens, so the warning can say it:

- redbeat_sync.Scheduler (``timing``): a skipped time fires once at the end of the
  gap (03:00 in Europe/Paris); a repeated time fires once, in its first pass.
- rrules (dateutil): a skipped time fires one gap-length late; a repeated one once.
  celery-redbeat stores an rrule's zone as a fixed UTC offset: it ignores DST.
- celery-redbeat runs Celery's ``crontab`` in beat's zone: observed with Celery 5.x,
  a skipped time fires one gap-length late (02:30 → 03:30); a repeated time fires
  once, in its first pass.  Celery has open DST bugs here (celery#1604, #10107).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from functools import lru_cache

from ..schedule import timing
from ..schedule.cron import cron_sets
from ..schedule.entry import Cron, Entry, RRule
from ..schedule.vocabulary import RRuleFrequency

UTC = timezone.utc
HORIZON = timedelta(days=366)
_FIX = "move it outside 01:00-03:00 local time, or use timezone: UTC"
_COARSE_RULES: tuple[RRuleFrequency, ...] = ("yearly", "monthly", "weekly", "daily")
_STEP_MINUTES = 24 * 60


@dataclass(frozen=True)
class Transition:
    """One DST change: local wall times [wall_start, wall_end) are skipped or repeated."""

    at: datetime  # the UTC instant of the change
    wall_start: datetime  # naive local
    wall_end: datetime  # naive local
    skipped: bool  # True: spring forward (gap); False: fall back (repeated)


@lru_cache(maxsize=256)
def transitions(zone_name: str, start_day: date) -> tuple[Transition, ...]:
    """DST transitions of ``zone_name`` within a year of ``start_day`` (cached per day)."""
    tz = timing.zone(zone_name)
    cursor = datetime(start_day.year, start_day.month, start_day.day, tzinfo=UTC)
    end = cursor + HORIZON
    found: list[Transition] = []
    offset = cursor.astimezone(tz).utcoffset()
    # A day at a time, then a binary search: no zone changes its offset twice within a
    # day, and hourly steps (8,784 a year) cost validate ~5 ms per zone.
    step = timedelta(minutes=_STEP_MINUTES)
    while cursor < end:
        following = cursor + step
        new_offset = following.astimezone(tz).utcoffset()
        if new_offset != offset:
            lo, hi = 0, _STEP_MINUTES  # binary search for the first whole minute changed
            while hi - lo > 1:
                mid = (lo + hi) // 2
                if (cursor + timedelta(minutes=mid)).astimezone(tz).utcoffset() == offset:
                    lo = mid
                else:
                    hi = mid
            at = cursor + timedelta(minutes=hi)
            assert offset is not None and new_offset is not None
            before_wall = (at + offset).replace(tzinfo=None)
            after_wall = (at + new_offset).replace(tzinfo=None)
            skipped = new_offset > offset
            start, stop = (before_wall, after_wall) if skipped else (after_wall, before_wall)
            found.append(Transition(at, start, stop, skipped))
            offset = new_offset
        cursor = following
    return tuple(found)


def _cron_hits(cron: Cron, window: Transition) -> list[datetime]:
    sets = cron_sets(cron.expression)
    hits: list[datetime] = []
    wall = window.wall_start
    while wall < window.wall_end:
        if wall.minute in sets.minute and wall.hour in sets.hour and sets.matches_day(wall.date()):
            hits.append(wall)
        wall += timedelta(minutes=1)
    return hits


def _rrule_hits(rule: RRule, zone_name: str, window: Transition) -> list[datetime]:
    """Occurrences of the rule, in naive local wall time, inside the window."""
    tz = timing.zone(zone_name)
    if rule.dtstart is not None and timing.rule_zone(rule, zone_name) is not tz:
        return []  # a fixed offset has no DST
    start = rule.dtstart or window.wall_start.replace(hour=0, minute=0) - timedelta(days=1)
    try:
        naive = timing.build_dateutil_rrule(rule, tz, start, wall_clock=True)
        found = naive.between(window.wall_start, window.wall_end, inc=True)
    except ValueError:
        return []
    return [w for w in found if w < window.wall_end]


def _describe_window(window: Transition) -> str:
    day = window.wall_start.date().isoformat()
    a, b = window.wall_start.strftime("%H:%M"), window.wall_end.strftime("%H:%M")
    if window.skipped:
        return f"skipped on {day} (clocks jump {a} → {b})"
    return f"repeated on {day} (clocks go back {b} → {a})"


def _message(what: str, zone_name: str, hit: datetime, window: Transition, more: int) -> str:
    at = hit.strftime("%H:%M")
    text = f"DST: {what} in {zone_name} fires at {at}, a local time {_describe_window(window)}: "
    if what.startswith("rrule"):
        late = (hit + (window.wall_end - window.wall_start)).strftime("%H:%M")
        text += (
            f"redbeat_sync.Scheduler runs it a gap late, at {late}"
            if window.skipped
            else f"redbeat_sync.Scheduler runs it once, in the first pass of {at}"
        )
        text += "; celery-redbeat stores rrules with a fixed UTC offset (no DST at all)"
    elif window.skipped:
        late = (hit + (window.wall_end - window.wall_start)).strftime("%H:%M")
        end = window.wall_end.strftime("%H:%M")
        text += (
            f"redbeat_sync.Scheduler runs it once at {end} (the end of the gap); "
            f"celery-redbeat (Celery's crontab) runs it a gap late, at {late}"
        )
    else:
        text += (
            f"redbeat_sync.Scheduler and celery-redbeat run it once, in the first pass "
            f"of {at}; nothing runs in the second"
        )
    if more:
        text += f" (and {more} more such day{'s' if more > 1 else ''} in the next 12 months)"
    return f"{text}. Fix: {_FIX}."


@lru_cache(maxsize=8192)
def _warnings(schedule: Cron | RRule, zone_name: str, day: date) -> tuple[str, ...]:
    if isinstance(schedule, Cron):
        if schedule.hour.strip().startswith("*"):
            return ()  # periodic: follows real time, see timing's policy
        what = f"cron {schedule.expression}"
    else:
        if schedule.freq not in _COARSE_RULES:
            return ()
        what = f"rrule {schedule.freq}"
    out: list[str] = []
    for skipped in (True, False):
        hits: list[tuple[datetime, Transition]] = []
        for window in transitions(zone_name, day):
            if window.skipped != skipped:
                continue
            if isinstance(schedule, Cron):
                found = _cron_hits(schedule, window)
            else:
                found = _rrule_hits(schedule, zone_name, window)
            if found:
                hits.append((found[0], window))
        if hits:
            hit, window = hits[0]
            out.append(_message(what, zone_name, hit, window, len(hits) - 1))
    return tuple(out)


@lru_cache(maxsize=4)
def _day(epoch_day: int) -> date:
    return date(1970, 1, 1) + timedelta(days=epoch_day)


def dst_warnings(entry: Entry, now: datetime | None = None) -> list[str]:
    """Warnings for an entry whose local fire times DST skips or repeats (12 months)."""
    schedule = entry.schedule
    if type(schedule) is Cron:
        if schedule.hour[:1] == "*":  # the common case first: 100k entries per plan
            return []
    elif type(schedule) is not RRule:
        return []
    if not entry.enabled:
        return []
    # time.time() is ~10x cheaper than datetime.now(UTC), and this runs per entry.
    day = now.astimezone(UTC).date() if now else _day(int(time.time() // 86400))
    if not transitions(entry.timezone, day):
        return []
    try:
        return list(_warnings(schedule, entry.timezone, day))
    except (ValueError, KeyError, TypeError):  # unparsable cron: validation reports it
        return []

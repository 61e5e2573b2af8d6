"""When two schedules are the same schedule, and how often a schedule fires.

Equivalence is decided on the *expanded* cron fields, with the semantics of Celery's
``crontab`` (the one RedBeat runs): ``*/15`` and ``0,15,30,45``, ``mon-fri`` and
``1-5``, ``0-59`` and ``*`` expand to the same sets, so they are one schedule.  This
is the only place that equality lives; the planner asks ``equivalent_schedules``.
Digests and fingerprints stay over the raw stored bytes: an equivalent expression
in Redis is left as it is (no rewrite), it is just not reported as a change.

Frequency is a count per unit (day, week or year), rounded as people say it:
``96 → 24 runs/day``, ``1,440 → 12,343 runs/day``.
"""

from __future__ import annotations

import calendar
from collections.abc import Hashable
from datetime import date, datetime, timedelta, timezone
from functools import lru_cache
from typing import Any

from . import timing
from .cron import cron_sets
from .entry import Cron, Entry, Every, RRule, Schedule, Solar

UTC = timezone.utc
UNITS = ("day", "week", "year")
_UNIT_SECONDS = {"day": 86400.0, "week": 7 * 86400.0, "year": 365 * 86400.0}
#: A non-leap year starting on a Friday: the reference calendar for yearly counts.
_REFERENCE_YEAR = 2027
_MAX_RRULE_STEPS = 5000


def schedule_key(schedule: Schedule) -> Hashable:
    """A value equal for two schedules exactly when they fire at the same times."""
    if isinstance(schedule, Cron):
        try:
            return ("cron", cron_sets(schedule.expression))
        except (ValueError, KeyError, TypeError):  # not Celery-parsable: compare as written
            return ("cron-text", schedule.expression)
    return schedule


def equivalent_schedules(a: Any, b: Any) -> bool:
    """Whether two schedules (``Schedule`` objects or canonical dicts) are the same."""
    if isinstance(a, dict) and isinstance(b, dict):
        if a.keys() != b.keys() or "cron" not in a:
            return bool(a == b)
        return schedule_key(Cron.from_expression(a["cron"])) == schedule_key(
            Cron.from_expression(b["cron"])
        )
    return schedule_key(a) == schedule_key(b)


# --------------------------------------------------------------------------- frequency


@lru_cache(maxsize=4096)
def _cron_days_in_year(expression: str) -> int:
    sets = cron_sets(expression)
    days = 366 if calendar.isleap(_REFERENCE_YEAR) else 365
    start = date(_REFERENCE_YEAR, 1, 1)
    return sum(sets.matches_day(start + timedelta(days=i)) for i in range(days))


def _cron_rate(expression: str) -> tuple[float, str]:
    """(runs, unit) for a cron: exact per day or week when possible, else per year."""
    sets = cron_sets(expression)
    if sets.every_day:
        return float(sets.runs_per_day), "day"
    if sets.weekly:
        return float(sets.runs_per_day * len(sets.day_of_week)), "week"
    return float(sets.runs_per_day * _cron_days_in_year(expression)), "year"


def _rrule_rate(rule: RRule, zone_name: str, now: datetime) -> tuple[float, str]:
    """Count the rule's occurrences over the next week (or year, if rarer)."""
    entry = Entry(name="", task="", schedule=rule, timezone=zone_name)
    for unit in ("day", "week", "year"):
        end = now + timedelta(seconds=_UNIT_SECONDS[unit])
        cursor, count = now, 0
        while count < _MAX_RRULE_STEPS:
            found = timing.next_fire_after(entry, cursor)
            if found is None or found > end:
                break
            count, cursor = count + 1, found
        if count >= _MAX_RRULE_STEPS:  # very frequent: extrapolate from the steps seen
            span = (cursor - now).total_seconds() or 1.0
            return count * _UNIT_SECONDS[unit] / span, unit
        if count or unit == "year":
            return float(count), unit
    return 0.0, "year"  # pragma: no cover - the loop returns at "year"


def schedule_rate(
    schedule: Schedule, zone_name: str = "UTC", now: datetime | None = None
) -> tuple[float, str] | None:
    """How often a schedule fires, as (runs, unit); None when that is not a rate."""
    if isinstance(schedule, Cron):
        try:
            return _cron_rate(schedule.expression)
        except (ValueError, KeyError, TypeError):
            return None
    if isinstance(schedule, Every):
        per_day = 86400.0 / schedule.seconds
        if per_day >= 1:
            return per_day, "day"
        per_week = per_day * 7
        return (per_week, "week") if per_week >= 1 else (per_day * 365, "year")
    if isinstance(schedule, RRule):
        return _rrule_rate(schedule, zone_name, now or datetime.now(UTC))
    if isinstance(schedule, Solar):
        return 1.0, "day"  # one event a day (none on some days near the poles)
    return None  # a one-off ``at``


def _convert(rate: tuple[float, str], unit: str) -> float:
    runs, own = rate
    return runs * _UNIT_SECONDS[unit] / _UNIT_SECONDS[own]


def _rounded(value: float) -> float | int:
    """A rate as people say it: whole runs from 100 up (12,343 not 12342.86), one
    decimal from 10, two significant digits below (4.8, 0.33)."""
    if abs(value - round(value)) < 1e-6 or abs(value) >= 100:
        return round(value)
    shown = round(value, 1) if abs(value) >= 10 else float(f"{value:.2g}")
    return int(shown) if shown == int(shown) else shown


def frequency_change(
    old: Entry | None, new: Entry | None, now: datetime | None = None
) -> dict[str, Any] | None:
    """``{"before": 96, "after": 24, "unit": "day"}`` when the run rate changes."""
    if old is None or new is None:
        return None
    if old.schedule == new.schedule and old.timezone == new.timezone:
        return None
    before = schedule_rate(old.schedule, old.timezone, now)
    after = schedule_rate(new.schedule, new.timezone, now)
    if before is None or after is None:
        return None
    unit = max(before[1], after[1], key=UNITS.index)
    values = _rounded(_convert(before, unit)), _rounded(_convert(after, unit))
    if values[0] == values[1]:
        return None
    return {"before": values[0], "after": values[1], "unit": unit}


def format_frequency(change: dict[str, Any]) -> str:
    """``96 → 24 runs/day``, ``1,440 → 12,343 runs/day``."""
    return f"{change['before']:,} → {change['after']:,} runs/{change['unit']}"


def action_frequency(action: Any, now: datetime | None = None) -> dict[str, Any] | None:
    """The frequency change an update/reschedule/adopt brings (for the renderers)."""
    if getattr(action, "kind", None) not in ("reschedule", "update", "adopt"):
        return None
    current = getattr(action, "current", None)
    old = current.entry if current is not None else None
    return frequency_change(old, action.desired, now)


def equivalent_change(path: str, old: Any, new: Any) -> bool:
    """Whether a planned field change only rewrites a cron into an equivalent one."""
    if path != "schedule.cron" or not isinstance(old, str) or not isinstance(new, str):
        return False
    try:
        return schedule_key(Cron.from_expression(old)) == schedule_key(Cron.from_expression(new))
    except ValueError:
        return False

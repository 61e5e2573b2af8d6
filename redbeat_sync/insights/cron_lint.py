"""A warning for a cron that restricts both the day of the month and the day of the week.

Celery's crontab (so RedBeat) fires only on days matching both: ``0 9 13 * fri`` is
Friday the 13th.  Unix cron fires on days matching either (every Friday and every
13th), so people moving a system crontab over get a rarer schedule than they meant.
It is valid (some mean exactly that), so a warning, not an error.
"""

from __future__ import annotations

from ..schedule.cron import cron_sets
from ..schedule.entry import Cron, Entry


def both_days_warnings(entry: Entry) -> list[str]:
    """One warning when ``entry``'s cron restricts both kinds of day, else none."""
    schedule = entry.schedule
    if not isinstance(schedule, Cron):
        return []
    try:
        sets = cron_sets(schedule.expression)
    except ValueError:  # not for this lint to judge (validate refuses it)
        return []
    if not sets.both_days_restricted:
        return []
    return [
        f"cron: day of month {schedule.day_of_month!r} and day of week "
        f"{schedule.day_of_week!r} must both match: Celery's crontab (so RedBeat) fires only "
        "on days that are both, where Unix cron fires on days that are either. Fix: if you "
        "meant either, write two entries"
    ]

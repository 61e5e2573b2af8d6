"""One-line, human descriptions of schedules (plan text, show, markdown)."""

from __future__ import annotations

from .entry import At, Cron, Every, RRule, Schedule, Solar
from .spec.durations import format_duration

_BY_FIELDS_SHOWN = ("bysetpos", "bymonth", "bymonthday", "byweekday", "byhour", "byminute")
_WEEKDAYS = ("mo", "tu", "we", "th", "fr", "sa", "su")


def describe_schedule(schedule: Schedule) -> str:
    """``cron 0 3 * * mon-fri`` / ``every 1h30m`` / ``rrule monthly byhour=18`` / ``at …``."""
    if isinstance(schedule, Cron):
        return f"cron {schedule.expression}"
    if isinstance(schedule, Every):
        text = f"every {format_duration(schedule.seconds)}"
        return text + " (relative)" if schedule.relative else text
    if isinstance(schedule, RRule):
        parts = [f"rrule {schedule.freq}"]
        if schedule.interval != 1:
            parts.append(f"interval={schedule.interval}")
        for name in _BY_FIELDS_SHOWN:
            value = getattr(schedule, name)
            if value:
                shown = [_WEEKDAYS[v] for v in value] if name == "byweekday" else value
                parts.append(f"{name}={','.join(map(str, shown))}")
        if schedule.count is not None:
            parts.append(f"count={schedule.count}")
        if schedule.dtstart is not None:
            parts.append(f"from {schedule.dtstart.isoformat()}")
        if schedule.until is not None:
            parts.append(f"until {schedule.until.isoformat()}")
        return " ".join(parts)
    if isinstance(schedule, At):
        return f"at {schedule.when.isoformat()}"
    if isinstance(schedule, Solar):
        return f"solar {schedule.event} at {schedule.lat:g}, {schedule.lon:g}"
    return str(schedule)

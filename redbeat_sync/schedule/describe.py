"""One-line, human descriptions of schedules and values (plan text, drift, show, markdown).

The plan's own words, in one place: a schedule reads ``cron 0 3 * * * (Europe/Paris)``
or ``every 7s`` wherever it is shown, a stored datetime reads
``datetime 2026-01-01T00:00:00 UTC`` (never like the ISO string it differs from), and
counts are pluralised (``1 entry``, ``2 entries``).
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from ..values import DecodeError, decode_datetime, is_datetime_object
from .durations import format_duration
from .entry import At, Cron, Every, RRule, Schedule, Solar, schedule_from_canonical
from .vocabulary import WEEKDAY_NAMES

#: Longest value shown on one line of a text plan before it is cut with "…".
MAX_VALUE_CHARS = 72
#: Schedules whose fire times depend on the zone they are read in.
_ZONED = (Cron, RRule)

_BY_FIELDS_SHOWN = ("bysetpos", "bymonth", "bymonthday", "byweekday", "byhour", "byminute")


def describe_schedule(schedule: Schedule, zone: str | None = None) -> str:
    """``cron 0 3 * * mon-fri`` / ``every 1h30m`` / ``rrule monthly byhour=18`` / ``at …``.

    With ``zone``, schedules read in a zone (cron, rrule) say which: ``(UTC)``.
    """
    text = _describe_bare(schedule)
    if zone is not None and isinstance(schedule, _ZONED):
        text += f" ({zone})"
    return text


def _describe_bare(schedule: Schedule) -> str:
    if isinstance(schedule, Cron):
        return f"cron {schedule.expression}"
    if isinstance(schedule, Every):
        text = _every(schedule.seconds)
        return text + " (relative)" if schedule.relative else text
    if isinstance(schedule, RRule):
        parts = [f"rrule {schedule.freq}"]
        if schedule.interval != 1:
            parts.append(f"interval={schedule.interval}")
        for name in _BY_FIELDS_SHOWN:
            value = getattr(schedule, name)
            if value:
                shown = [WEEKDAY_NAMES[v] for v in value] if name == "byweekday" else value
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


def _every(seconds: float) -> str:
    """``every 1h30m``; a fraction of a second keeps its unit: ``every 7.5s``."""
    duration = format_duration(seconds)
    return f"every {duration}" if isinstance(duration, str) else f"every {duration:g}s"


def describe_canonical_schedule(data: Any, zone: str | None = None) -> str | None:
    """``describe_schedule`` of a canonical schedule dict (None if it is not one)."""
    if not isinstance(data, dict):
        return None
    try:
        return describe_schedule(schedule_from_canonical(data), zone)
    except (ValueError, KeyError, TypeError):
        return None


# --------------------------------------------------------------------------- values


def describe_datetime_object(data: dict[str, Any]) -> str:
    """A stored datetime as ``datetime 2026-01-01T09:00:00 Europe/Paris``.

    The wall time and the zone exactly as stored (a zone name or a UTC offset), since
    that is what the task receives; unreadable objects are shown as their JSON.
    """
    try:
        moment = decode_datetime(data)
    except DecodeError:
        return _json(data)
    wall = moment.replace(tzinfo=None).isoformat()
    zone = data.get("timezone", "UTC")
    if isinstance(zone, str):
        return f"datetime {wall} {zone}"
    return f"datetime {moment.isoformat()}"


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(", ", ": "), default=str)


def _value_text(value: Any) -> str:
    if is_datetime_object(value):
        return describe_datetime_object(value)
    if type(value) is dict:
        items = (f"{_json(str(k))}: {_value_text(v)}" for k, v in value.items())
        return "{" + ", ".join(items) + "}"
    if type(value) is list:
        return "[" + ", ".join(_value_text(v) for v in value) + "]"
    return _json(value)


def format_value(value: Any, limit: int = MAX_VALUE_CHARS) -> str:
    """Compact JSON-ish text of a canonical value, cut to ``limit`` characters.

    Strings keep their quotes and stored datetimes read ``datetime …``, so a datetime
    and the string that looks like it never look alike.
    """
    text = _value_text(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def describe_field(
    path: str, value: Any, zone: str | None = None, limit: int = MAX_VALUE_CHARS
) -> str:
    """One side of a changed field in the plan's words: a whole schedule (a change of
    kind) as ``describe_schedule`` says it, an interval as ``every 7s``, anything
    else as ``format_value``."""
    if path == "schedule":
        described = describe_canonical_schedule(value, zone)
        if described is not None:
            return described
    if path == "schedule.every" and type(value) in (int, float):
        return _every(float(value))
    return format_value(value, limit)


# --------------------------------------------------------------------------- words


def format_time(moment: datetime, seconds: bool | None = None) -> str:
    """``2026-11-25 03:00 CET``: seconds when ``seconds`` says so, by default only
    when not zero."""
    if seconds is None:
        seconds = bool(moment.second)
    pattern = "%Y-%m-%d %H:%M:%S %Z" if seconds else "%Y-%m-%d %H:%M %Z"
    return moment.strftime(pattern).strip()


def describe_next_runs(runs: list[datetime], at_once_for: datetime | None) -> list[str]:
    """Next runs as shown: ``format_time`` each, in one format for the whole list
    (seconds on all when any has them: a jittered run landing on :00 keeps its
    ``:00``), the first one ``now`` when it goes out at once, ``now (catch-up for
    21:37 UTC)`` when that run is for an earlier slot (the date is added when the slot
    is on another day, the seconds when the slot or the other runs have them)."""
    # A run going out at once is shown as "now": its own time does not set the format.
    timed = runs[1:] if at_once_for is not None else runs
    seconds = any(t.second for t in timed)
    shown = [format_time(t, seconds) for t in runs]
    if at_once_for is None or not runs:
        return shown
    first = runs[0]
    if at_once_for >= first:
        shown[0] = "now"
    else:
        slot = at_once_for.astimezone(first.tzinfo)
        clock = "%H:%M:%S" if seconds or slot.second else "%H:%M"
        pattern = f"{clock} %Z" if slot.date() == first.date() else f"%Y-%m-%d {clock} %Z"
        shown[0] = f"now (catch-up for {slot.strftime(pattern).strip()})"
    return shown


def plural(count: int, singular: str, plural_form: str | None = None) -> str:
    """``1 entry``, ``2 entries``, ``0 runs`` (count with thousands separators)."""
    if count == 1:
        word = singular
    elif plural_form is not None:
        word = plural_form
    elif singular.endswith("y") and singular[-2:-1] not in "aeiou":
        word = singular[:-1] + "ies"
    else:
        word = singular + "s"
    return f"{count:,} {word}"

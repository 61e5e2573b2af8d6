"""A Celery app's ``beat_schedule`` setting -> canonical entries (``redbeat-sync import``).

Each entry of ``beat_schedule`` is ``{"task", "schedule", "args", "kwargs", "options",
"relative"}``; the schedule may be a ``crontab``, a ``schedule``/``timedelta``, a number
of seconds, RedBeat's ``rrule`` or a ``solar`` (as ``{solar: ...}``, which only
redbeat_sync.Scheduler runs, when this version has that kind).  Entries are
converted one by one; what cannot be expressed in the v1 format is reported per
entry, never silently dropped.

Crontabs and intervals run in the app's ``timezone`` (as beat runs them), so the
entries get that zone and compare equal to what celery-redbeat stores for them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from numbers import Real
from typing import Any

from celery.schedules import crontab, schedule, solar

from .fileformat.models import cron_problem, entry_name_problem, timezone_problem
from .schedule import entry as entry_module
from .schedule.entry import Cron, Entry, Every, Schedule
from .schedule.vocabulary import DEFAULT_TIMEZONE
from .state.codec import DecodeError, decode_schedule

_CRON_ATTRS = (
    "_orig_minute",
    "_orig_hour",
    "_orig_day_of_month",
    "_orig_month_of_year",
    "_orig_day_of_week",
)
_KNOWN_KEYS = frozenset({"task", "schedule", "args", "kwargs", "options", "relative"})


@dataclass(frozen=True)
class Unconvertible:
    """An entry of ``beat_schedule`` that has no v1 equivalent, and why."""

    name: str
    reason: str

    def format(self) -> str:
        return f"{self.name}: {self.reason}"


class _Skip(ValueError):
    """This entry cannot be converted (the message says why)."""


def app_timezone(app: Any) -> str:
    zone = app.conf.get("timezone")
    return str(zone) if zone else DEFAULT_TIMEZONE


def convert_beat_schedule(app: Any) -> tuple[list[Entry], list[Unconvertible]]:
    """Every entry of ``app.conf.beat_schedule`` that converts, and those that do not."""
    zone = app_timezone(app)
    problem = timezone_problem(zone)
    if problem:
        raise ValueError(f"the app's timezone: {problem}")
    entries: list[Entry] = []
    skipped: list[Unconvertible] = []
    for name, conf in (app.conf.get("beat_schedule") or {}).items():
        try:
            entries.append(convert_entry(str(name), conf, zone))
        except _Skip as exc:
            skipped.append(Unconvertible(str(name), str(exc)))
    return entries, skipped


def convert_entry(name: str, conf: Any, zone: str) -> Entry:
    """One ``beat_schedule`` item as an Entry (raises ``_Skip`` with the reason)."""
    problem = entry_name_problem(name)
    if problem:
        raise _Skip(problem)
    if not isinstance(conf, Mapping):
        raise _Skip(f"expected a mapping with task and schedule, got {type(conf).__name__}")
    unknown = sorted(set(conf) - _KNOWN_KEYS)
    if unknown:
        raise _Skip(f"unknown keys {', '.join(map(str, unknown))}")
    task = conf.get("task")
    if not isinstance(task, str) or not task.strip():
        raise _Skip(f"task must be a task name, got {task!r}")
    relative = bool(conf.get("relative", False))
    args = conf.get("args") or ()
    kwargs = conf.get("kwargs") or {}
    options = conf.get("options") or {}
    if not isinstance(args, (list, tuple)):
        raise _Skip(f"args must be a list or tuple, got {type(args).__name__}")
    if not isinstance(kwargs, Mapping) or not isinstance(options, Mapping):
        raise _Skip("kwargs and options must be mappings")
    for label, value in (("args", list(args)), ("kwargs", dict(kwargs)), ("options", options)):
        _check_plain(label, value)
    return Entry(
        name=name,
        task=task,
        schedule=convert_schedule(conf.get("schedule"), relative),
        args=list(args),
        kwargs=dict(kwargs),
        options=dict(options),
        timezone=zone,
    )


def _check_plain(label: str, value: Any) -> None:
    """Arguments must survive JSON (RedBeat stores them as JSON too)."""
    try:
        json.dumps(value, default=_datetime_only)
    except (TypeError, ValueError) as exc:
        raise _Skip(f"{label} cannot be stored as JSON: {exc}") from None


def _datetime_only(value: Any) -> Any:
    from datetime import datetime

    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} value {value!r:.60}")


def convert_schedule(value: Any, relative: bool = False) -> Schedule:
    if isinstance(value, bool) or value is None:
        raise _Skip(f"schedule must be a crontab, interval or number, got {value!r}")
    if isinstance(value, solar):
        return _solar(value)
    if isinstance(value, crontab):
        return _cron(value)
    if _is_redbeat_rrule(value):
        return _rrule(value)
    if isinstance(value, schedule) and type(value) is schedule:
        return _every(value.run_every.total_seconds(), relative or value.relative)
    if isinstance(value, timedelta):
        return _every(value.total_seconds(), relative)
    if isinstance(value, Real):
        return _every(float(value), relative)
    raise _Skip(f"unsupported schedule type {type(value).__module__}.{type(value).__name__}")


def _solar(value: solar) -> Schedule:
    # The Solar kind (redbeat_sync.Scheduler only) may not exist in this version.
    kind = getattr(entry_module, "Solar", None)
    if kind is None:
        raise _Skip(
            f"solar schedule ({value.event} at {value.lat}, {value.lon}) has no "
            "redbeat-sync equivalent in this version; keep it in beat_schedule"
        )
    converted: Schedule = kind(str(value.event), float(value.lat), float(value.lon))
    return converted


def _every(seconds: float, relative: bool) -> Every:
    if seconds <= 0:
        raise _Skip(f"interval must be positive, got {seconds} seconds")
    return Every(float(seconds), relative)


def _cron_field(value: Any) -> str:
    if isinstance(value, (set, frozenset, list, tuple)):
        return ",".join(str(v) for v in sorted(value))
    return str(value).strip() or "*"


def _cron(value: crontab) -> Cron:
    cron = Cron(*(_cron_field(getattr(value, attr)) for attr in _CRON_ATTRS))
    problem = cron_problem(cron.expression)
    if problem:
        raise _Skip(f"crontab {cron.expression!r}: {problem}")
    return cron


def _is_redbeat_rrule(value: Any) -> bool:
    """RedBeat's rrule: ours (``redbeat_sync.schedules``) or celery-redbeat's own."""
    from .schedules import rrule

    if isinstance(value, rrule):
        return True
    try:
        from redbeat.schedules import rrule as theirs
    except ImportError:  # celery-redbeat not installed (it need not be)
        return False
    return isinstance(value, theirs)


def _rrule(value: Any) -> Schedule:
    # Through RedBeat's JSON (which our encoder writes byte for byte, for both classes)
    # and our reader: what celery-redbeat would store for it, read as the plan reads it.
    from .decoder import RedBeatJSONEncoder

    try:
        data = json.loads(json.dumps(value, cls=RedBeatJSONEncoder))
        return decode_schedule(data)
    except (DecodeError, TypeError, ValueError) as exc:
        raise _Skip(f"rrule cannot be converted: {exc}") from None

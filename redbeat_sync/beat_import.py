"""A Celery app's ``beat_schedule`` setting -> canonical entries (``redbeat-sync import``).

Each entry of ``beat_schedule`` is ``{"task", "schedule", "args", "kwargs", "options",
"relative"}``; the schedule may be a ``crontab``, a ``schedule``/``timedelta``, a number
of seconds, RedBeat's ``rrule`` or a ``solar`` (as ``{solar: ...}``, which only
redbeat_sync.Scheduler runs), converted by ``fileformat.from_celery``.  Entries are
converted one by one; what cannot be expressed in the v1 format is reported per
entry, never silently dropped.

Crontabs and intervals run in the app's ``timezone`` (as beat runs them), so the
entries get that zone and compare equal to what celery-redbeat stores for them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .fileformat.from_celery import NotConvertible, schedule_from_celery
from .fileformat.models import entry_name_problem
from .schedule.entry import Entry, Schedule
from .schedule.vocabulary import DEFAULT_TIMEZONE
from .schedule.zonenames import timezone_problem
from .values import encode_value

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
        schedule=_schedule(conf.get("schedule"), relative),
        args=list(args),
        kwargs=dict(kwargs),
        options=dict(options),
        timezone=zone,
    )


def _schedule(value: Any, relative: bool) -> Schedule:
    try:
        return schedule_from_celery(value, relative)
    except NotConvertible as exc:
        raise _Skip(str(exc)) from None


def _check_plain(label: str, value: Any) -> None:
    """Arguments must survive JSON as RedBeat stores them (datetimes as its objects)."""
    try:
        json.dumps(encode_value(value))
    except (TypeError, ValueError) as exc:
        raise _Skip(f"{label} cannot be stored as JSON: {exc}") from None

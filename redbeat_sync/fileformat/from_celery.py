"""A Celery schedule object -> our ``Schedule``, checked as a schedule file is checked.

The one converter for code that hands us Celery's objects: ``redbeat-sync import``
(an app's ``beat_schedule``) and ``SchedulerEntry`` (RedBeat's entry API).  Both get
the same schedule for the same object, and the same refusals: whatever converts here
is a schedule a file could hold, so exporting or planning it later never fails.

It lives beside the file format, not in the domain, because "a schedule a file could
hold" is the format's rule (``models.cron_problem``) and an rrule is read the way
RedBeat stores it (``state.codec``).
"""

from __future__ import annotations

import json
from collections.abc import Collection
from datetime import timedelta
from numbers import Real
from typing import Any

from celery.schedules import crontab, schedule, solar

from ..schedule import cron as cron_fields
from ..schedule.entry import Cron, Every, Schedule, Solar
from ..schedule.vocabulary import CRON_FIELDS, solar_event
from ..schedules import rrule, rule_of
from ..state.codec import decode_schedule, encode_schedule
from .models import cron_problem


class NotConvertible(ValueError):
    """This Celery schedule has no equivalent here (the message says why)."""


def schedule_from_celery(value: Any, relative: bool = False) -> Schedule:
    """Our schedule for a ``crontab``, ``schedule``, ``timedelta``, number of seconds,
    ``solar`` or RedBeat's ``rrule`` (ours or celery-redbeat's own class).

    ``relative`` is ``beat_schedule``'s entry-level flag (Celery's ``schedule`` object
    carries its own).  Raises ``NotConvertible`` with the reason.
    """
    if isinstance(value, bool) or value is None:
        raise NotConvertible(f"schedule must be a crontab, interval or number, got {value!r}")
    if isinstance(value, solar):
        return Solar(solar_event(str(value.event)), float(value.lat), float(value.lon))
    if isinstance(value, crontab):
        return _cron(value)
    if isinstance(value, rrule) or (hasattr(value, "freq") and hasattr(value, "rrule")):
        return _rrule(value)
    # Subclasses too (RedBeat's own tests make one): RedBeat stores any as its interval.
    if isinstance(value, schedule):
        return _every(value.run_every.total_seconds(), relative or bool(value.relative))
    if isinstance(value, timedelta):
        return _every(value.total_seconds(), relative)
    if isinstance(value, Real):
        return _every(float(value), relative)
    raise NotConvertible(
        f"unsupported schedule type {type(value).__module__}.{type(value).__name__}"
    )


def _every(seconds: float, relative: bool) -> Every:
    if seconds <= 0:
        raise NotConvertible(f"interval must be positive, got {seconds} seconds")
    return Every(float(seconds), relative)


def _cron_field(value: Any, name: str) -> str:
    """A crontab field as given (``_orig_*``: text, a number, or a collection of numbers),
    its names as Celery reads them (``'monday'`` is ``'mon'``)."""
    if isinstance(value, Collection) and not isinstance(value, str):
        text = ",".join(str(v) for v in sorted(value))
    else:
        text = str(value).strip() or "*"
    return cron_fields.celery_names(text, cron_fields.FIELDS_BY_NAME[name])


def _cron(value: crontab) -> Cron:
    cron = Cron(*(_cron_field(getattr(value, f"_orig_{name}"), name) for name in CRON_FIELDS))
    problem = cron_problem(cron.expression)
    if problem:
        raise NotConvertible(f"crontab {cron.expression!r}: {problem}")
    return cron


def _rrule(value: Any) -> Schedule:
    # Through the object RedBeat stores for it and our reader of that object: what
    # celery-redbeat would store, read as the plan reads it (dtstart at the fixed
    # offset RedBeat keeps), and the reader's checks of every part.
    # celery-redbeat's own class has no zone: it reads its rule at dtstart's offset.
    zone = value.zone_name if isinstance(value, rrule) else "UTC"
    try:
        stored = json.loads(json.dumps(encode_schedule(rule_of(value), zone)))
        return decode_schedule(stored)
    except (TypeError, ValueError, IndexError) as exc:  # DecodeError is a ValueError
        raise NotConvertible(f"rrule cannot be converted: {exc}") from None

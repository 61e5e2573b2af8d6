"""``redbeat_sync.decoder``: RedBeat's JSON encoder/decoder under our import path.

``json.dumps(obj, cls=RedBeatJSONEncoder)`` and ``json.loads(text,
cls=RedBeatJSONDecoder)`` read and write the typed objects of RedBeat's format
(datetime, interval, crontab, rrule, weekday; see /work/shared/redbeat-contract.md)
and give back Celery's ``schedule``/``crontab``, our ``rrule`` and dateutil's
``weekday``.  Every typed object is built and read by ``state.codec``, the one
converter the CLI and beat use, so what these classes write is what
celery-redbeat reads and the other way round.

Two spellings differ from celery-redbeat's and read the same everywhere: an aware
UTC datetime is written with ``"timezone": "UTC"`` (RedBeat writes ``0.0``), and an
rrule's ``by*`` parts as sorted lists (RedBeat keeps what was given, e.g. ``5``).
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from celery.schedules import crontab, schedule
from dateutil.rrule import weekday

from .schedule import timing
from .schedule.entry import Every, RRule
from .schedule.vocabulary import REDBEAT_CRON_FIELDS
from .schedules import rrule, rule_of
from .state import codec
from .values import decode_datetime, encode_datetime


def to_timestamp(dt: datetime) -> int:
    """Whole UNIX seconds of ``dt`` (naive means UTC), as RedBeat scores entries."""
    return timing.score(dt)


def from_timestamp(seconds: float, tz_minutes: float = 0) -> datetime:
    """An aware datetime for UNIX ``seconds``, shown at a UTC offset of ``tz_minutes``."""
    return codec.datetime_from_epoch(seconds, tz_minutes)


def get_utcoffset_minutes(dt: datetime) -> float:
    """``dt``'s UTC offset in minutes (0 for naive or UTC)."""
    return codec.utcoffset_minutes(dt)


def _rrule_zone(value: Any) -> str:
    return value.zone_name if isinstance(value, rrule) else "UTC"


class RedBeatJSONEncoder(json.JSONEncoder):
    """Writes datetimes and Celery/RedBeat schedules as RedBeat's typed objects."""

    def default(self, o: Any) -> Any:
        if isinstance(o, datetime):
            return encode_datetime(o)
        if isinstance(o, crontab):
            return codec.crontab_object(
                minute=o._orig_minute,
                hour=o._orig_hour,
                day_of_week=o._orig_day_of_week,
                day_of_month=o._orig_day_of_month,
                month_of_year=o._orig_month_of_year,
            )
        if isinstance(o, rrule) or (hasattr(o, "freq") and hasattr(o, "rrule")):
            return codec.encode_schedule(rule_of(o), _rrule_zone(o))
        if isinstance(o, weekday):
            return codec.encode_weekday(o.weekday)
        if isinstance(o, schedule):
            every = Every(o.run_every.total_seconds(), bool(o.relative))
            return codec.encode_schedule(every, "UTC")
        return super().default(o)


def _weekday_numbers(value: Any) -> Any:
    """Undo the inner weekday objects (decoded first) before the rrule is decoded."""
    if isinstance(value, weekday):
        return value.weekday
    if isinstance(value, list):
        return [_weekday_numbers(v) for v in value]
    return value


class RedBeatJSONDecoder(json.JSONDecoder):
    """Reads RedBeat's typed objects back into Python objects; other dicts stay dicts."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("object_hook", self.dict_to_object)
        super().__init__(*args, **kwargs)

    def dict_to_object(self, d: dict[str, Any]) -> Any:
        kind = d.get("__type__")
        if kind is None:
            return d
        if kind == "datetime":
            return decode_datetime(d)
        if kind == "interval":
            every = codec.decode_schedule(d)
            assert isinstance(every, Every)
            return schedule(run_every=every.seconds, relative=every.relative)
        if kind == "crontab":
            return crontab(**{name: d.get(name, "*") for name in REDBEAT_CRON_FIELDS})
        if kind == "weekday":
            return weekday(d["wkday"])
        if kind == "rrule":
            plain = {key: _weekday_numbers(value) for key, value in d.items()}
            rule = codec.decode_schedule(plain)
            assert isinstance(rule, RRule)
            # Its datetimes carry fixed offsets: read at those, as celery-redbeat does.
            return rrule.from_rule(rule, "UTC")
        return d


__all__ = [
    "RedBeatJSONDecoder",
    "RedBeatJSONEncoder",
    "from_timestamp",
    "get_utcoffset_minutes",
    "to_timestamp",
]

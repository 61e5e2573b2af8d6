"""Task argument values as RedBeat stores them: JSON with datetimes as tagged objects.

A Celery task gets its ``args``/``kwargs`` (and Celery its ``options``) from what
RedBeat's decoder makes of the stored JSON: ``{"__type__": "datetime", ...}`` becomes
a datetime, everything else stays the JSON value it is.  ``encode_value`` gives that
stored form; it is also the canonical form the plan compares (``Entry.to_canonical``),
so two values compare equal exactly when the task would receive the same value: a
datetime and its ISO string, ``1`` and ``1.0``, a zone name and a fixed offset all
differ, while a naive datetime and the same wall time in UTC do not (RedBeat stores
both as ``"timezone": "UTC"``).

Nothing here knows about entries, schedules or Redis: the codec (``state.codec``)
and the canonical entry (``entry``) both build on it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DATETIME_TYPE = "datetime"


class DecodeError(ValueError):
    """A stored field is not something celery-redbeat 2.4 (or we) could have written."""


def is_datetime_object(value: Any) -> bool:
    """Whether ``value`` is a stored datetime (RedBeat's decoder makes it a datetime)."""
    return type(value) is dict and value.get("__type__") == DATETIME_TYPE


def encode_datetime(value: datetime) -> dict[str, Any]:
    """RedBeat's datetime object: wall-clock fields plus a zone (name or offset seconds)."""
    zone: str | float
    if value.tzinfo is None:
        zone = "UTC"
    elif (
        isinstance(value.tzinfo, ZoneInfo)
        and value.tzinfo.key
        # A wall time repeated or skipped by a DST change names two instants; a zone
        # name cannot say which (RedBeat's format has no fold), an offset can.
        and value.replace(fold=1 - value.fold).utcoffset() == value.utcoffset()
    ):
        zone = value.tzinfo.key
    else:
        offset = value.utcoffset()
        seconds = offset.total_seconds() if offset is not None else 0.0
        zone = "UTC" if seconds == 0 else seconds
    return {
        "__type__": DATETIME_TYPE,
        "year": value.year,
        "month": value.month,
        "day": value.day,
        "hour": value.hour,
        "minute": value.minute,
        "second": value.second,
        "microsecond": value.microsecond,
        "timezone": zone,
    }


def decode_datetime(data: dict[str, Any]) -> datetime:
    zone = data.get("timezone", "UTC")
    tzinfo: timezone | ZoneInfo
    if isinstance(zone, (int, float)) and not isinstance(zone, bool):
        tzinfo = timezone(timedelta(seconds=zone)) if zone else timezone.utc
    elif zone == "UTC":
        tzinfo = timezone.utc
    elif isinstance(zone, str):
        try:
            tzinfo = ZoneInfo(zone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise DecodeError(f"unknown time zone {zone!r} in datetime") from exc
    else:
        raise DecodeError(f"bad time zone {zone!r} in datetime")
    try:
        return datetime(
            int(data["year"]),
            int(data["month"]),
            int(data["day"]),
            int(data.get("hour", 0)),
            int(data.get("minute", 0)),
            int(data.get("second", 0)),
            int(data.get("microsecond", 0)),
            tzinfo=tzinfo,
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise DecodeError(f"bad datetime {data!r}: {exc}") from exc


#: JSON scalars: nothing in them for ``encode_value`` to convert.
_SCALAR_TYPES = frozenset({str, int, float, bool, type(None)})
_STR_ONLY = frozenset({str})


def is_plain(value: Any) -> bool:
    """Whether ``encode_value`` would leave ``value``'s JSON text unchanged (no
    datetime, only ``str`` keys): true for most args/kwargs/options, which then
    skip the converted copy (exact types only, anything else takes the slow path).
    Each container's types are collected at C speed; only nested ones recurse."""
    kind = type(value)
    if kind is dict:
        if value and not _STR_ONLY.issuperset(map(type, value)):
            return False
        items: Any = value.values()
    elif kind is list or kind is tuple:
        items = value
    else:
        return kind in _SCALAR_TYPES
    if _SCALAR_TYPES.issuperset(map(type, items)):
        return True
    return all(map(is_plain, items))


def encode_value(value: Any, datetime_as: Callable[[datetime], Any] = encode_datetime) -> Any:
    """args/kwargs/options values as JSON holds them: keys become text, tuples lists,
    and datetimes RedBeat datetime objects (or what ``datetime_as`` makes of them:
    the schedule file writer keeps those YAML can carry)."""
    if isinstance(value, datetime):
        return datetime_as(value)
    if isinstance(value, dict):
        return {str(k): encode_value(v, datetime_as) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [encode_value(v, datetime_as) for v in value]
    return value


def decode_value(value: Any) -> Any:
    if isinstance(value, dict):
        if value.get("__type__") == DATETIME_TYPE:
            return decode_datetime(value)
        return {k: decode_value(v) for k, v in value.items()}
    if isinstance(value, list):
        return [decode_value(v) for v in value]
    return value


# --------------------------------------------------------------------------- our own records


def stored_object(raw: str | bytes | None) -> dict[str, Any] | None:
    """A JSON object we stored (an overlay, a request...); None when absent or not one:
    a hand-edited or foreign value reads as "none", never as an error in beat."""
    if not raw:
        return None
    try:
        data = json.loads(raw)
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def stored_moment(value: Any) -> datetime | None:
    """An ISO time we stored, aware (UTC when it names no zone); None when unreadable."""
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)

"""Entry <-> the JSON strings RedBeat keeps in an entry's hash.

``definition`` and ``meta`` use celery-redbeat 2.4's encoding (see
/work/shared/redbeat-contract.md), so RedBeat's own scheduler loads what we write and
we read whatever it wrote.  Our third hash field (``layout.EXTRA_FIELD``) holds the
ownership marker and what RedBeat cannot express (zone, window, jitter, ...).

Entries RedBeat's scheduler cannot run correctly (``entry.scheduler_only_features``)
are written *inert* for it: ``enabled: false`` plus a schedule it can decode, while
the real schedule and enabled flag live in the extra field.  RedBeat then neither
crashes on them nor fires them at a wrong time.

The extra field records the sha1 of the definition it was written with; when the
definition no longer matches (someone re-saved the entry through RedBeat), the
definition wins for schedule/enabled, and only zone/description/labels/window are
taken from the extra field.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone, tzinfo
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ..schedule import cron as cron_fields
from ..schedule.entry import (
    At,
    Cron,
    Entry,
    Every,
    RRule,
    RunState,
    Schedule,
    Solar,
    _from_iso,
    _iso,
    schedule_from_canonical,
    scheduler_only_features,
)
from ..schedule.timing import rule_zone
from ..schedule.vocabulary import (
    DEFAULT_MISFIRE,
    DEFAULT_OVERLAP,
    DEFAULT_TIMEZONE,
    MISFIRE_POLICIES,
    OVERLAP_POLICIES,
    REDBEAT_CRON_FIELDS,
    RRULE_FREQUENCIES,
    rrule_frequency,
)
from ..values import (
    DecodeError,
    decode_datetime,
    decode_value,
    encode_datetime,
    encode_value,
    is_plain,
)

EXTRA_VERSION = 1
#: Schedule written for RedBeat when the real one (a one-off ``at``) has no encoding.
INERT_PLACEHOLDER_SECONDS = 86400.0


@dataclass(frozen=True)
class EncodedEntry:
    definition: str  # RedBeat's ``definition`` field
    extra: str | None  # our field; None for an unmanaged entry with nothing extra
    requires_scheduler: tuple[str, ...]  # why it is stored inert for RedBeat


def sha1(text: str) -> str:
    return hashlib.sha1(text.encode()).hexdigest()


#: ``json.dumps(..., sort_keys=True)`` without building an encoder per call.
_SORTED_JSON = json.JSONEncoder(sort_keys=True)
#: Placeholder for the schedule in a definition's text (see ``encode_entry``).
_SCHEDULE_SLOT = "\x00schedule\x00"
_SCHEDULE_SLOT_JSON = json.dumps(_SCHEDULE_SLOT)


# --------------------------------------------------------------------------- schedules


def utcoffset_minutes(value: datetime) -> float:
    """A datetime's UTC offset in minutes, as RedBeat stores rrule zones (0 if naive)."""
    offset = value.utcoffset()
    return offset.total_seconds() / 60 if offset else 0


def datetime_from_epoch(epoch: float, offset_minutes: float = 0) -> datetime:
    """RedBeat's rrule datetime: epoch seconds shown at a fixed UTC offset in minutes."""
    tz = timezone(timedelta(minutes=float(offset_minutes))) if offset_minutes else timezone.utc
    return datetime.fromtimestamp(float(epoch), tz)


def _epoch_and_offset_minutes(value: datetime, tz: tzinfo) -> tuple[int, float]:
    """RedBeat's (epoch seconds, UTC offset in minutes) for an rrule datetime."""
    aware = value if value.tzinfo is not None else value.replace(tzinfo=timezone.utc)
    return math.floor(aware.timestamp()), utcoffset_minutes(aware.astimezone(tz))


def encode_weekday(number: int) -> dict[str, Any]:
    """RedBeat's weekday object (the ``n`` of ``MO(+1)`` is not kept)."""
    return {"__type__": "weekday", "wkday": number}


def crontab_object(**fields: Any) -> dict[str, Any]:
    """RedBeat's crontab object; values are kept as given (int or str)."""
    return {"__type__": "crontab", **{f: fields[f] for f in REDBEAT_CRON_FIELDS}}


def encode_schedule(schedule: Schedule, zone_name: str) -> dict[str, Any]:
    """RedBeat's object for a schedule (At and Solar have none: an interval placeholder)."""
    if isinstance(schedule, Every):
        return {
            "__type__": "interval",
            "every": float(schedule.seconds),
            "relative": schedule.relative,
        }
    if isinstance(schedule, Cron):
        return crontab_object(**{f: getattr(schedule, f) for f in REDBEAT_CRON_FIELDS})
    if isinstance(schedule, RRule):
        body: dict[str, Any] = {
            "__type__": "rrule",
            "freq": RRULE_FREQUENCIES.index(schedule.freq),
            "interval": schedule.interval,
            "wkst": schedule.wkst,
            "count": schedule.count,
        }
        for name in RRule.BY_FIELDS:
            value = getattr(schedule, name)
            if value is not None and name == "byweekday":
                body[name] = [encode_weekday(day) for day in value]
            else:
                body[name] = list(value) if value is not None else None
        # Offsets are those of the zone the rule is read in (timing.rule_zone), so
        # RedBeat (which keeps a fixed offset) reads by-hours at the same local
        # times, DST aside, and decoding gives back the same reading.
        tz = rule_zone(schedule, zone_name)
        for name in ("dtstart", "until"):
            value = getattr(schedule, name)
            if value is not None:
                body[name], body[name + "_tz"] = _epoch_and_offset_minutes(value, tz)
        return body
    if isinstance(schedule, (At, Solar)):  # stored inert, the real schedule in extra
        return {"__type__": "interval", "every": INERT_PLACEHOLDER_SECONDS, "relative": False}
    raise TypeError(f"unknown schedule {schedule!r}")


@lru_cache(maxsize=4096)
def _cached_schedule_json(schedule: Schedule, zone_name: str, exact: tuple[str, ...]) -> str:
    return json.dumps(encode_schedule(schedule, zone_name))


def schedule_json(schedule: Schedule, zone_name: str) -> str:
    """``json.dumps(encode_schedule(...))``, memoised: thousands of entries share a
    few schedules.  ``exact`` keys rrule datetimes by their repr too, because equal
    instants in different zones compare equal yet may encode different offsets."""
    exact: tuple[str, ...] = ()
    if isinstance(schedule, RRule):
        exact = (repr(schedule.dtstart), repr(schedule.until))
    try:
        return _cached_schedule_json(schedule, zone_name, exact)
    except TypeError:  # unhashable (not built by our loaders): no memo
        return json.dumps(encode_schedule(schedule, zone_name))


def _cron_value(value: Any, field: str) -> str:
    """A stored crontab field as text, its names as Celery reads them: celery-redbeat
    stores ``day_of_week='monday'`` as given, and Celery (so RedBeat) runs it."""
    if isinstance(value, bool):
        raise DecodeError(f"crontab {field}: bad value {value!r}")
    if isinstance(value, (int, str)):
        text = str(value).strip() or "*"
    elif isinstance(value, list) and value and all(isinstance(v, (int, str)) for v in value):
        text = ",".join(str(v) for v in value)
    elif value is None:
        return "*"
    else:
        raise DecodeError(f"crontab {field}: bad value {value!r}")
    return cron_fields.celery_names(text, cron_fields.FIELDS_BY_NAME[field])


def _weekday_number(value: Any) -> int:
    if isinstance(value, dict) and value.get("__type__") == "weekday":
        value = value.get("wkday")
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 6:
        return value
    raise DecodeError(f"rrule: bad weekday {value!r}")


def _int_tuple(value: Any, name: str) -> tuple[int, ...] | None:
    if value is None:
        return None
    items = value if isinstance(value, list) else [value]
    if name == "byweekday":
        numbers = [_weekday_number(v) for v in items]
    else:
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in items):
            raise DecodeError(f"rrule {name}: expected integers, got {value!r}")
        numbers = list(items)
    return tuple(sorted(set(numbers))) if numbers else None


def _rrule_datetime(data: dict[str, Any], name: str) -> datetime | None:
    epoch = data.get(name)
    if epoch is None:
        return None
    try:
        return datetime_from_epoch(epoch, data.get(name + "_tz") or 0)
    except (TypeError, ValueError, OverflowError) as exc:
        raise DecodeError(f"rrule {name}: bad value {epoch!r}") from exc


def _optional_int(data: dict[str, Any], name: str) -> int | None:
    value = data.get(name)
    if value is None:
        return None
    if isinstance(value, dict):  # wkst may be a weekday object
        return _weekday_number(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    raise DecodeError(f"rrule {name}: expected an integer, got {value!r}")


@lru_cache(maxsize=4096)
def _crontab(minute: str, hour: str, day_of_week: str, day_of_month: str, month: str) -> Cron:
    """Many entries share a few expressions: decode (and allocate) each once."""
    return _checked_cron(
        Cron(
            _cron_value(minute, "minute"),
            _cron_value(hour, "hour"),
            _cron_value(day_of_month, "day_of_month"),
            _cron_value(month, "month_of_year"),
            _cron_value(day_of_week, "day_of_week"),
        )
    )


def _checked_cron(cron: Cron) -> Cron:
    """``cron`` when Celery's crontab reads it (RedBeat's loader could build it)."""
    try:
        cron_fields.cron_sets(cron.expression)
    except cron_fields.CronNeverMatches:
        pass  # older Celery builds it too: it never fires (timing says so)
    except cron_fields.CronFieldError as exc:
        raise DecodeError(
            f"crontab {cron.expression!r} is not a valid cron expression: {exc}"
        ) from None
    return cron


def decode_schedule(data: Any) -> Schedule:
    if not isinstance(data, dict) or "__type__" not in data:
        raise DecodeError(f"schedule is not a typed object: {data!r:.80}")
    kind = data["__type__"]
    if kind == "interval":
        every = data.get("every")
        if isinstance(every, bool) or not isinstance(every, (int, float)) or every <= 0:
            raise DecodeError(f"interval: bad 'every' {every!r}")
        return Every(float(every), bool(data.get("relative", False)))
    if kind == "crontab":
        raw = tuple(data.get(f, "*") for f in REDBEAT_CRON_FIELDS)
        if all(type(v) is str for v in raw):  # the usual shape: share one parsed value
            return _crontab(*raw)
        values = {f: _cron_value(data.get(f, "*"), f) for f in REDBEAT_CRON_FIELDS}
        return _checked_cron(Cron(**values))
    if kind == "rrule":
        freq = data.get("freq")
        if isinstance(freq, str) and freq.lower() in RRULE_FREQUENCIES:
            freq_name = rrule_frequency(freq)
        elif (
            isinstance(freq, int)
            and not isinstance(freq, bool)
            and 0 <= freq < len(RRULE_FREQUENCIES)
        ):
            freq_name = RRULE_FREQUENCIES[freq]
        else:
            raise DecodeError(f"rrule: bad freq {freq!r}")
        interval = data.get("interval")
        return RRule(
            freq=freq_name,
            interval=1 if interval is None else int(interval),
            dtstart=_rrule_datetime(data, "dtstart"),
            until=_rrule_datetime(data, "until"),
            count=_optional_int(data, "count"),
            wkst=_optional_int(data, "wkst"),
            **{name: _int_tuple(data.get(name), name) for name in RRule.BY_FIELDS},
        )
    raise DecodeError(f"unknown schedule type {kind!r}")


# --------------------------------------------------------------------------- entries


def _has_extras(entry: Entry, beat_timezone: str) -> bool:
    return (
        entry.timezone != beat_timezone
        or entry.description is not None
        or bool(entry.labels)
        or entry.start_at is not None
        or entry.end_at is not None
        or bool(entry.jitter)
        or entry.misfire != DEFAULT_MISFIRE
        or entry.deadline is not None
        or not entry.prune
        or entry.overlap != DEFAULT_OVERLAP
        or entry.overlap_timeout is not None
    )


def encode_entry(
    entry: Entry,
    *,
    beat_timezone: str = DEFAULT_TIMEZONE,
    managed: bool = True,
    null_args: bool = False,
) -> EncodedEntry:
    """The strings to store for ``entry`` (definition always, extra when needed).

    ``null_args=True`` writes empty args as ``null``, as RedBeat saves an entry built
    with ``args=None`` (the RedBeat-API entry class asks for it).
    """
    return _encode_entry(entry, beat_timezone, managed, null_args=null_args and not entry.args)


class EntryEncoder:
    """``encode_entry`` for one beat timezone, each entry encoded once.

    Apply encodes the entries it writes three times over (the memory estimate, the
    writer, the plan digest); the caller holds one encoder for the three.  Keyed by
    the entry's identity (``Entry`` is frozen, so its fields cannot change under the
    memo; the entry is kept in the value, so its id is not reused meanwhile).  Used
    per apply, not globally, to not hold 100k encodings where they are needed once.
    """

    def __init__(self, *, beat_timezone: str = DEFAULT_TIMEZONE, managed: bool = True) -> None:
        self.beat_timezone = beat_timezone
        self.managed = managed
        self._done: dict[int, tuple[Entry, EncodedEntry]] = {}

    def encode(self, entry: Entry) -> EncodedEntry:
        done = self._done.get(id(entry))
        if done is not None and done[0] is entry:
            return done[1]
        encoded = _encode_entry(entry, self.beat_timezone, self.managed)
        self._done[id(entry)] = (entry, encoded)
        return encoded


def _encode_entry(
    entry: Entry, beat_timezone: str, managed: bool, null_args: bool = False
) -> EncodedEntry:
    reasons = tuple(scheduler_only_features(entry, beat_timezone))
    inert = bool(reasons)
    values = (entry.args, entry.kwargs, entry.options)
    if not is_plain(values):
        values = (
            encode_value(list(entry.args)),
            encode_value(dict(entry.kwargs)),
            encode_value(dict(entry.options)),
        )
    definition = {
        "name": entry.name,
        "task": entry.task,
        "args": None if null_args else values[0],
        "kwargs": values[1],
        "options": values[2],
        "schedule": _SCHEDULE_SLOT,
        "enabled": entry.enabled and not inert,
    }
    # The schedule is encoded once per distinct schedule (``schedule_json``) and put
    # in its slot: the text is byte-identical to json.dumps of the full dict, which
    # plan's fast no-op check relies on.  The slot is the last string in the text
    # (only ``enabled``, a boolean, follows), so user data cannot be mistaken for it.
    head, _, tail = json.dumps(definition).rpartition(_SCHEDULE_SLOT_JSON)
    definition_raw = head + schedule_json(entry.schedule, entry.timezone) + tail
    if not managed and not inert and not _has_extras(entry, beat_timezone):
        return EncodedEntry(definition_raw, None, reasons)
    extra: dict[str, Any] = {
        "v": EXTRA_VERSION,
        "managed": managed,
        "timezone": entry.timezone,
        "description": entry.description,
        "labels": dict(entry.labels),
        "start_at": _iso(entry.start_at),
        "end_at": _iso(entry.end_at),
        "jitter": float(entry.jitter),
        "misfire": entry.misfire,
        "deadline": entry.deadline,
        "definition_sha1": sha1(definition_raw),
    }
    if not entry.prune:
        # Remembered here so an entry that left the files is released, not deleted.
        extra["prune"] = False
    if entry.overlap != DEFAULT_OVERLAP or entry.overlap_timeout is not None:
        # Only when set, so entries without it keep their stored bytes.
        extra["overlap"] = entry.overlap
        extra["overlap_timeout"] = entry.overlap_timeout
    if inert:
        extra["schedule"] = entry.schedule.to_canonical()
        extra["enabled"] = entry.enabled
    return EncodedEntry(definition_raw, _SORTED_JSON.encode(extra), reasons)


def _parse_json(raw: str, what: str) -> Any:
    try:
        return json.loads(raw)
    except (TypeError, ValueError) as exc:
        raise DecodeError(f"{what} is not valid JSON: {exc}") from exc


def decode_extra(extra_raw: str | None) -> dict[str, Any] | None:
    if extra_raw is None:
        return None
    extra = _parse_json(extra_raw, "redbeat_sync field")
    if not isinstance(extra, dict):
        raise DecodeError("redbeat_sync field is not a JSON object")
    if extra.get("v") != EXTRA_VERSION:
        raise DecodeError(f"redbeat_sync field has unsupported version {extra.get('v')!r}")
    return extra


@lru_cache(maxsize=256)
def _known_zone(name: str) -> bool:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


def _extra_fields(extra: dict[str, Any], beat_timezone: str) -> dict[str, Any]:
    """Entry fields kept in our extra field, checked (a typo must not crash beat later)."""
    zone = extra.get("timezone") or beat_timezone
    if not isinstance(zone, str) or not _known_zone(zone):
        raise DecodeError(f"unknown time zone {zone!r}")
    labels = extra.get("labels") or {}
    if not isinstance(labels, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in labels.items()
    ):
        raise DecodeError(f"labels must map strings to strings, got {labels!r:.80}")
    description = extra.get("description")
    if description is not None and not isinstance(description, str):
        raise DecodeError(f"bad description {description!r:.80}")
    misfire = extra.get("misfire") or DEFAULT_MISFIRE
    if misfire not in MISFIRE_POLICIES:
        raise DecodeError(f"unknown misfire policy {misfire!r}")
    deadline = extra.get("deadline")
    jitter = extra.get("jitter") or 0.0
    for label, number in (("jitter", jitter), ("deadline", deadline)):
        if number is not None and (
            isinstance(number, bool) or not isinstance(number, (int, float))
        ):
            raise DecodeError(f"bad {label} {number!r}")
    prune = extra.get("prune", True)
    if not isinstance(prune, bool):
        raise DecodeError(f"bad prune {prune!r}")
    overlap = extra.get("overlap") or DEFAULT_OVERLAP
    if overlap not in OVERLAP_POLICIES:
        raise DecodeError(f"unknown overlap policy {overlap!r}")
    overlap_timeout = extra.get("overlap_timeout")
    if overlap_timeout is not None and (
        isinstance(overlap_timeout, bool) or not isinstance(overlap_timeout, (int, float))
    ):
        raise DecodeError(f"bad overlap_timeout {overlap_timeout!r}")
    return {
        "prune": prune,
        "timezone": zone,
        "description": description,
        "labels": dict(labels),
        "start_at": _from_iso(extra.get("start_at")),
        "end_at": _from_iso(extra.get("end_at")),
        "jitter": float(jitter),
        "misfire": misfire,
        "deadline": float(deadline) if deadline is not None else None,
        "overlap": overlap,
        "overlap_timeout": float(overlap_timeout) if overlap_timeout is not None else None,
    }


def decode_entry(
    name: str, definition_raw: str, extra_raw: str | None, *, beat_timezone: str = DEFAULT_TIMEZONE
) -> tuple[Entry, bool]:
    """The canonical Entry stored under ``name`` and whether it carries our marker.

    Raises DecodeError (only) for anything celery-redbeat 2.4 or we could not have
    written.
    """
    try:
        return _decode_entry(name, definition_raw, extra_raw, beat_timezone)
    except DecodeError:
        raise
    except (TypeError, ValueError, KeyError, AttributeError, OverflowError) as exc:
        raise DecodeError(f"unreadable entry: {type(exc).__name__}: {exc}") from exc


def _decode_entry(
    name: str, definition_raw: str, extra_raw: str | None, beat_timezone: str
) -> tuple[Entry, bool]:
    data = _parse_json(definition_raw, "definition")
    if not isinstance(data, dict):
        raise DecodeError("definition is not a JSON object")
    if data.get("name") != name:
        raise DecodeError(f"definition names {data.get('name')!r}, stored under {name!r}")
    task = data.get("task")
    if not isinstance(task, str) or not task:
        raise DecodeError(f"bad task {task!r}")
    args = data.get("args")
    args = [] if args is None else args
    kwargs = {} if data.get("kwargs") is None else data["kwargs"]
    options = {} if data.get("options") is None else data["options"]
    if not isinstance(args, list):
        raise DecodeError(f"args is not a list: {args!r:.80}")
    if not isinstance(kwargs, dict) or not isinstance(options, dict):
        raise DecodeError("kwargs and options must be JSON objects")
    enabled = data.get("enabled", True)
    if not isinstance(enabled, bool):
        raise DecodeError(f"bad enabled {enabled!r}")
    schedule = decode_schedule(data.get("schedule"))
    extra = decode_extra(extra_raw)
    values: dict[str, Any] = {"timezone": beat_timezone}
    if extra is not None:
        try:
            values.update(_extra_fields(extra, beat_timezone))
            # Overrides only hold for the definition they were written with.
            overrides = "schedule" in extra or "enabled" in extra
            if overrides and extra.get("definition_sha1") == sha1(definition_raw):
                if "schedule" in extra:
                    schedule = schedule_from_canonical(extra["schedule"])
                if "enabled" in extra:
                    enabled = bool(extra["enabled"])
        except (TypeError, ValueError, KeyError) as exc:
            raise DecodeError(f"bad redbeat_sync field: {exc}") from exc
    if '"datetime"' in definition_raw:  # cheap test: most entries hold no datetime
        args, kwargs, options = decode_value(args), decode_value(kwargs), decode_value(options)
    entry = Entry(
        name=name,
        task=task,
        schedule=schedule,
        args=args,
        kwargs=kwargs,
        options=options,
        enabled=enabled,
        **values,
    )
    marked = extra is not None and extra.get("managed") is True
    return entry, marked


# --------------------------------------------------------------------------- meta


#: How a meta's text starts and what precedes its count (json.dumps of
#: ``{"last_run_at": ..., "total_run_count": ...}``): the count comes last, so every
#: entry that last ran at one instant shares the text before it (``meta_head``).
_META_START = '{"last_run_at": '
_META_COUNT = ', "total_run_count": '


def meta_head(last_run_at: datetime | None) -> str:
    """A meta's text before its count, the same for every entry run at that instant."""
    last = encode_datetime(last_run_at) if last_run_at is not None else None
    return f"{_META_START}{json.dumps(last)}{_META_COUNT}"


def encode_meta(run: RunState, head: str | None = None) -> str:
    """RedBeat's ``meta`` text (byte for byte ``json.dumps`` of its dict).

    ``head``: ``meta_head(run.last_run_at)`` when the caller keeps it (beat encodes
    thousands of metas of a few instants at once)."""
    count = run.total_run_count
    # str() of a plain int is its JSON; bools and int subclasses go through json.
    count_text = str(count) if type(count) is int else json.dumps(count)
    if head is None:
        head = meta_head(run.last_run_at)
    return f"{head}{count_text}}}"


def split_meta(raw: str) -> tuple[str, int] | None:
    """``(meta_head, count)`` of a meta in ``encode_meta``'s shape, else None.

    Only a plain JSON integer count (no sign, no leading zero) splits.  The head
    alone proves nothing: ``meta_last_run_at(head)`` decodes it, and valid JSON with
    the count swapped means the count was the top-level last member (inside a string
    or a nested object the text would not parse)."""
    if not raw.startswith(_META_START) or not raw.endswith("}"):
        return None
    cut = raw.rfind(_META_COUNT)
    digits = raw[cut + len(_META_COUNT) : -1] if cut > 0 else ""
    if not (digits.isascii() and digits.isdigit()) or (digits[0] == "0" and digits != "0"):
        return None
    return raw[: cut + len(_META_COUNT)], int(digits)


def meta_last_run_at(head: str) -> datetime | None:
    """The ``last_run_at`` of a ``split_meta`` head (DecodeError as ``decode_meta``)."""
    return decode_meta(f"{head}0}}").last_run_at


def decode_meta(raw: str | None) -> RunState:
    """RedBeat's run history; missing (never run) gives RunState(None, 0)."""
    try:
        return _decode_meta(raw)
    except DecodeError:
        raise
    except (TypeError, ValueError, KeyError, AttributeError, OverflowError) as exc:
        raise DecodeError(f"unreadable meta: {type(exc).__name__}: {exc}") from exc


def _decode_meta(raw: str | None) -> RunState:
    if not raw:
        return RunState()
    data = _parse_json(raw, "meta")
    if not isinstance(data, dict):
        raise DecodeError("meta is not a JSON object")
    last = data.get("last_run_at")
    if last is not None and not (isinstance(last, dict) and last.get("__type__") == "datetime"):
        raise DecodeError(f"meta: bad last_run_at {last!r:.80}")
    count = data.get("total_run_count") or 0
    if not isinstance(count, int) or isinstance(count, bool):
        raise DecodeError(f"meta: bad total_run_count {count!r}")
    return RunState(decode_datetime(last) if last is not None else None, count)


__all__ = [
    "DecodeError",
    "EncodedEntry",
    "EntryEncoder",
    "decode_entry",
    "decode_meta",
    "decode_schedule",
    "encode_entry",
    "encode_meta",
    "encode_schedule",
    "meta_head",
    "meta_last_run_at",
    "split_meta",
]

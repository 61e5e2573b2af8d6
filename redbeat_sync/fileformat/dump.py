"""``entry.Entry`` -> v1 schedule YAML (what ``export`` writes).

Guarantee: loading the text gives back entries whose ``to_canonical()`` is identical.
Only fields that differ from their default are written, durations come out human-style
when exact (``5400`` -> ``1h30m``) and date-times as ISO 8601 with their UTC offset.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime, timedelta, timezone
from typing import Any

import yaml

from ..bulk import gc_paused
from ..schedule.durations import format_duration
from ..schedule.entry import At, Cron, Entry, Every, RRule, Schedule, Solar
from ..schedule.vocabulary import DEFAULT_MISFIRE, DEFAULT_OVERLAP, DEFAULT_TIMEZONE, WEEKDAY_NAMES
from ..values import encode_datetime, encode_value
from .models import FORMAT_VERSION

_Base: type = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
_SAFE_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")


class _Dumper(_Base):  # type: ignore[misc]
    """Safe dumper with our few styles."""


class _Flow(dict):  # type: ignore[type-arg]
    """A mapping written on one line: ``{cron: "0 3 * * *"}``."""


class _FlowList(list):  # type: ignore[type-arg]
    """A list written on one line: ``[1, "a"]``."""


class _Quoted(str):
    """A string always written in double quotes (entry names that are not plain words)."""

    __slots__ = ()


def _represent_flow(dumper: Any, value: _Flow) -> Any:
    return dumper.represent_mapping("tag:yaml.org,2002:map", value.items(), flow_style=True)


def _represent_flow_list(dumper: Any, value: _FlowList) -> Any:
    return dumper.represent_sequence("tag:yaml.org,2002:seq", value, flow_style=True)


def _represent_quoted(dumper: Any, value: _Quoted) -> Any:
    return dumper.represent_scalar("tag:yaml.org,2002:str", str(value), style='"')


def _represent_datetime(dumper: Any, value: datetime) -> Any:
    return dumper.represent_scalar("tag:yaml.org,2002:timestamp", _iso(value))


def _represent_tuple(dumper: Any, value: tuple[Any, ...]) -> Any:
    return dumper.represent_list(list(value))


_Dumper.add_representer(_Flow, _represent_flow)
_Dumper.add_representer(_FlowList, _represent_flow_list)
_Dumper.add_representer(_Quoted, _represent_quoted)
_Dumper.add_representer(datetime, _represent_datetime)
_Dumper.add_representer(tuple, _represent_tuple)


def _iso(value: datetime) -> str:
    """ISO 8601 with offset; YAML timestamps only carry whole-minute offsets."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    offset = value.utcoffset() or timedelta(0)
    if offset % timedelta(minutes=1):
        value = value.astimezone(timezone.utc)
    return value.isoformat()


def dump_entries(entries: Iterable[Entry], *, schema_ref: str | None = None) -> str:
    """The v1 YAML text of ``entries``, sorted by name.

    ``schema_ref``: the JSON Schema editors should use (``schema.vendored_schema_ref``
    finds it for a file); no header without one.
    """
    parts: list[str] = []
    if schema_ref:
        parts.append(f"# yaml-language-server: $schema={schema_ref}\n")
    parts.append(f"version: {FORMAT_VERSION}\n")
    ordered = sorted(entries, key=lambda e: e.name)
    if not ordered:
        parts.append("entries: {}\n")
        return "".join(parts)
    parts.append("entries:\n")
    # One small document per entry, indented under `entries:`: PyYAML's cost grows
    # with the size of the tree it represents, so this keeps 100k entries fast.
    with gc_paused():
        for entry in ordered:
            text = yaml.dump(
                {_name(entry.name): _entry_body(entry)},
                Dumper=_Dumper,
                sort_keys=False,
                allow_unicode=True,
                default_flow_style=False,
                width=120,
            )
            parts.append(_indent(text))
    return "".join(parts)


def _indent(text: str) -> str:
    # Split on "\n" only (not str.splitlines, which also breaks at U+2028 and friends);
    # blank lines stay blank: inside a quoted or block scalar they are line breaks.
    lines = text.split("\n")
    return "\n".join("  " + line if line else line for line in lines)


def _name(name: str) -> str:
    return name if _SAFE_NAME.fullmatch(name) else _Quoted(name)


def _entry_body(entry: Entry) -> dict[str, Any]:
    out: dict[str, Any] = {"task": entry.task, "schedule": _schedule(entry.schedule)}
    if entry.args:
        args = [_plain(v) for v in entry.args]
        # Flow style only for simple values: a date-time there would lose its tag.
        scalars = all(not isinstance(v, (dict, list, datetime)) for v in args)
        out["args"] = _FlowList(args) if scalars else args
    if entry.kwargs:
        out["kwargs"] = _plain(entry.kwargs)
    if entry.options:
        out["options"] = _plain(entry.options)
    if not entry.enabled:
        out["enabled"] = False
    if entry.timezone != DEFAULT_TIMEZONE:
        out["timezone"] = entry.timezone
    if entry.description is not None:
        out["description"] = entry.description
    if entry.labels:
        out["labels"] = dict(entry.labels)
    if entry.start_at is not None:
        out["start_at"] = entry.start_at
    if entry.end_at is not None:
        out["end_at"] = entry.end_at
    if entry.jitter:
        out["jitter"] = format_duration(entry.jitter)
    if entry.misfire != DEFAULT_MISFIRE:
        out["misfire"] = entry.misfire
    if entry.deadline is not None:
        out["deadline"] = format_duration(entry.deadline)
    if not entry.prune:
        out["prune"] = False
    if entry.overlap != DEFAULT_OVERLAP:
        out["overlap"] = entry.overlap
    if entry.overlap_timeout is not None:
        out["overlap_timeout"] = format_duration(entry.overlap_timeout)
    return out


def _plain(value: Any) -> Any:
    """Plain containers, as JSON holds them (``values.encode_value``), datetimes kept."""
    return encode_value(value, _yaml_datetime)


def _yaml_datetime(value: datetime) -> Any:
    """The datetime itself, written as a YAML timestamp, when that carries it exactly.

    One it cannot (a zone name such as Europe/Paris, a sub-minute offset) is written
    as the object RedBeat stores for it: that mapping loads and is stored as is, so
    the task still receives this datetime, and the plan after an export says No
    changes.
    """
    stored = encode_datetime(value)
    if stored != encode_datetime(datetime.fromisoformat(_iso(value))):
        return stored
    return value


def _schedule(schedule: Schedule) -> _Flow:
    if isinstance(schedule, Cron):
        return _Flow(cron=_Quoted(schedule.expression))
    if isinstance(schedule, Every):
        out = _Flow(every=format_duration(schedule.seconds))
        if schedule.relative:
            out["relative"] = True
        return out
    if isinstance(schedule, At):
        return _Flow(at=_iso(schedule.when))  # a string: flow style would tag a timestamp
    if isinstance(schedule, RRule):
        return _Flow(rrule=_rrule(schedule))
    if isinstance(schedule, Solar):
        return _Flow(solar=_Flow(event=schedule.event, lat=schedule.lat, lon=schedule.lon))
    raise TypeError(f"unknown schedule type {type(schedule).__name__}")


def _rrule(rule: RRule) -> _Flow:
    out = _Flow(freq=rule.freq)
    if rule.interval != 1:
        out["interval"] = rule.interval
    if rule.dtstart is not None:
        out["dtstart"] = _iso(rule.dtstart)
    if rule.until is not None:
        out["until"] = _iso(rule.until)
    if rule.count is not None:
        out["count"] = rule.count
    if rule.wkst is not None:
        out["wkst"] = WEEKDAY_NAMES[rule.wkst]
    for name in RRule.BY_FIELDS:
        values = getattr(rule, name)
        if values is None:
            continue
        if name == "byweekday":
            out[name] = _FlowList(WEEKDAY_NAMES[v] for v in values)
        else:
            out[name] = _FlowList(values)
    return out

"""Apply history: one record per apply in a capped Redis stream.

Stream fields are flat strings.  Text values are stored as they are; anything else
(counts, lists, numbers, booleans, None) is stored as JSON and its field name listed
in ``_json``, so ``read_history`` gives back exactly the types that were appended.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterable
from datetime import datetime, timezone
from typing import Any, cast

import redis

from .layout import Layout

DEFAULT_MAXLEN = 1000
_JSON_FIELDS = "_json"  # comma-separated names of the JSON-encoded fields
#: Kinds of action that change something (no-ops and unmanaged entries are not changes).
CHANGE_KINDS = ("create", "update", "delete", "adopt", "move", "release")
#: Operations recorded beside applies (pause, resume, run now): not schedule changes.
OPERATION_KINDS = ("pause", "resume", "run")
#: Names kept per kind in a record: enough to answer "who touched X", bounded for 100k plans.
NAMES_PER_KIND = 100
MOVE_ARROW = " -> "


def change_counts(summary: dict[str, int]) -> dict[str, int]:
    """The plan's counts of real changes only (drops noop, unmanaged and zeros)."""
    return {kind: summary[kind] for kind in CHANGE_KINDS if summary.get(kind)}


def change_names(
    changes: Iterable[tuple[str, str]], limit: int = NAMES_PER_KIND
) -> dict[str, dict[str, Any]]:
    """``{kind: {"count": n, "names": [first names, sorted]}}`` from (kind, name) pairs.

    A move is given as ``"old -> new"``.  ``names`` holds at most ``limit`` names;
    ``count`` is always the full number.
    """
    by_kind: dict[str, list[str]] = {}
    for kind, name in changes:
        by_kind.setdefault(kind, []).append(name)
    return {
        kind: {"count": len(names), "names": sorted(names)[:limit]}
        for kind, names in sorted(by_kind.items(), key=lambda item: CHANGE_KINDS.index(item[0]))
    }


def record_names(record: dict[str, Any]) -> set[str]:
    """Every entry name a record lists (both names of a move)."""
    names: set[str] = set()
    changes = record.get("changes")
    if not isinstance(changes, dict):
        return names
    for item in changes.values():
        for name in (item or {}).get("names", []) if isinstance(item, dict) else []:
            names.update(str(name).split(MOVE_ARROW))
    return names


def record_is_complete(record: dict[str, Any]) -> bool:
    """False when some kind lists only its first names (the rest may hold any name)."""
    changes = record.get("changes")
    if not isinstance(changes, dict):
        return False  # records from before names were kept
    return all(
        isinstance(item, dict) and len(item.get("names", [])) >= item.get("count", 0)
        for item in changes.values()
    )


def make_record(
    *,
    who: str,
    plan_digest: str,
    counts: dict[str, int],
    message: str | None = None,
    git_sha: str | None = None,
    host: str | None = None,
    when: datetime | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """A history record with the usual fields (``when`` defaults to now, UTC)."""
    when = when or datetime.now(timezone.utc)
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return {
        "when": when.astimezone(timezone.utc).isoformat(timespec="seconds"),
        "who": who,
        "host": host or socket.gethostname(),
        "plan_digest": plan_digest,
        "counts": dict(counts),
        "message": message,
        "git_sha": git_sha,
        **extra,
    }


def _to_fields(record: dict[str, Any]) -> dict[str, str]:
    out: dict[str, str] = {}
    encoded: list[str] = []
    for name, value in record.items():
        name = str(name)
        if name == _JSON_FIELDS or name == "id":
            raise ValueError(f"{name!r} is reserved in history records")
        if "," in name:
            raise ValueError(f"history field names may not contain ',': {name!r}")
        if isinstance(value, str):
            out[name] = value
        else:
            out[name] = json.dumps(value, sort_keys=True, default=str)
            encoded.append(name)
    if encoded:
        out[_JSON_FIELDS] = ",".join(encoded)
    return out


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


#: XRANGE/XREVRANGE replies: (stream id, its fields)
_Rows = list[tuple[Any, dict[Any, Any]]]


def _from_fields(stream_id: Any, fields: dict[Any, Any]) -> dict[str, Any]:
    raw = {_text(k): _text(v) for k, v in fields.items()}
    encoded = set(filter(None, raw.pop(_JSON_FIELDS, "").split(",")))
    record: dict[str, Any] = {"id": _text(stream_id)}
    for name, value in raw.items():
        if name in encoded:
            try:
                record[name] = json.loads(value)
            except ValueError:
                record[name] = value  # tampered with by hand: keep the text
        else:
            record[name] = value
    return record


def append_record(
    client: redis.Redis,
    layout: Layout,
    record: dict[str, Any],
    *,
    maxlen: int = DEFAULT_MAXLEN,
    approximate: bool = True,
) -> str:
    """Append ``record`` and trim the stream to about ``maxlen``; returns the stream id.

    Approximate trimming (``MAXLEN ~``) is the cheap kind: Redis drops whole internal
    nodes, so the stream may hold somewhat more than ``maxlen`` records.
    """
    if maxlen < 1:
        raise ValueError("maxlen must be at least 1")
    fields = _to_fields(record)
    if not fields:
        raise ValueError("empty history record")
    stream_id = client.xadd(
        layout.history_key,
        fields,  # type: ignore[arg-type]
        maxlen=maxlen,
        approximate=approximate,
    )
    return _text(stream_id)


def read_history(
    client: redis.Redis, layout: Layout, count: int = 20, *, entry: str | None = None
) -> list[dict[str, Any]]:
    """The ``count`` newest records, newest first, each with its stream ``id``.

    With ``entry``: the newest ``count`` records that list that name (the whole
    stream is searched; it is capped at about ``DEFAULT_MAXLEN`` records).
    """
    if count < 1:
        raise ValueError("count must be at least 1")
    if entry is None:
        rows = cast(_Rows, client.xrevrange(layout.history_key, count=count))
        return [_from_fields(stream_id, fields) for stream_id, fields in rows]
    found: list[dict[str, Any]] = []
    for stream_id, fields in cast(_Rows, client.xrevrange(layout.history_key)):
        record = _from_fields(stream_id, fields)
        if entry in record_names(record):
            found.append(record)
            if len(found) == count:
                break
    return found

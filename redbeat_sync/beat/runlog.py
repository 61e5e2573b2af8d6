"""Run history per entry: what beat sent, and what the workers made of it.

One Redis list per entry, ``<prefix>:sync:runs:<name>``, newest first, capped at
``redbeat_sync_run_history`` records (default 20; 0 turns history off): never
unbounded.  Each record is JSON:

- beat writes it when it sends (or skips) a run: ``slot``, ``covers_from``,
  ``sent_at``, ``task_id``, ``host``, ``kind`` (``scheduled`` / ``manual`` for
  ``redbeat-sync run``), ``state`` = ``sent`` (or ``skipped`` with a ``reason``);
- ``redbeat_sync.worker`` (imported by the workers) updates the record with the
  same ``task_id``: ``started``, then ``succeeded`` / ``failed`` / ``retried``,
  ``runtime`` (seconds), ``error`` (exception type and message, bounded).

Workers that import ``redbeat_sync.worker`` also stamp ``<prefix>:sync:workers``
(hostname -> last report), which is how beat and ``plan`` know someone reports
outcomes (``overlap: skip`` needs it).
"""

from __future__ import annotations

import json
import socket
from collections.abc import Sequence
from datetime import datetime, timezone
from typing import Any

import redis

from ..redact import redact
from ..schedule.entry import DEFAULT_OVERLAP_TIMEOUT, Entry
from ..state.layout import Layout

UTC = timezone.utc
DEFAULT_HISTORY = 20
#: Header beat adds naming the entry a run is for (how the worker finds its record).
ENTRY_HEADER = "redbeat_sync_entry"
#: Longest error text kept per run (type and message).
MAX_ERROR = 500
#: States meaning the run has not reported an end yet.
OPEN_STATES = ("sent", "started", "retried")

#: Merge ARGV[2] (JSON object) into the record whose task_id is ARGV[1]; the list is
#: capped, so the scan is short.  Returns 1 if found.
UPDATE_SCRIPT = """
local items = redis.call('LRANGE', KEYS[1], 0, -1)
for i, raw in ipairs(items) do
  local ok, rec = pcall(cjson.decode, raw)
  if ok and type(rec) == 'table' and rec['task_id'] == ARGV[1] then
    local patch = cjson.decode(ARGV[2])
    for k, v in pairs(patch) do rec[k] = v end
    redis.call('LSET', KEYS[1], i - 1, cjson.encode(rec))
    return 1
  end
end
return 0
"""


#: Record a skipped run: consecutive skips held back by the same run collapse into the
#: newest record (``count``, latest ``slot``), so the run that blocks them stays in
#: the capped list however many slots it spans.
SKIP_SCRIPT = """
local top = redis.call('LINDEX', KEYS[1], 0)
local new = cjson.decode(ARGV[1])
if top then
  local ok, rec = pcall(cjson.decode, top)
  if ok and type(rec) == 'table' and rec['state'] == 'skipped'
      and rec['blocked_by'] == new['blocked_by'] then
    rec['count'] = (tonumber(rec['count']) or 1) + 1
    rec['slot'] = new['slot']
    rec['sent_at'] = new['sent_at']
    redis.call('LSET', KEYS[1], 0, cjson.encode(rec))
    return 0
  end
end
redis.call('LPUSH', KEYS[1], ARGV[1])
redis.call('LTRIM', KEYS[1], 0, tonumber(ARGV[2]) - 1)
return 1
"""


def workers_key(layout: Layout) -> str:
    return layout.prefix + ":sync:workers"


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def sent_record(
    *, task_id: str | None, slot: datetime | None, covers_from: datetime | None,
    kind: str = "scheduled", state: str = "sent", reason: str | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:  # fmt: skip
    record: dict[str, Any] = {
        "task_id": task_id,
        "slot": slot.isoformat() if slot else None,
        "covers_from": covers_from.isoformat() if covers_from else None,
        "sent_at": (now or datetime.now(UTC)).isoformat(),
        "host": socket.gethostname(),
        "kind": kind,
        "state": state,
    }
    if reason:
        record["reason"] = reason
    return record


def append_runs(
    client: redis.Redis, layout: Layout, records: Sequence[tuple[str, dict[str, Any]]], keep: int
) -> None:
    """Push ``(entry name, record)`` pairs, one pipeline for a whole batch."""
    if keep <= 0 or not records:
        return
    with client.pipeline(transaction=False) as pipe:
        for name, record in records:
            key = layout.runs_key(name)
            pipe.lpush(key, json.dumps(record))
            pipe.ltrim(key, 0, keep - 1)
        pipe.execute()


def update_run(
    client: redis.Redis, layout: Layout, name: str, task_id: str, patch: dict[str, Any]
) -> bool:
    script = client.register_script(UPDATE_SCRIPT)
    return bool(script(keys=[layout.runs_key(name)], args=[task_id, json.dumps(patch)]))


def read_runs(
    client: redis.Redis, layout: Layout, name: str, count: int = 20
) -> list[dict[str, Any]]:
    """The newest ``count`` runs of ``name``, newest first."""
    out = []
    for raw in client.lrange(layout.runs_key(name), 0, max(0, count - 1)):
        try:
            record = json.loads(_text(raw))
        except ValueError:
            continue
        if isinstance(record, dict):
            out.append(record)
    return out


def latest_run(client: redis.Redis, layout: Layout, name: str) -> dict[str, Any] | None:
    found = read_runs(client, layout, name, 1)
    return found[0] if found else None


def latest_runs(
    client: redis.Redis, layout: Layout, names: Sequence[str]
) -> dict[str, dict[str, Any]]:
    """The newest run of each entry that was sent (skip records passed over: they
    collapse into one, so the sent run is at most second), one pipeline."""
    with client.pipeline(transaction=False) as pipe:
        for name in names:
            pipe.lrange(layout.runs_key(name), 0, 1)
        rows = pipe.execute()
    out: dict[str, dict[str, Any]] = {}
    for name, raws in zip(names, rows, strict=True):
        for raw in raws:
            try:
                record = json.loads(_text(raw))
            except ValueError:
                continue
            if isinstance(record, dict) and record.get("state") != "skipped":
                out[name] = record
                break
    return out


def latest_outcomes(
    client: redis.Redis, layout: Layout, names: Sequence[str], chunk: int = 1000
) -> dict[str, dict[str, Any]]:
    """The newest run of each entry, skipped or not (``show``'s last outcome)."""
    out: dict[str, dict[str, Any]] = {}
    for start in range(0, len(names), chunk):
        part = names[start : start + chunk]
        with client.pipeline(transaction=False) as pipe:
            for name in part:
                pipe.lindex(layout.runs_key(name), 0)
            rows = pipe.execute()
        for name, raw in zip(part, rows, strict=True):
            try:
                record = json.loads(_text(raw)) if raw else None
            except ValueError:
                record = None
            if isinstance(record, dict):
                out[name] = record
    return out


def record_skips(
    client: redis.Redis, layout: Layout, records: Sequence[tuple[str, dict[str, Any]]], keep: int
) -> None:
    """Record skipped runs (see ``SKIP_SCRIPT``); each record names ``blocked_by``."""
    if keep <= 0:
        return
    script = client.register_script(SKIP_SCRIPT)
    for name, record in records:
        script(keys=[layout.runs_key(name)], args=[json.dumps(record), keep])


def still_running(record: dict[str, Any], entry: Entry, now: datetime) -> bool:
    """Has this run reported no end, and is it younger than the entry's
    ``overlap_timeout``?  (A worker can die: after the timeout it counts as finished.)"""
    if record.get("state") not in OPEN_STATES:
        return False
    since = record.get("started_at") or record.get("sent_at")
    try:
        began = datetime.fromisoformat(str(since))
    except ValueError:
        return False
    timeout = (
        entry.overlap_timeout if entry.overlap_timeout is not None else DEFAULT_OVERLAP_TIMEOUT
    )
    return (now - began).total_seconds() < timeout


def outcome_of(
    client: redis.Redis, layout: Layout, name: str, task_id: str
) -> dict[str, Any] | None:
    for record in read_runs(client, layout, name, 1000):
        if record.get("task_id") == task_id:
            return record
    return None


def worker_seen(client: redis.Redis, layout: Layout) -> bool:
    """Has any worker importing ``redbeat_sync.worker`` reported in?"""
    return bool(client.hlen(workers_key(layout)))


def failing_entries(
    client: redis.Redis, layout: Layout, k: int = 1
) -> dict[str, list[dict[str, Any]]]:
    """Entries whose ``k`` newest finished runs all failed (for ``health --failing``):
    name -> those runs, newest first.  Runs still open or skipped are passed over.
    One SCAN over the history keys, their lists read a thousand per round trip."""
    out: dict[str, list[dict[str, Any]]] = {}
    cut = len(layout.runs_key(""))
    keys = [_text(key) for key in client.scan_iter(match=layout.runs_key("*"), count=1000)]
    for start in range(0, len(keys), 1000):
        part = keys[start : start + 1000]
        with client.pipeline(transaction=False) as pipe:
            for key in part:
                pipe.lrange(key, 0, -1)
            rows = pipe.execute()
        for key, raws in zip(part, rows, strict=True):
            finished = [r for r in map(_record, raws) if r and r.get("state") in _ENDED][:k]
            if len(finished) == k and all(r["state"] == "failed" for r in finished):
                out[key[cut:]] = finished
    return out


_ENDED = ("succeeded", "failed")


def _record(raw: Any) -> dict[str, Any] | None:
    try:
        record = json.loads(_text(raw))
    except ValueError:
        return None
    return record if isinstance(record, dict) else None


def bounded_error(exc: BaseException | None) -> str | None:
    if exc is None:
        return None
    text = redact(f"{type(exc).__name__}: {exc}")  # a message may quote a URL
    return text if len(text) <= MAX_ERROR else text[: MAX_ERROR - 3] + "..."


__all__ = [
    "DEFAULT_HISTORY",
    "ENTRY_HEADER",
    "OPEN_STATES",
    "append_runs",
    "bounded_error",
    "failing_entries",
    "latest_outcomes",
    "latest_run",
    "latest_runs",
    "outcome_of",
    "read_runs",
    "record_skips",
    "sent_record",
    "still_running",
    "update_run",
    "worker_seen",
    "workers_key",
]

"""Test-only ways into the reader: the eager decode ``LazyStoredEntry`` must equal, and
reading named entries.  They reach into ``redbeat_sync.state.reader`` on purpose: the
library itself has one read path (``read_state``), these are its oracles.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import redis

from redbeat_sync.schedule.entry import scheduler_only_features
from redbeat_sync.state import reader
from redbeat_sync.state.codec import DecodeError, decode_entry, decode_meta
from redbeat_sync.state.layout import Layout
from redbeat_sync.state.stored import StoredEntry


def read_fingerprint(client: redis.Redis, layout: Layout) -> str:
    """``read_state(...).fingerprint`` without decoding (apply's staleness check)."""
    return reader.read_fingerprint_and_inventory(client, layout)[0]


def build_stored_entry(
    layout: Layout,
    name: str,
    fields: Sequence[str | None],
    *,
    score: float | None,
    managed: bool,
    beat_timezone: str,
) -> StoredEntry:
    """Decode one hash's fields; never raises for bad data (sets ``error``)."""
    definition_raw, meta_raw, extra_raw = fields
    common: dict[str, Any] = {
        "name": name,
        "key": layout.entry_key(name),
        "managed": managed,
        "score": score,
        "definition_raw": definition_raw,
        "extra_raw": extra_raw,
    }
    try:
        run = decode_meta(meta_raw)
        meta_error = None
    except DecodeError as exc:
        run, meta_error = decode_meta(None), f"meta: {exc}"
    try:
        entry, marked = decode_entry(
            name, definition_raw or "", extra_raw, beat_timezone=beat_timezone
        )
    except DecodeError as exc:
        return StoredEntry(
            entry=None, run=run, marked=reader._is_marked(extra_raw), error=str(exc), **common
        )
    return StoredEntry(
        entry=entry,
        run=run,
        marked=marked,
        error=meta_error,
        requires_scheduler=tuple(scheduler_only_features(entry, beat_timezone)),
        **common,
    )

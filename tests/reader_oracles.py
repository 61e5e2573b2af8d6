"""Test-only oracle for the reader: the eager decode a ``StoredEntry`` read from Redis
(decoded on first use) must equal.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from redbeat_sync.schedule.entry import scheduler_only_features
from redbeat_sync.state import stored
from redbeat_sync.state.codec import DecodeError, decode_entry, decode_meta
from redbeat_sync.state.layout import Layout
from redbeat_sync.state.stored import StoredEntry


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
        return StoredEntry.decoded(
            entry=None, run=run, marked=stored._is_marked(extra_raw), error=str(exc), **common
        )
    return StoredEntry.decoded(
        entry=entry,
        run=run,
        marked=marked,
        error=meta_error,
        requires_scheduler=tuple(scheduler_only_features(entry, beat_timezone)),
        **common,
    )

"""Beat's memo of ``meta`` texts, for thousands of due entries at once.

Entries that fire together share ``last_run_at`` (a slot) and differ only in
``total_run_count``, the last member of the text.  ``codec`` splits a meta into the
text before the count (``meta_head``) and the count; this cache keeps, per slot, that
head and what it decodes to, so encoding or decoding a batch costs one json call per
slot, not per entry.  The format itself is ``codec``'s alone.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ..schedule.entry import RunState
from ..state import codec

#: Distinct slots remembered; a beat sees few at a time, so clearing is enough.
_MAX_SLOTS = 4096


def _slot_key(value: datetime | None) -> tuple[Any, ...] | None:
    # Equal instants in different zones compare (and hash) equal but encode
    # differently: the zone and fold are part of the key.
    if value is None:
        return None
    return (value, value.tzinfo, value.fold)


class MetaCodec:
    def __init__(self) -> None:
        self._heads: dict[tuple[Any, ...] | None, str] = {}  # slot -> codec.meta_head
        self._runs: dict[str, datetime | None] = {}  # codec.meta_head -> last_run_at

    def encode(self, run: RunState) -> str:
        """``codec.encode_meta(run)``."""
        key = _slot_key(run.last_run_at)
        head = self._heads.get(key)
        if head is None:
            head = codec.meta_head(run.last_run_at)
            if len(self._heads) >= _MAX_SLOTS:
                self._heads.clear()
            self._heads[key] = head
        return codec.encode_meta(run, head)

    def decode(self, raw: str | None) -> RunState:
        """``codec.decode_meta(raw)`` (raises ``codec.DecodeError`` alike)."""
        parts = codec.split_meta(raw) if raw else None
        if parts is None:
            return codec.decode_meta(raw)
        head, count = parts
        try:
            last = self._runs[head]
        except KeyError:
            last = codec.meta_last_run_at(head)
            if len(self._runs) >= _MAX_SLOTS:
                self._runs.clear()
            self._runs[head] = last
        return RunState(last, count)


__all__ = ["MetaCodec"]

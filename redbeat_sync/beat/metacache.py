"""``meta`` encoding and decoding for thousands of due entries at once.

Entries that fire together share ``last_run_at`` (a slot) and differ only in
``total_run_count``, the last member of the JSON text.  So the text before the count
is encoded or parsed once per slot and the count is spliced in: the result is exactly
``codec.encode_meta`` / ``codec.decode_meta`` (same bytes, same RunState, same
errors), at a fraction of the cost of one ``json`` call per entry.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ..schedule.entry import RunState
from ..state import codec

#: How ``codec.encode_meta`` (json.dumps) ends every meta: the count, last.
_COUNT_MEMBER = ', "total_run_count": '
_HEAD = '{"last_run_at": '
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
        self._heads: dict[tuple[Any, ...] | None, str] = {}  # slot -> text before the count
        self._runs: dict[str, datetime | None] = {}  # text before the count -> last_run_at

    def encode(self, run: RunState) -> str:
        """``codec.encode_meta(run)``."""
        count = run.total_run_count
        if type(count) is not int:  # bools and int subclasses: the general path
            return codec.encode_meta(run)
        key = _slot_key(run.last_run_at)
        head = self._heads.get(key)
        if head is None:
            text = codec.encode_meta(RunState(run.last_run_at, 0))
            head = text[: -len("0}")]
            if len(self._heads) >= _MAX_SLOTS:
                self._heads.clear()
            self._heads[key] = head
        return f"{head}{count}}}"

    def decode(self, raw: str | None) -> RunState:
        """``codec.decode_meta(raw)`` (raises ``codec.DecodeError`` alike)."""
        if not raw or not raw.startswith(_HEAD) or not raw.endswith("}"):
            return codec.decode_meta(raw)
        cut = raw.rfind(_COUNT_MEMBER)
        digits = raw[cut + len(_COUNT_MEMBER) : -1] if cut > 0 else ""
        # Only a plain JSON integer (no sign, no leading zero) takes the fast path.
        if not (digits.isascii() and digits.isdigit()) or (digits[0] == "0" and digits != "0"):
            return codec.decode_meta(raw)
        head = raw[:cut]
        try:
            last = self._runs[head]
        except KeyError:
            # Valid JSON with the count swapped means the count was the top-level last
            # member (inside a string or a nested object the text would not parse).
            last = codec.decode_meta(f"{head}{_COUNT_MEMBER}0}}").last_run_at
            if len(self._runs) >= _MAX_SLOTS:
                self._runs.clear()
            self._runs[head] = last
        return RunState(last, int(digits))


__all__ = ["MetaCodec"]

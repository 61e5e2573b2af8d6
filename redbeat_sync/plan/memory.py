"""Will a plan fit under Redis's ``maxmemory``?  Refuse before writing if it clearly won't.

A plan larger than one batch is written in several atomic batches; under
``maxmemory`` with ``noeviction`` (or a ``volatile-*`` policy with nothing to evict)
Redis refuses a batch that starts over the limit with ``OOM``, and the batches before
it stay written.  Estimating the growth from the encodings apply is about to write
and ``INFO memory`` lets apply refuse such a plan while nothing is written yet.  The
estimate is deliberately generous (the constants below were measured on Redis 7.0
with 10,000 entries of 430 and 1,030 encoded bytes: 2,070 and 3,340 bytes each, i.e.
about 2.1 x the text + 1,160; then rounded up), and counts the batch being written
twice more: Redis holds its script argument and the script's decoded copy while it
runs.  A plan it lets through can still hit the limit when something else fills
Redis meanwhile; the batches written before that stay written and are reported.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import redis

from ..errors import UserError
from ..schedule.entry import Entry
from ..state.codec import EntryEncoder
from .actions import Action
from .kinds import KINDS

#: Bytes per new entry besides its field texts: the hash, its key, run history, the
#: schedule and inventory members and their index structures (measured ~1,160).
PER_KEY_OVERHEAD = 1_300
#: Bytes Redis uses per byte of field text (allocator size classes; measured ~2.1).
TEXT_FACTOR = 2.3
#: How many copies of one batch's text exist while its script runs.
BATCH_COPIES = 2
#: Room kept for the audit record, the lock, the script cache and client buffers.
HEADROOM = 1024 * 1024


@dataclass(frozen=True)
class MemoryNeed:
    maxmemory: int  # 0: no limit
    used: int
    growth: int  # estimated bytes the plan adds

    @property
    def fits(self) -> bool:
        return not self.maxmemory or self.used + self.growth + HEADROOM <= self.maxmemory


def _mb(size: int) -> str:
    return f"{size / 1024 / 1024:.1f} MB"


def _entry_bytes(entry: Entry, encoder: EntryEncoder) -> int:
    # The caller's encoder: the writer reuses these encodings instead of encoding twice.
    encoded = encoder.encode(entry)
    return len(encoded.definition.encode()) + len((encoded.extra or "").encode())


def estimate_growth(
    actions: Iterable[Action], prefix: str, encoder: EntryEncoder, batch_size: int
) -> int:
    """Peak bytes the actions add, never counting what deletes free (they may run last)."""
    growth = 0
    texts: list[int] = []
    for action in actions:
        kind = KINDS[action.kind]
        if action.desired is None or kind.writes == "nothing":
            continue
        size = _entry_bytes(action.desired, encoder)
        texts.append(size)
        stored = action.current
        if kind.new_key or stored is None:
            # A move writes a new key; the old one goes in the same batch, but count it.
            key = len((prefix + action.name).encode())
            growth += int(TEXT_FACTOR * (size + 3 * key)) + PER_KEY_OVERHEAD
            continue
        old = len((stored.definition_raw or "").encode()) + len((stored.extra_raw or "").encode())
        growth += int(TEXT_FACTOR * max(0, size - old))
    batches = [sum(texts[i : i + batch_size]) for i in range(0, len(texts), batch_size)]
    return growth + BATCH_COPIES * max(batches, default=0)


def memory_need(
    client: redis.Redis,
    actions: Iterable[Action],
    prefix: str,
    encoder: EntryEncoder,
    batch_size: int,
) -> MemoryNeed:
    """``INFO memory`` and the estimate (growth 0 without a limit: nothing to check)."""
    try:
        info: dict[str, Any] = client.info("memory")
    except redis.exceptions.ResponseError:  # INFO disabled (renamed): cannot tell
        return MemoryNeed(0, 0, 0)
    limit = int(info.get("maxmemory") or 0)
    if not limit or str(info.get("maxmemory_policy", "")).startswith("allkeys-"):
        # allkeys-*: Redis evicts instead of refusing; apply warns about that elsewhere.
        return MemoryNeed(0, int(info.get("used_memory") or 0), 0)
    used = int(info.get("used_memory") or 0)
    return MemoryNeed(limit, used, estimate_growth(actions, prefix, encoder, batch_size))


def refuse_if_it_cannot_fit(
    client: redis.Redis,
    actions: Iterable[Action],
    prefix: str,
    encoder: EntryEncoder,
    batch_size: int,
) -> None:
    """UserError (nothing written yet) when the plan would exceed ``maxmemory``.

    ``encoder`` encodes for the beat timezone; the writer reuses what it encoded."""
    need = memory_need(client, actions, prefix, encoder, batch_size)
    if need.fits:
        return
    raise UserError(
        f"this plan needs about {_mb(need.growth)} more in Redis, which has "
        f"{_mb(need.used)} used of maxmemory {_mb(need.maxmemory)}: later batches would "
        "fail with OOM after earlier ones were written. Raise maxmemory (or free memory) "
        "and apply again"
    )

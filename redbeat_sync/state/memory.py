"""Will a plan fit under Redis's ``maxmemory``?  Refuse before writing if it clearly won't.

A plan larger than one batch is written in several atomic batches; under
``maxmemory`` with ``noeviction`` (or a ``volatile-*`` policy with nothing to evict)
Redis refuses a batch that starts over the limit with ``OOM``, and the batches before
it stay written.  Estimating the growth from the encodings apply is about to write
and ``INFO memory`` lets apply refuse such a plan while nothing is written yet.  The
estimate is deliberately generous (``PER_KEY_OVERHEAD`` was measured on Redis 7.0
with RedBeat-sized entries, then rounded up), so a plan it lets through may still
hit the limit only when memory was nearly exhausted by something else meanwhile.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import redis

from ..entry import Entry
from ..errors import UserError
from ..plan.actions import Action
from .codec import encode_entry

#: Bytes per new entry besides its field texts: the hash, its key, the schedule and
#: inventory members and their index structures (measured about 330 on Redis 7.0).
PER_KEY_OVERHEAD = 400
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


def _entry_bytes(entry: Entry, beat_timezone: str) -> int:
    # remember=True: the writer reuses these encodings instead of encoding twice.
    encoded = encode_entry(entry, beat_timezone=beat_timezone, managed=True, remember=True)
    return len(encoded.definition.encode()) + len((encoded.extra or "").encode())


def estimate_growth(actions: Iterable[Action], prefix: str, beat_timezone: str) -> int:
    """Bytes the actions add, never counting what deletes would free (they may run last)."""
    growth = 0
    for action in actions:
        if action.desired is None or action.kind == "noop":
            continue
        size = _entry_bytes(action.desired, beat_timezone)
        stored = action.current
        if action.kind in ("create", "move") or stored is None:
            # A move writes a new key; the old one goes in the same batch, but count it.
            growth += size + PER_KEY_OVERHEAD + 3 * len(prefix + action.name) + 200
            continue
        old = len((stored.definition_raw or "").encode()) + len((stored.extra_raw or "").encode())
        growth += max(0, size - old)
    return growth


def memory_need(client: redis.Redis, actions: Iterable[Action], prefix: str, tz: str) -> MemoryNeed:
    """``INFO memory`` and the estimate (growth 0 without a limit: nothing to check)."""
    try:
        info: dict[str, Any] = client.info("memory")  # type: ignore[assignment]
    except redis.exceptions.ResponseError:  # INFO disabled (renamed): cannot tell
        return MemoryNeed(0, 0, 0)
    limit = int(info.get("maxmemory") or 0)
    if not limit or str(info.get("maxmemory_policy", "")).startswith("allkeys-"):
        # allkeys-*: Redis evicts instead of refusing; apply warns about that elsewhere.
        return MemoryNeed(0, int(info.get("used_memory") or 0), 0)
    return MemoryNeed(
        limit, int(info.get("used_memory") or 0), estimate_growth(actions, prefix, tz)
    )


def refuse_if_it_cannot_fit(
    client: redis.Redis, actions: Iterable[Action], prefix: str, beat_timezone: str
) -> None:
    """UserError (nothing written yet) when the plan would exceed ``maxmemory``."""
    need = memory_need(client, actions, prefix, beat_timezone)
    if need.fits:
        return
    raise UserError(
        f"this plan needs about {_mb(need.growth)} more in Redis, which has "
        f"{_mb(need.used)} used of maxmemory {_mb(need.maxmemory)}: later batches would "
        "fail with OOM after earlier ones were written. Raise maxmemory (or free memory) "
        "and apply again"
    )

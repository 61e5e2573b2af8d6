"""Claim due runs in Redis, fenced by the leader lock: one script call per batch.

A claim is what makes a run ours to send: it advances the entry's ``meta``
(``last_run_at`` = the slot the run is for, ``total_run_count + 1``) and its score,
and it happens BEFORE the task is sent.  The script checks, atomically:

1. the leader lock still holds our token (fencing: a beat that stalled past its
   lock - SIGSTOP, a long GC pause, a partition - claims nothing once another beat
   took over, so it can never send a run the new leader already claimed);
2. per entry, that ``meta`` is byte-for-byte what we read (compare-and-set: two
   claimers, or a beat and a ``reschedule()``, cannot both win the same run);
3. per entry, that ``definition``/extra still have the digest we decided on (an
   apply that changed the schedule meanwhile wins; we re-read it next tick instead
   of writing a score computed from the old schedule).

The same call also parks entries that need no run (disabled, exhausted) and moves
early scores to the true due time, so those writes are fenced and CAS'd as well.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import redis

from ..state.layout import DEFINITION_FIELD, EXTRA_FIELD, META_FIELD, Layout

CLAIM_SCRIPT = """
-- KEYS[1] schedule zset, KEYS[2] lock key (unused when ARGV[1] == ''), KEYS[3..] entries
-- ARGV[1] our lock token ('' = lock disabled), ARGV[2..4] fields: definition, meta, extra
-- then 4 values per entry: digest of definition.."\\0"..extra, meta as read ('' = none),
-- new meta ('' = leave meta alone), new score
-- Returns -1 if the lock is not ours, else a list of 1 (claimed) / 0 (changed meanwhile).
if ARGV[1] ~= '' and redis.call('GET', KEYS[2]) ~= ARGV[1] then
  return -1
end
local F_DEF, F_META, F_EXTRA = ARGV[2], ARGV[3], ARGV[4]
local out = {}
for i = 3, #KEYS do
  local key = KEYS[i]
  local base = 4 + (i - 3) * 4
  local got = redis.call('HMGET', key, F_DEF, F_META, F_EXTRA)
  local ok = 0
  if got[1] and redis.sha1hex(got[1] .. '\\0' .. (got[3] or '')) == ARGV[base + 1]
      and (got[2] or '') == ARGV[base + 2] then
    if ARGV[base + 3] ~= '' then
      redis.call('HSET', key, F_META, ARGV[base + 3])
    end
    redis.call('ZADD', KEYS[1], ARGV[base + 4], key)
    ok = 1
  end
  out[#out + 1] = ok
end
return out
"""


class LockLost(Exception):
    """The claim script found the leader lock not ours: nothing was claimed."""


@dataclass(frozen=True)
class Claim:
    key: str
    digest: str  # model.field_digest(definition, extra) as read
    meta_seen: str  # raw meta as read ("" when absent)
    new_meta: str  # "" = do not touch meta (only move the score)
    score: int


class Claimer:
    def __init__(self, client: redis.Redis, layout: Layout, lock_key: str | None) -> None:
        self.layout = layout
        self.lock_key = lock_key
        self._script = client.register_script(CLAIM_SCRIPT)

    def claim(self, claims: Sequence[Claim], token: str | None) -> list[bool]:
        """Apply ``claims`` in one call; True where the entry was claimed/moved.

        ``token`` None means the lock is disabled (``redbeat_lock_key = None``).
        Raises ``LockLost`` when a lock is configured and not ours.
        """
        if not claims:
            return []
        if self.lock_key and not token:
            raise LockLost("no lock token")
        keys = [self.layout.schedule_key, self.lock_key or self.layout.schedule_key]
        args: list[str | int] = [
            token or "" if self.lock_key else "",
            DEFINITION_FIELD,
            META_FIELD,
            EXTRA_FIELD,
        ]
        for claim in claims:
            keys.append(claim.key)
            args.extend((claim.digest, claim.meta_seen, claim.new_meta, claim.score))
        result = self._script(keys=keys, args=args)
        if result == -1:
            raise LockLost("the leader lock is held by another beat")
        return [bool(x) for x in result]


__all__ = ["CLAIM_SCRIPT", "Claim", "Claimer", "LockLost"]

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

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass

import redis

from ..state.layout import DEFINITION_FIELD, EXTRA_FIELD, META_FIELD, Layout
from ..state.pause import paused_key
from ..state.runnow import requests_key

CLAIM_SCRIPT = """
-- KEYS[1] schedule zset, KEYS[2] lock key (unused when ARGV[1] == ''),
-- KEYS[3] pause overlay hash, KEYS[4] run-now request hash, KEYS[5..] entries
-- ARGV[1] our lock token ('' = lock disabled), ARGV[2..4] fields: definition, meta, extra
-- ARGV[5] one record per entry key, records separated by \\30, fields by \\31:
--   digest = sha1(definition .. "\\0" .. extra), sha1 of meta as read ('' if none),
--   new meta ('' = leave meta alone), new score, sha1 of the pause overlay value as
--   read, sha1 of the run-now request as read (both sha1('') when none), the
--   run-now request's new value ('' = leave it; else it as taken by us: see
--   state/runnow.py), and one flag character per extra write: [1] '1' = delete the
--   request (dropped unsent, or claimed with no lock), [2] '1' = drop the pause
--   overlay value (a resume marker beat has now acted on).
--   (All are hex, digits or JSON from json.dumps, so neither separator occurs
--   in them; one joined argument costs the client far less than thousands of
--   arguments or a JSON document full of escaped JSON.)
-- ARGV[6] length of the key prefix (entry name = key without it)
-- Returns -1 if the lock is not ours, else a string of '1' (claimed) / '0' (changed
-- meanwhile), one character per entry (cheaper to parse than a list).
if ARGV[1] ~= '' and redis.call('GET', KEYS[2]) ~= ARGV[1] then
  return -1
end
local F_DEF, F_META, F_EXTRA = ARGV[2], ARGV[3], ARGV[4]
local payload = ARGV[5]
local cut = tonumber(ARGV[6]) + 1
local pos = 1
local out = {}
for i = 5, #KEYS do
  local key = KEYS[i]
  local name = string.sub(key, cut)
  local stop = string.find(payload, '\\30', pos, true) or (#payload + 1)
  local record = string.sub(payload, pos, stop - 1)
  pos = stop + 1
  local f = {}
  local at = 1
  for _ = 1, 7 do
    local sep = string.find(record, '\\31', at, true)
    f[#f + 1] = string.sub(record, at, sep - 1)
    at = sep + 1
  end
  local flags = string.sub(record, at)
  local got = redis.call('HMGET', key, F_DEF, F_META, F_EXTRA)
  local ok = '0'
  if got[1] and redis.sha1hex(got[1] .. '\\0' .. (got[3] or '')) == f[1]
      and redis.sha1hex(got[2] or '') == f[2]
      and redis.sha1hex(redis.call('HGET', KEYS[3], name) or '') == f[5]
      and redis.sha1hex(redis.call('HGET', KEYS[4], name) or '') == f[6] then
    if f[3] ~= '' then
      redis.call('HSET', key, F_META, f[3])
    end
    redis.call('ZADD', KEYS[1], f[4], key)
    if string.sub(flags, 1, 1) == '1' then
      redis.call('HDEL', KEYS[4], name)
    elseif f[7] ~= '' then
      redis.call('HSET', KEYS[4], name, f[7])
    end
    if string.sub(flags, 2, 2) == '1' then
      redis.call('HDEL', KEYS[3], name)
    end
    ok = '1'
  end
  out[#out + 1] = ok
end
return table.concat(out)
"""

#: Loads many entries in one call as one JSON string (one reply to parse, in C,
#: instead of thousands for redis-py's pure-Python parser), 6 values per key: the digest of
#: definition+extra (computed here, like model.field_digest), meta, and definition and
#: extra - those two only when the digest differs from the one the caller already
#: knows (ARGV[4 + i]), so a beat that has decoded an entry before gets 80 bytes back
#: instead of the whole definition - then the entry's pause overlay value and run-now
#: request ('' when none).  A missing entry has digest ''.
#: KEYS[1] pause overlay hash, KEYS[2] run-now request hash, KEYS[3..] entries;
#: ARGV[1..3] fields, ARGV[4] length of the key prefix.
LOAD_SCRIPT = """
local out = {}
local cut = tonumber(ARGV[4]) + 1
for i = 3, #KEYS do
  local v = redis.call('HMGET', KEYS[i], ARGV[1], ARGV[2], ARGV[3])
  if not v[1] then
    for _ = 1, 6 do out[#out + 1] = '' end
  else
    local name = string.sub(KEYS[i], cut)
    local digest = redis.sha1hex(v[1] .. '\\0' .. (v[3] or ''))
    out[#out + 1] = digest
    out[#out + 1] = v[2] or ''
    if digest == ARGV[2 + i] then
      out[#out + 1] = ''
      out[#out + 1] = ''
    else
      out[#out + 1] = v[1]
      out[#out + 1] = v[3] or ''
    end
    out[#out + 1] = redis.call('HGET', KEYS[1], name) or ''
    out[#out + 1] = redis.call('HGET', KEYS[2], name) or ''
  end
end
return cjson.encode(out)
"""


#: Undoes claims whose runs were not sent (``Claimer.hand_back``).  Not fenced by
#: the lock (the caller has lost it): fenced by each claim, restored only where the
#: entry still holds exactly the definition and the meta that claim wrote, so it
#: never undoes a run another beat made since.
HAND_BACK_SCRIPT = """
-- KEYS[1] schedule zset, KEYS[2..] entries; ARGV[1..3] fields: definition, meta, extra
-- ARGV[4 + 4*(i-1) ..]: per entry: digest, sha1 of the meta our claim wrote, the
--   meta before the claim ('' = there was none), the score before the claim.
-- Returns a string of '1' (restored) / '0' (changed since), one per entry.
local F_DEF, F_META, F_EXTRA = ARGV[1], ARGV[2], ARGV[3]
local out = {}
for i = 2, #KEYS do
  local key = KEYS[i]
  local base = 4 + 4 * (i - 2)
  local got = redis.call('HMGET', key, F_DEF, F_META, F_EXTRA)
  local ok = '0'
  if got[1] and got[2] and redis.sha1hex(got[1] .. '\\0' .. (got[3] or '')) == ARGV[base]
      and redis.sha1hex(got[2]) == ARGV[base + 1] then
    if ARGV[base + 2] == '' then
      redis.call('HDEL', key, F_META)
    else
      redis.call('HSET', key, F_META, ARGV[base + 2])
    end
    redis.call('ZADD', KEYS[1], ARGV[base + 3], key)
    ok = '1'
  end
  out[#out + 1] = ok
end
return table.concat(out)
"""


def _sha1(text: str) -> str:
    return hashlib.sha1(text.encode()).hexdigest()


class LockLost(Exception):
    """The claim script found the leader lock not ours: nothing was claimed."""


@dataclass(slots=True)
class Claim:
    key: str
    digest: str  # model.field_digest(definition, extra) as read
    meta_seen: str  # raw meta as read ("" when absent)
    new_meta: str  # "" = do not touch meta (only move the score)
    score: int
    pause_seen: str = ""  # the pause overlay value as read ("" when none)
    request_seen: str = ""  # the run-now request as read ("" when none)
    # the request as taken by us ("" = leave it): its run is ours to send
    take_request: str = ""
    consume_request: bool = False  # delete the request (dropped, or taken with no lock)
    drop_pause: bool = False  # delete the overlay value (a resume marker acted on)


class Claimer:
    def __init__(self, client: redis.Redis, layout: Layout, lock_key: str | None) -> None:
        self.layout = layout
        self.lock_key = lock_key
        self._script = client.register_script(CLAIM_SCRIPT)
        self._load = client.register_script(LOAD_SCRIPT)
        self._hand_back = client.register_script(HAND_BACK_SCRIPT)

    def load(
        self, keys: Sequence[str], known: Sequence[str]
    ) -> list[tuple[str, str | None, str | None, str | None, str, str]]:
        """``(digest, meta, definition, extra, pause, request)`` per key, in one call.

        ``known``: per key, the digest the caller has decoded already ("" if none);
        definition and extra are None when it matches (or the entry is missing:
        digest "").
        """
        if not keys:
            return []
        fields: list[str | int] = [
            DEFINITION_FIELD,
            META_FIELD,
            EXTRA_FIELD,
            len(self.layout.prefix),
        ]
        overlay = [paused_key(self.layout), requests_key(self.layout)]
        flat = json.loads(self._load(keys=[*overlay, *keys], args=[*fields, *known]))
        return [
            (flat[i], flat[i + 1] or None, flat[i + 2] or None, flat[i + 3] or None,
             flat[i + 4], flat[i + 5])
            for i in range(0, len(flat), 6)
        ]  # fmt: skip

    def claim(self, claims: Sequence[Claim], token: str | None) -> list[bool]:
        """Apply ``claims`` in one call; True where the entry was claimed/moved.

        ``token`` None means the lock is disabled (``redbeat_lock_key = None``).
        Raises ``LockLost`` when a lock is configured and not ours.
        """
        if not claims:
            return []
        if self.lock_key and not token:
            raise LockLost("no lock token")
        keys = [
            self.layout.schedule_key, self.lock_key or self.layout.schedule_key,
            paused_key(self.layout), requests_key(self.layout),
        ]  # fmt: skip
        keys.extend(claim.key for claim in claims)
        payload = "\x1e".join(
            f"{c.digest}\x1f{_sha1(c.meta_seen)}\x1f{c.new_meta}\x1f{c.score}"
            f"\x1f{_sha1(c.pause_seen)}\x1f{_sha1(c.request_seen)}\x1f{c.take_request}"
            f"\x1f{int(c.consume_request)}{int(c.drop_pause)}"
            for c in claims
        )
        args = [(token or "") if self.lock_key else "", DEFINITION_FIELD, META_FIELD, EXTRA_FIELD]
        result = self._script(keys=keys, args=[*args, payload, len(self.layout.prefix)])
        if result == -1:
            raise LockLost("the leader lock is held by another beat")
        if isinstance(result, bytes):
            result = result.decode()
        return [flag == "1" for flag in result]

    def hand_back(self, claimed: Sequence[tuple[Claim, float]]) -> list[bool]:
        """Undo ``(claim, score before it)`` pairs where the claim is still what Redis
        holds; True where restored.  Needs no lock (see ``HAND_BACK_SCRIPT``)."""
        if not claimed:
            return []
        keys = [self.layout.schedule_key, *(claim.key for claim, _ in claimed)]
        args: list[str | float] = [DEFINITION_FIELD, META_FIELD, EXTRA_FIELD]
        for claim, score in claimed:
            args.extend((claim.digest, _sha1(claim.new_meta), claim.meta_seen, score))
        result = self._hand_back(keys=keys, args=args)
        if isinstance(result, bytes):
            result = result.decode()
        return [flag == "1" for flag in result]


__all__ = ["CLAIM_SCRIPT", "HAND_BACK_SCRIPT", "LOAD_SCRIPT", "Claim", "Claimer", "LockLost"]

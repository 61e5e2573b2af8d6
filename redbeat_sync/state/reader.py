"""Read what Redis holds: every entry (RedBeat's and ours) plus our inventory.

Entry names are the members of RedBeat's schedule sorted set (keys ``prefix+name``)
together with the names in our inventory set.  Their hash fields are fetched with
pipelined HMGETs in chunks of 2000, so 100k entries cost ~50 round trips, not 100k
(an opt-in Lua path trades Redis CPU for client CPU, see ``_Rows``).
An entry that cannot be decoded comes back with ``entry=None`` and an ``error``:
reading never fails because of one bad entry.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from typing import Any

import redis

from ..bulk import gc_paused, with_gc_paused
from ..errors import UserError
from ..schedule.entry import RunState
from ..schedule.vocabulary import DEFAULT_TIMEZONE
from .layout import DEFINITION_FIELD, EXTRA_FIELD, META_FIELD, Layout
from .stored import State, StoredEntry

#: Names per pipeline round trip: big enough to amortise latency, small enough to
#: keep one reply (three fields each) to a few MB.
CHUNK_SIZE = 2000
#: Keys per Lua call on the opt-in script path (~6 ms of Redis time each).
SCRIPT_KEYS = 500
_FIELDS = (DEFINITION_FIELD, META_FIELD, EXTRA_FIELD)


def _chunks(items: Sequence[str], size: int) -> Iterable[Sequence[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _not_an_entry(
    layout: Layout, name: str, error: Exception, score: float | None, managed: bool
) -> StoredEntry:
    """A key under the prefix that is not a hash (e.g. WRONGTYPE): reported, not fatal."""
    return StoredEntry.decoded(
        name=name,
        key=layout.entry_key(name),
        entry=None,
        run=RunState(),
        managed=managed,
        marked=False,
        score=score,
        definition_raw=None,
        extra_raw=None,
        error=f"key is not a RedBeat entry hash: {error}",
    )


_READ_SCRIPT = """
-- Fields of every entry hash in KEYS as ONE JSON reply: the client then parses one
-- string (in C) instead of four RESP replies per entry (in Python).  A key of the
-- wrong type gives its error text in place of its fields.  ARGV: the three fields.
local out = {}
for i, key in ipairs(KEYS) do
  local fields = redis.pcall('HMGET', key, ARGV[1], ARGV[2], ARGV[3])
  if type(fields) == 'table' and fields.err then
    out[i] = fields.err
  else
    for j = 1, 3 do
      if not fields[j] then fields[j] = cjson.null end
    end
    out[i] = fields
  end
end
return cjson.encode(out)
"""


def _read_index(client: redis.Redis, layout: Layout) -> tuple[list[Any], list[str]]:
    """Schedule members with their scores, and the inventory names."""
    try:
        with client.pipeline(transaction=False) as pipe:
            pipe.zrange(layout.schedule_key, 0, -1, withscores=True)
            pipe.smembers(layout.inventory_key)
            members, inventory_names = pipe.execute()
    except redis.ResponseError as exc:  # e.g. WRONGTYPE: the prefix holds something else
        raise UserError(f"cannot read the schedule under prefix {layout.prefix!r}: {exc}") from None
    return members, list(inventory_names)


class _Rows:
    """Fetches entry fields chunk by chunk.

    Default: pipelined HMGETs (cheap for Redis: ~2 us per entry).  ``use_script``:
    one read-only Lua call per chunk returning a single JSON string, which cuts the
    client's parsing ~3x (1.3 s -> 0.5 s of CPU per 100k entries) but costs Redis
    ~6x more CPU (cjson) and blocks it ~6 ms per 500 keys: a trade for a dedicated
    Redis, not for one shared with a busy broker.  Falls back to pipelines when the
    server refuses scripts (ACL, disabled, keys in several cluster slots).
    """

    def __init__(self, client: redis.Redis, layout: Layout, use_script: bool) -> None:
        self.client = client
        self.layout = layout
        self.script = client.register_script(_READ_SCRIPT) if use_script else None

    def fields(self, chunk: Sequence[str]) -> list[Any]:
        """Per name: [definition, meta, extra] or an Exception (e.g. WRONGTYPE)."""
        keys = [self.layout.entry_key(name) for name in chunk]
        if self.script is not None:
            try:
                rows = []
                for part in _chunks(keys, SCRIPT_KEYS):  # bounded time inside Redis
                    rows.extend(json.loads(self.script(keys=part, args=_FIELDS)))
            except (redis.ConnectionError, redis.TimeoutError):
                raise
            except (redis.RedisError, ValueError):
                # scripting disabled or denied, keys in several cluster slots...
                self.script = None
            else:
                return [redis.ResponseError(row) if isinstance(row, str) else row for row in rows]
        with self.client.pipeline(transaction=False) as pipe:
            for key in keys:
                pipe.execute_command("HMGET", key, *_FIELDS)
            # One key of the wrong type must not hide every other entry.
            return pipe.execute(raise_on_error=False)

    def scores_and_membership(self, chunk: Sequence[str]) -> tuple[list[Any], list[bool]]:
        with self.client.pipeline(transaction=False) as pipe:
            for name in chunk:
                pipe.zscore(self.layout.schedule_key, self.layout.entry_key(name))
            for name in chunk:
                pipe.sismember(self.layout.inventory_key, name)
            replies = pipe.execute(raise_on_error=False)
        for reply in replies:
            if isinstance(reply, Exception):  # the schedule or inventory key itself
                raise UserError(f"cannot read {self.layout.prefix!r} schedule: {reply}")
        n = len(chunk)
        return replies[:n], [bool(r) for r in replies[n:]]


@with_gc_paused  # ~20 acyclic containers per entry: see bulk.py
def _fetch(
    client: redis.Redis,
    layout: Layout,
    names: Sequence[str],
    scores: dict[str, float] | None,
    inventory: frozenset[str] | None,
    beat_timezone: str,
    chunk_size: int,
    use_script: bool = False,
) -> dict[str, StoredEntry]:
    """Fetch ``names`` in chunks; scores/inventory membership are looked up when None."""
    found: dict[str, StoredEntry] = {}
    rows = _Rows(client, layout, use_script)
    for chunk in _chunks(names, chunk_size):
        all_fields = rows.fields(chunk)
        if scores is None or inventory is None:
            chunk_scores, chunk_managed = rows.scores_and_membership(chunk)
        for i, name in enumerate(chunk):
            fields = all_fields[i]
            score = chunk_scores[i] if scores is None else scores.get(name)
            managed = chunk_managed[i] if inventory is None else name in inventory
            if isinstance(fields, Exception):
                found[name] = _not_an_entry(layout, name, fields, score, managed)
                continue
            if fields[0] is None:  # hash (or its definition) gone: RedBeat skips it too
                continue
            definition_raw, meta_raw, extra_raw = fields
            found[name] = StoredEntry(  # decoded on first use (see StoredEntry)
                name=name,
                key=layout.entry_key(name),
                managed=managed,
                score=score,
                definition_raw=definition_raw,
                meta_raw=meta_raw,
                extra_raw=extra_raw,
                beat_timezone=beat_timezone,
            )
    return found


def read_entries(
    client: redis.Redis,
    layout: Layout,
    names: Iterable[str],
    *,
    beat_timezone: str = DEFAULT_TIMEZONE,
    chunk_size: int = CHUNK_SIZE,
    use_script: bool = False,
) -> dict[str, StoredEntry]:
    """The named entries that exist (missing names are simply absent): what pause, run
    and runs read of the entries they name, without reading the whole state."""
    wanted = sorted(set(names))
    return _fetch(client, layout, wanted, None, None, beat_timezone, chunk_size, use_script)


def fingerprint(layout: Layout, entries: dict[str, StoredEntry], inventory: frozenset[str]) -> str:
    """Digest of every entry's defining fields plus the inventory (and the prefix)."""
    h = hashlib.sha256()
    h.update(b"prefix\x00" + layout.prefix.encode() + b"\x00")
    for name in sorted(entries):
        digest = entries[name].digest
        h.update(b"entry\x00" + name.encode() + b"\x00" + digest.encode() + b"\x00")
    for name in sorted(inventory):
        h.update(b"managed\x00" + name.encode() + b"\x00")
    return h.hexdigest()


def read_state(
    client: redis.Redis,
    layout: Layout,
    *,
    beat_timezone: str = DEFAULT_TIMEZONE,
    chunk_size: int = CHUNK_SIZE,
    use_script: bool = False,
) -> State:
    """Every entry under ``layout``'s prefix, our inventory and the state fingerprint.

    ``use_script=True`` trades Redis CPU for client CPU (see ``_Rows``).
    """
    with gc_paused():
        members, inventory_names = _read_index(client, layout)
    prefix = layout.prefix
    scores = {
        member[len(prefix) :]: score
        for member, score in members
        if member.startswith(prefix) and len(member) > len(prefix)
    }
    inventory = frozenset(inventory_names)
    names = sorted(scores.keys() | inventory)
    entries = _fetch(
        client, layout, names, scores, inventory, beat_timezone, chunk_size, use_script
    )
    return State(
        entries=entries, inventory=inventory, fingerprint=fingerprint(layout, entries, inventory)
    )

"""Read what Redis holds: every entry (RedBeat's and ours) plus our inventory.

Entry names are the members of RedBeat's schedule sorted set (keys ``prefix+name``)
together with the names in our inventory set.  Their hash fields are fetched with
pipelined HMGETs in chunks of 2000, so 100k entries cost ~50 round trips, not 100k
(an opt-in Lua path trades Redis CPU for client CPU, see ``_Rows``).
An entry that cannot be decoded comes back with ``entry=None`` and an ``error``:
reading never fails because of one bad entry.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Iterable, Sequence
from typing import Any

import redis

from ..bulk import gc_paused, with_gc_paused
from ..errors import UserError
from ..schedule.entry import Entry, RunState, scheduler_only_features
from ..schedule.vocabulary import DEFAULT_TIMEZONE
from .codec import DecodeError, decode_entry, decode_extra, decode_meta
from .layout import DEFINITION_FIELD, EXTRA_FIELD, META_FIELD, Layout
from .stored import State, StoredEntry, field_digest

#: Names per pipeline round trip: big enough to amortise latency, small enough to
#: keep one reply (three fields each) to a few MB.
CHUNK_SIZE = 2000
#: Keys per Lua call on the opt-in script path (~6 ms of Redis time each).
SCRIPT_KEYS = 500
_FIELDS = (DEFINITION_FIELD, META_FIELD, EXTRA_FIELD)


def _chunks(items: Sequence[str], size: int) -> Iterable[Sequence[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _is_marked(extra_raw: str | None) -> bool:
    try:
        extra = decode_extra(extra_raw)
    except DecodeError:
        return extra_raw is not None
    return extra is not None and extra.get("managed") is True


class LazyStoredEntry(StoredEntry):
    """A ``StoredEntry`` that decodes its fields on first use.

    Reading 100k entries used to decode every definition and meta; a plan of an
    unchanged deployment needs none of them (``plan.compare`` checks the raw text
    against what it would write), so ``entry``, ``run``, ``marked``, ``error`` and
    ``requires_scheduler`` are decoded only when read, and only the raw strings are
    kept until then.  The values are the ones an eager decode gives (tests/reader_oracles.py).
    """

    def __init__(
        self,
        *,
        name: str,
        prefix: str,
        managed: bool,
        score: float | None,
        definition_raw: str,
        meta_raw: str | None,
        extra_raw: str | None,
        beat_timezone: str,
    ) -> None:
        # Frozen dataclass parent: set the instance fields directly.
        values = self.__dict__
        values["name"] = name
        values["managed"] = managed
        values["score"] = score
        values["definition_raw"] = definition_raw
        values["extra_raw"] = extra_raw
        values["_prefix"] = prefix
        values["_meta_raw"] = meta_raw
        values["_beat_timezone"] = beat_timezone

    @functools.cached_property
    def key(self) -> str:
        prefix: str = self.__dict__["_prefix"]
        return prefix + self.name

    @functools.cached_property
    def _decoded(self) -> tuple[Entry | None, bool, str | None, tuple[str, ...]]:
        """(entry, marked, decode error, requires_scheduler)."""
        extra_raw = self.extra_raw
        beat_timezone = self.__dict__["_beat_timezone"]
        try:
            entry, marked = decode_entry(
                self.name, self.definition_raw or "", extra_raw, beat_timezone=beat_timezone
            )
        except DecodeError as exc:
            return None, _is_marked(extra_raw), str(exc), ()
        return entry, marked, None, tuple(scheduler_only_features(entry, beat_timezone))

    @functools.cached_property
    def _meta(self) -> tuple[RunState, str | None]:
        try:
            return decode_meta(self.__dict__["_meta_raw"]), None
        except DecodeError as exc:
            return decode_meta(None), f"meta: {exc}"

    @property
    def entry(self) -> Entry | None:
        return self._decoded[0]

    @property
    def marked(self) -> bool:
        return self._decoded[1]

    @property
    def requires_scheduler(self) -> tuple[str, ...]:
        return self._decoded[3]

    @property
    def run(self) -> RunState:
        return self._meta[0]

    @property
    def error(self) -> str | None:
        entry, _marked, error, _requires = self._decoded
        return error if entry is None else self._meta[1]


def _not_an_entry(
    layout: Layout, name: str, error: Exception, score: float | None, managed: bool
) -> StoredEntry:
    """A key under the prefix that is not a hash (e.g. WRONGTYPE): reported, not fatal."""
    return StoredEntry(
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
            found[name] = LazyStoredEntry(
                name=name,
                prefix=layout.prefix,
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
    return _fingerprint(layout, {name: e.digest for name, e in entries.items()}, inventory)


def _fingerprint(layout: Layout, digests: dict[str, str], inventory: Iterable[str]) -> str:
    h = hashlib.sha256()
    h.update(b"prefix\x00" + layout.prefix.encode() + b"\x00")
    for name in sorted(digests):
        h.update(b"entry\x00" + name.encode() + b"\x00" + digests[name].encode() + b"\x00")
    for name in sorted(inventory):
        h.update(b"managed\x00" + name.encode() + b"\x00")
    return h.hexdigest()


def read_fingerprint_and_inventory(
    client: redis.Redis, layout: Layout, *, chunk_size: int = CHUNK_SIZE
) -> tuple[str, frozenset[str]]:
    """The state fingerprint and the inventory, from the raw definition and extra
    fields only: no meta, no scores, no JSON decoding (a tenth of ``read_state``)."""
    with gc_paused():
        try:
            with client.pipeline(transaction=False) as pipe:
                pipe.zrange(layout.schedule_key, 0, -1)
                pipe.smembers(layout.inventory_key)
                members, inventory_names = pipe.execute()
        except redis.ResponseError as exc:
            raise UserError(
                f"cannot read the schedule under prefix {layout.prefix!r}: {exc}"
            ) from None
        prefix = layout.prefix
        inventory = frozenset(inventory_names)
        scheduled = {
            m[len(prefix) :] for m in members if m.startswith(prefix) and len(m) > len(prefix)
        }
        names = sorted(scheduled | inventory)
        digests: dict[str, str] = {}
        fields = (DEFINITION_FIELD, EXTRA_FIELD)
        for chunk in _chunks(names, chunk_size):
            with client.pipeline(transaction=False) as pipe:
                for name in chunk:
                    pipe.execute_command("HMGET", layout.entry_key(name), *fields)
                replies = pipe.execute(raise_on_error=False)
            for name, reply in zip(chunk, replies, strict=True):
                # As read_state: a key of another type counts with empty fields, a
                # hash without a definition does not count.
                if isinstance(reply, Exception):
                    digests[name] = field_digest(None, None)
                elif reply[0] is not None:
                    digests[name] = field_digest(reply[0], reply[1])
        return _fingerprint(layout, digests, inventory), inventory


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

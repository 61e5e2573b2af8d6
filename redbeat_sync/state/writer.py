"""Write planned operations to Redis: atomic per batch, guarded, fast.

Each batch of operations is ONE call of ``lua/apply.lua``: the script first checks
every operation's guard (the entry still has the digest the plan saw, or a new
entry's key still does not exist) and writes nothing unless all of them hold.  One
round trip per batch instead of one per entry is what makes 100k entries take
seconds instead of minutes.

What is written, and why:

- ``Put`` writes ``definition`` (unless adopting as-is) and our extra field, adds the
  name to the inventory and, for a create only, the run history with HSETNX: beat may
  be writing ``meta`` at the same time and an apply must never reset
  ``last_run_at``/``total_run_count``.
- Scores are computed here, never late: a late score delays a run, an early one only
  makes beat look at the entry early.  A create's score comes from ``now`` (the
  ``last_run_at`` its new ``meta`` says); a reschedule's from the ``last_run_at`` the
  plan read, which is at most as recent as what Redis holds now, so the score can only
  be earlier than the true next due time.
- ``Remove`` deletes the hash, the schedule member, the inventory name and the
  entry's run history (``runs NAME`` then says there is no such entry).
- ``Release`` drops the inventory name and our extra field (or only its marker, see
  ``model.Release.keep_extra``), keeping definition and run history so the entry
  runs on untouched.
- ``Move`` is two script ops on two keys, always in one batch: ``moveout`` deletes
  the old entry and carries its ``meta`` to the ``put`` of the new name right after,
  and renames the old name's run history to the new name's in the same script.

- A ``Put`` that is not a reschedule keeps beat's score, adding one only when the
  entry has no schedule member at all (``ZADD NX``).

Known limit: a celery-redbeat beat that loaded an entry just before a reschedule and
dispatches it just after writes a score from the OLD schedule, which may be late for
the new one; redbeat_sync.Scheduler re-reads on the change notification instead.

- Every ``Put`` also takes the name out of RedBeat's ``:statics`` set: celery-redbeat's
  beat deletes a name of that set that has left ``beat_schedule`` at its next start,
  which would delete an entry imported from ``beat_schedule`` and now managed here.

Redis Cluster: every key a batch touches (entry hashes, schedule, inventory, statics) is passed
to the script in KEYS, so with a hash-tagged prefix (``{redbeat}:``) a batch routes to
one slot.  The notification channel is not a key.

Re-running plan + apply after a failure converges: the next plan is made from what
actually landed, and every operation's effect is the same however often it is
applied.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import secrets
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, fields
from datetime import datetime, timezone
from functools import lru_cache
from importlib import resources
from operator import attrgetter
from typing import Any

import redis
from redis.exceptions import RedisClusterException

from ..errors import UserError
from ..schedule import timing
from ..schedule.entry import Cron, Entry, RunState
from ..schedule.vocabulary import DEFAULT_TIMEZONE
from . import layout as layout_module
from .codec import EncodedEntry, EntryEncoder, encode_meta
from .layout import Layout
from .stored import Move, Put, Release, Remove, WriteOp
from .topology import check_cluster_prefix

DEFAULT_BATCH_SIZE = 10_000
#: Up to this many changed names are listed in the change notification.
NOTIFY_NAMES_MAX = 50


@dataclass(frozen=True)
class WriteReport:
    created: int = 0
    updated: int = 0
    deleted: int = 0
    released: int = 0
    batches: int = 0
    moved: int = 0

    def __add__(self, other: WriteReport) -> WriteReport:
        return WriteReport(
            self.created + other.created,
            self.updated + other.updated,
            self.deleted + other.deleted,
            self.released + other.released,
            self.batches + other.batches,
            self.moved + other.moved,
        )


class StateChanged(UserError):
    """Entries changed in Redis since the plan was made; nothing of the batch written."""

    def __init__(self, names: Sequence[str]) -> None:
        self.names = list(names)
        super().__init__(
            f"{len(self.names)} entr{'y' if len(self.names) == 1 else 'ies'} changed in Redis "
            f"since the plan was made ({_listed(self.names)}); nothing was written. "
            "Run plan again and review the new plan."
        )


def _listed(names: Sequence[str], limit: int = 10) -> str:
    more = f" and {len(names) - limit} more" if len(names) > limit else ""
    return ", ".join(names[:limit]) + more


class PartialApply(UserError):
    """A batch after the first failed: the earlier batches stay written."""

    def __init__(
        self,
        *,
        applied_batches: int,
        total_batches: int,
        applied_ops: int,
        total_ops: int,
        report: WriteReport,
        cause: str,
        names: Sequence[str] = (),
    ) -> None:
        self.applied_batches = applied_batches
        self.total_batches = total_batches
        self.applied_ops = applied_ops
        self.total_ops = total_ops
        self.report = report
        self.cause = cause
        self.names = list(names)
        super().__init__(
            f"apply stopped part-way: {applied_batches} of {total_batches} batches "
            f"({applied_ops} of {total_ops} operations) were written, batch "
            f"{applied_batches + 1} failed: {cause}. "
            "Run plan and apply again to finish: what landed is kept and not redone."
        )


# --------------------------------------------------------------------------- script


@lru_cache(maxsize=1)
def _script_source() -> str:
    return resources.files(__package__).joinpath("lua/apply.lua").read_text(encoding="utf-8")


def _script(client: redis.Redis) -> Any:
    # register_script: EVALSHA, loading the script once per server on NOSCRIPT.
    return client.register_script(_script_source())


# --------------------------------------------------------------------------- encoding

# Entry fields that cannot change when an entry fires; everything else might.
_NOT_TIMING = frozenset({"name", "task", "args", "kwargs", "options", "description", "labels"})
_timing_view = attrgetter(*(f.name for f in fields(Entry) if f.name not in _NOT_TIMING))


class _ScoreCache:
    """``timing.score(timing.next_due(...))`` memoised on what timing can depend on.

    Thousands of entries usually share a handful of schedules, and cron/rrule
    evaluation is the slowest part of encoding a large batch.
    """

    def __init__(self, now: datetime) -> None:
        self.now = now
        self._cache: dict[tuple[Any, ...], int] = {}

    def score(self, entry: Entry, last_run_at: datetime | None) -> int:
        if last_run_at is not None and isinstance(entry.schedule, Cron):
            # Cron fires on whole minutes, so "next fire strictly after t" is the same
            # for every t within one minute: entries sharing a cron line that last ran
            # in the same minute (the usual case) share one evaluation.
            last_run_at = last_run_at.replace(second=0, microsecond=0)
        key = (_timing_view(entry), last_run_at)
        try:
            return self._cache[key]
        except KeyError:
            pass
        except TypeError:  # an unhashable value: compute without caching
            return timing.score(timing.next_due(entry, last_run_at, self.now))
        value = timing.score(timing.next_due(entry, last_run_at, self.now))
        self._cache[key] = value
        return value


def _op_names(op: WriteOp) -> list[str]:
    """The entry names (one key each) an operation touches, in script-op order."""
    if isinstance(op, Put):
        return [op.entry.name]
    if isinstance(op, Move):
        return [op.old_name, op.entry.name]
    return [op.name]


def _history_names(op: WriteOp) -> list[str]:
    """The names whose run history an operation moves or deletes (see apply.lua)."""
    if isinstance(op, Move):
        return [op.old_name, op.entry.name]
    if isinstance(op, Remove):
        return [op.name]
    return []


class _Encoder:
    """Turns operations into the script's op arrays (see apply.lua)."""

    def __init__(self, *, entries: EntryEncoder, now: datetime) -> None:
        self.entries = entries
        self.now = now
        self.scores = _ScoreCache(now)
        # As RedBeat does on save: a new entry has "just run", so it waits for its
        # next fire time instead of firing at once.  The same text for every create.
        self.create_meta = encode_meta(RunState(last_run_at=now))

    def encode(self, entry: Entry) -> EncodedEntry:
        # Kept in the caller's encoder: apply's plan digest, made after the write, reuses it.
        return self.entries.encode(entry)

    def put(self, op: Put) -> list[str]:
        encoded = self.encode(op.entry)
        creating = op.expect_digest is None
        flags = ""
        definition = extra = meta = ""
        if op.rewrite_definition or creating:
            flags += "D"
            definition = encoded.definition
        if encoded.extra is not None:
            flags += "X"
            extra = encoded.extra
            ours = hashlib.sha1(encoded.definition.encode()).hexdigest()
            if not definition and ours in extra:
                # Adopting as-is: the extra field records the sha1 of the definition it
                # belongs to; the script swaps in the sha1 of the one kept in Redis.
                flags += "H"
                definition = ours
        else:
            flags += "x"
        if creating:
            flags += "MS"
            meta = self.create_meta
            score = self.scores.score(op.entry, self.now)
        else:
            # The last run the plan saw is never newer than the one in Redis now, so
            # a score from it is early or exact, never late.
            score = self.scores.score(op.entry, op.last_run_at_hint.last_run_at)
            # Not a reschedule: keep beat's score, but make sure the entry is in the
            # schedule at all (an adopted entry may have lost its member).
            flags += "S" if op.reschedule else "N"
        return [
            "put",
            op.entry.name,
            op.expect_digest or "",
            flags,
            definition,
            extra,
            meta,
            str(score),
        ]

    def move(self, op: Move) -> list[list[str]]:
        encoded = self.encode(op.entry)
        flags = "DC" + ("X" if encoded.extra is not None else "x") + "S"
        # The kept last_run_at decides the new due time, as for a reschedule.
        score = self.scores.score(op.entry, op.run.last_run_at)
        out = ["moveout", op.old_name, op.expect_old_digest, "", "", "", "", ""]
        put = ["put", op.entry.name, "", flags, encoded.definition, encoded.extra or ""]
        return [out, [*put, "", str(score)]]

    def ops(self, op: WriteOp) -> list[list[str]]:
        """The script ops of one operation (a move is two)."""
        if isinstance(op, Put):
            return [self.put(op)]
        if isinstance(op, Move):
            return self.move(op)
        if isinstance(op, Remove):
            return [["remove", op.name, op.expect_digest or "", "", "", "", "", ""]]
        if isinstance(op, Release):
            keep = op.keep_extra or ""
            return [["release", op.name, op.expect_digest or "", "", "", keep, "", ""]]
        raise TypeError(f"not a write operation: {op!r}")


def _tally(ops: Sequence[WriteOp]) -> WriteReport:
    created = updated = deleted = released = moved = 0
    for op in ops:
        if isinstance(op, Move):
            moved += 1
        elif isinstance(op, Put):
            if op.expect_digest is None:
                created += 1
            else:
                updated += 1
        elif isinstance(op, Remove):
            deleted += 1
        else:
            released += 1
    return WriteReport(created, updated, deleted, released, 1, moved)


# --------------------------------------------------------------------------- write


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def write(
    client: redis.Redis,
    layout: Layout,
    ops: Sequence[WriteOp],
    *,
    beat_timezone: str = DEFAULT_TIMEZONE,
    now: datetime | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    before_batch: Callable[[], None] | None = None,
    encoder: EntryEncoder | None = None,
) -> WriteReport:
    """Apply ``ops`` in batches of ``batch_size``, each batch atomically.

    Raises ``StateChanged`` if a guard of the first batch fails (nothing written),
    ``PartialApply`` if a later batch fails (earlier batches stay written).
    ``before_batch`` runs before each batch, e.g. ``SyncLock.refresh`` so a long apply
    keeps its lock; an exception from it stops the write there.  ``encoder`` (for
    ``beat_timezone``, managed) keeps the encodings for the caller to reuse.
    """
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    op_names = [_op_names(op) for op in ops]
    names = [name for per_op in op_names for name in per_op]
    dupes = sorted(n for n, count in Counter(names).items() if count > 1)
    if dupes:
        # Two ops on one key in one plan is a planner bug, and would defeat the guards.
        raise ValueError(f"more than one operation for: {', '.join(dupes)}")
    if not ops:
        return WriteReport()
    # One script call must touch one slot: say so plainly instead of CROSSSLOT.
    check_cluster_prefix(client, layout)
    now = now or datetime.now(timezone.utc)
    if now.tzinfo is None:
        now = now.replace(tzinfo=timezone.utc)

    if encoder is None:
        encoder = EntryEncoder(beat_timezone=beat_timezone)
    elif (encoder.beat_timezone, encoder.managed) != (beat_timezone, True):
        raise ValueError("the encoder must encode managed entries for the write's timezone")
    op_encoder = _Encoder(entries=encoder, now=now)

    def encode_batch(batch: slice) -> str:
        # One JSON argument for the whole batch (see apply.lua); raw UTF-8, which the
        # script's JSON decoder passes through byte for byte.
        ops_json = [script_op for op in ops[batch] for script_op in op_encoder.ops(op)]
        return json.dumps(ops_json, ensure_ascii=False, separators=(",", ":"))

    script = _script(client)
    # Marks each batch in Redis, so a batch the client re-sends after a lost reply
    # (redis-py's retry, retry_period) is recognised as landed instead of failing
    # its own guards (see apply.lua).
    write_id = secrets.token_hex(8)
    header = [layout_module.DEFINITION_FIELD, layout_module.META_FIELD, layout_module.EXTRA_FIELD]
    batches = [slice(start, start + batch_size) for start in range(0, len(ops), batch_size)]
    report = WriteReport()
    applied_ops = 0

    def partial(number: int, cause: str, changed: Sequence[str] = ()) -> PartialApply:
        # Wake beat for what did land; after a lost connection this may fail too.
        with contextlib.suppress(redis.RedisError):
            _notify(client, layout, [n for per_op in op_names[:applied_ops] for n in per_op])
        return PartialApply(
            applied_batches=number,
            total_batches=len(batches),
            applied_ops=applied_ops,
            total_ops=len(ops),
            report=report,
            cause=cause,
            names=changed,
        )

    # A worker thread encodes batch k+1 while Redis runs batch k (this thread waits on
    # the socket with the GIL released): encoding is most of the client's time.  The
    # first batch is fully encoded before anything is sent, so a write of one batch
    # still fails on a bad entry with nothing written.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="redbeat-sync-encode") as pool:
        pending = [pool.submit(encode_batch, batch) for batch in batches]
        try:
            for number, batch in enumerate(batches):
                if before_batch is not None:
                    try:
                        before_batch()
                    except (UserError, redis.RedisError) as exc:
                        # e.g. the lock refresh found Redis gone: earlier batches stay
                        # written, and the error must say so, not just "connection lost".
                        if number == 0:
                            raise
                        cause = (
                            str(exc)
                            if isinstance(exc, UserError)
                            else f"{type(exc).__name__}: {exc}"
                        )
                        raise partial(number, cause) from exc
                try:
                    payload = pending[number].result()
                except Exception as exc:
                    if number == 0:
                        raise
                    raise partial(number, f"could not encode an entry: {exc!r}") from exc
                keys = [layout.schedule_key, layout.inventory_key, layout.statics_key]
                keys.extend(layout.entry_key(n) for per_op in op_names[batch] for n in per_op)
                keys.extend(layout.runs_key(n) for op in ops[batch] for n in _history_names(op))
                keys.append(layout.applied_key)
                mark = f"{write_id}:{number}"
                try:
                    reply = script(keys=keys, args=[*header, payload, mark], client=client)
                except (redis.RedisError, RedisClusterException) as exc:
                    cause = f"{type(exc).__name__}: {exc}"
                    if number == 0:
                        # A lost connection loses the reply too: the batch may have landed.
                        raise UserError(
                            f"writing to Redis failed ({cause}); the first batch may or may "
                            "not have been written. Run plan again to see where things stand."
                        ) from exc
                    unsure = f"{cause} (that batch may or may not have been written)"
                    raise partial(number, unsure) from exc
                status, *rest = (_text(v) for v in reply)
                if status != "ok":
                    if number == 0:
                        raise StateChanged(rest)
                    raise partial(number, f"changed in Redis since the plan: {_listed(rest)}", rest)
                report = report + _tally(ops[batch])
                applied_ops += len(ops[batch])
        finally:
            for future in pending:  # after a failure: stop encoding what won't be sent
                future.cancel()

    # Best effort: everything landed; beat picks changes up on its own schedule anyway.
    with contextlib.suppress(redis.RedisError):
        _notify(client, layout, names)
    return report


def _notify(client: redis.Redis, layout: Layout, names: Sequence[str]) -> None:
    """Tell a running beat that entries changed, so it re-reads them now."""
    payload: dict[str, Any] = {"count": len(names)}
    if len(names) <= NOTIFY_NAMES_MAX:
        payload["names"] = list(names)
    # The channel is not a key: under Cluster PUBLISH reaches every node anyway.
    client.publish(layout.changes_channel, json.dumps(payload, separators=(",", ":")))


__all__ = ["PartialApply", "StateChanged", "WriteReport", "write"]

"""Moving one deployment's keys to another prefix (``redbeat-sync move-prefix``).

The way forward for RedBeat users on Redis Cluster: RedBeat's default prefix
``redbeat:`` spreads one deployment over many hash slots, which Cluster refuses for
the multi-key scripts and transactions beat and apply use (CROSSSLOT).  A hash-tagged
prefix (``{redbeat}:``) keeps every key in one slot.

Only single-key commands touch the old keys (they span slots), and the move is safe
to re-run at any point:

1. refuse while a beat holds the leader lock or an apply holds the sync lock, under
   either prefix (a running beat would write behind the move);
2. refuse if the new prefix holds an entry of the same name with other content;
3. copy every entry hash (definition and our field unchanged: names carry no prefix;
   ``meta``, the run history, as it is), its score, the inventory (names redbeat-sync
   manages), the statics set and the apply history;
4. only then delete the old keys.

A run interrupted anywhere leaves the old keys, the new ones or both, identical in
content: running it again finishes the move (or, when nothing is left under the old
prefix and the new one holds the deployment, says the move is already done).  When
neither prefix holds anything, the old prefix is surely mistyped: refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..errors import UserError
from .layout import Layout


@dataclass(frozen=True)
class MoveResult:
    entries: int  # entry hashes now under the new prefix
    managed: int  # names in the inventory
    statics: int  # names in the statics set
    history: int  # apply records copied
    #: Nothing was left under the old prefix but the new one holds a deployment: an
    #: earlier run (maybe interrupted after its copies) had already moved everything.
    already_moved: bool = False


def _locks(client: Any, layouts: tuple[Layout, ...], lock_keys: tuple[str, ...]) -> list[str]:
    held = [key for key in lock_keys if client.exists(key)]
    held += [layout.sync_lock_key for layout in layouts if client.exists(layout.sync_lock_key)]
    return held


def _entry_names(client: Any, old: Layout) -> list[str]:
    """Names of the entries under ``old``: the schedule's members and the inventory."""
    names = {old.name_of(key) for key in client.zrange(old.schedule_key, 0, -1)}
    names |= set(client.smembers(old.inventory_key))
    return sorted(names)


def move_prefix(
    client: Any, old: Layout, new: Layout, *, lock_keys: tuple[str, ...] = ()
) -> MoveResult:
    """Move the deployment under ``old`` to ``new`` (see the module docstring)."""
    if old.prefix == new.prefix:
        raise UserError(f"the deployment already uses the prefix {new.prefix!r}")
    locks = (old.beat_lock_key, new.beat_lock_key, *lock_keys)
    held = _locks(client, (old, new), locks)
    if held:
        raise UserError(
            f"refusing to move while a lock is held ({', '.join(held)}): stop every beat "
            "(and wait for applies to finish), then run the move again"
        )
    names = _entry_names(client, old)
    if not names and not _holds_any(client, old):
        if not _holds_any(client, new):
            # A mistyped --key-prefix would otherwise "move 0 entries" and send the
            # user off to reconfigure beat for an empty prefix.
            raise UserError(
                f"nothing is stored under the prefix {old.prefix!r} (no schedule, "
                "inventory or apply history): check --key-prefix (or the app's "
                "redbeat_key_prefix); nothing moved"
            )
        managed, statics = client.scard(new.inventory_key), client.scard(new.statics_key)
        total = client.zcard(new.schedule_key)
        return MoveResult(int(total), int(managed), int(statics), 0, already_moved=True)
    entries: dict[str, dict[str, str]] = {}
    conflicts = []
    for name in names:
        fields = client.hgetall(old.entry_key(name))
        if not fields:
            continue  # an inventory name without an entry, or moved by an earlier run
        existing = client.hgetall(new.entry_key(name))
        if existing and existing != fields:
            conflicts.append(name)
        entries[name] = fields
    if conflicts:
        raise UserError(
            f"the prefix {new.prefix!r} already holds other entries named "
            f"{', '.join(conflicts[:5])}{', ...' if len(conflicts) > 5 else ''}: nothing moved"
        )
    scores = dict(client.zrange(old.schedule_key, 0, -1, withscores=True))
    for name, fields in entries.items():
        client.hset(new.entry_key(name), mapping=fields)
        score = scores.get(old.entry_key(name))
        if score is not None:
            client.zadd(new.schedule_key, {new.entry_key(name): score})
    managed = sorted(client.smembers(old.inventory_key))
    statics = sorted(client.smembers(old.statics_key))
    if managed:
        client.sadd(new.inventory_key, *managed)
    if statics:
        client.sadd(new.statics_key, *statics)
    history = _copy_history(client, old, new)
    # Everything is under the new prefix: the old keys can go.
    for name in entries:
        client.delete(old.entry_key(name))
    for key in (old.schedule_key, old.inventory_key, old.statics_key, old.history_key):
        client.delete(key)
    client.delete(old.applied_key)
    total = client.zcard(new.schedule_key)
    return MoveResult(int(total), len(managed), len(statics), history)


def _holds_any(client: Any, layout: Layout) -> bool:
    """Whether any key of the deployment under ``layout`` exists (one key at a time:
    under Cluster they may be on different slots)."""
    keys = (layout.schedule_key, layout.inventory_key, layout.statics_key, layout.history_key)
    return any(client.exists(key) for key in (*keys, layout.applied_key))


def _copy_history(client: Any, old: Layout, new: Layout) -> int:
    """Apply records, with their ids (a re-run skips those already copied)."""
    last = client.xrevrange(new.history_key, count=1)
    after = last[0][0] if last else "0-0"
    copied = 0
    for record_id, fields in client.xrange(old.history_key, min=f"({after}"):
        client.xadd(new.history_key, fields, id=record_id)
        copied += 1
    return copied


__all__ = ["MoveResult", "move_prefix"]

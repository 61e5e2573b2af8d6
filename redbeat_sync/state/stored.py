"""What the state layer reads from Redis and what it is asked to write.

The reader fills ``State``; the planner compares it with the spec and hands the
writer plain operations (``Put``/``Remove``/``Release``).  Each stored entry carries a
``digest`` of its raw fields: the writer re-checks it atomically in Redis, so an apply
never overwrites something that changed after it was planned.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from ..schedule.entry import Entry, RunState


def field_digest(definition_raw: str | None, extra_raw: str | None) -> str:
    """Digest of the fields that say *what* an entry is (not its run history)."""
    h = hashlib.sha1()
    h.update((definition_raw or "").encode())
    h.update(b"\x00")
    h.update((extra_raw or "").encode())
    return h.hexdigest()


@dataclass(frozen=True)
class StoredEntry:
    name: str
    key: str
    entry: Entry | None  # None when the stored definition could not be decoded
    run: RunState
    managed: bool  # listed in the inventory
    marked: bool  # carries our marker field
    score: float | None  # member score in the schedule sorted set, None if absent
    definition_raw: str | None
    extra_raw: str | None
    error: str | None = None  # why ``entry`` is None
    requires_scheduler: tuple[str, ...] = ()  # reasons RedBeat's scheduler can't run it

    @property
    def digest(self) -> str:
        return field_digest(self.definition_raw, self.extra_raw)


@dataclass(frozen=True)
class State:
    entries: dict[str, StoredEntry]
    inventory: frozenset[str]  # names redbeat-sync manages (may include missing keys)
    fingerprint: str  # digest of every entry's fields plus the inventory

    @property
    def managed(self) -> dict[str, StoredEntry]:
        return {n: e for n, e in self.entries.items() if n in self.inventory}

    @property
    def unmanaged(self) -> dict[str, StoredEntry]:
        return {n: e for n, e in self.entries.items() if n not in self.inventory}


# --------------------------------------------------------------------------- writes


@dataclass(frozen=True)
class Put:
    """Create, update, reschedule or adopt one entry, and mark it managed."""

    entry: Entry
    expect_digest: str | None  # None: the key must not exist (create)
    reschedule: bool = False  # recompute the score from the kept last_run_at
    rewrite_definition: bool = True  # False: adopt as-is (only ownership changes)
    last_run_at_hint: RunState = field(default_factory=RunState)  # as read at plan time


@dataclass(frozen=True)
class Remove:
    """Delete a managed entry (hash, schedule member, inventory name)."""

    name: str
    expect_digest: str | None  # None: already gone, only drop it from the inventory


@dataclass(frozen=True)
class Release:
    """Stop managing an entry without deleting it (inventory name and marker go).

    ``keep_extra``: the extra field to leave in place of ours (same data, marker
    off) when it holds something the entry needs to run as before (e.g. the real
    schedule of an entry stored inert for RedBeat); None deletes the field.
    """

    name: str
    expect_digest: str | None
    keep_extra: str | None = None


@dataclass(frozen=True)
class Move:
    """Rename ``old_name`` to ``entry.name`` in one step, keeping its run history.

    The new key must not exist; the old one must still have ``expect_old_digest``.
    The new hash gets ``entry``'s fields and the old ``meta``; the old hash, its
    schedule member and its inventory name go; the new member's score is computed
    from ``run`` (the old run history as read at plan time: early or exact).
    """

    entry: Entry
    old_name: str
    expect_old_digest: str
    run: RunState = field(default_factory=RunState)


WriteOp = Put | Remove | Release | Move

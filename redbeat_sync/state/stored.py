"""What the state layer reads from Redis and what it is asked to write.

The reader fills ``State``; the planner compares it with the spec and hands the
writer plain operations (``Put``/``Remove``/``Release``).  Each stored entry carries a
``digest`` of its raw fields: the writer re-checks it atomically in Redis, so an apply
never overwrites something that changed after it was planned.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from ..schedule.entry import Entry, RunState, scheduler_only_features
from ..schedule.vocabulary import DEFAULT_TIMEZONE
from .codec import DecodeError, decode_entry, decode_extra, decode_meta


def field_digest(definition_raw: str | None, extra_raw: str | None) -> str:
    """Digest of the fields that say *what* an entry is (not its run history)."""
    h = hashlib.sha1()
    h.update((definition_raw or "").encode())
    h.update(b"\x00")
    h.update((extra_raw or "").encode())
    return h.hexdigest()


def _is_marked(extra_raw: str | None) -> bool:
    """Our marker, for an entry whose definition cannot be decoded."""
    try:
        extra = decode_extra(extra_raw)
    except DecodeError:
        return extra_raw is not None
    return extra is not None and extra.get("managed") is True


#: (entry, marked, decode error, requires_scheduler)
_Fields = tuple[Entry | None, bool, str | None, tuple[str, ...]]
#: (run history, its decode error)
_Meta = tuple[RunState, str | None]


class StoredEntry:
    """What Redis holds for a name: its raw fields, and what they decode to.

    Decoded on first use, by design: a plan of 100k unchanged entries needs none of
    the decoded values (``plan.compare`` checks the raw text against what it would
    write), so the reader keeps only the raw strings, and ``entry``, ``run``,
    ``marked``, ``error`` and ``requires_scheduler`` are decoded (once) when read.
    Their values are those an eager decode gives (tests/reader_oracles.py).
    ``StoredEntry.decoded`` makes one whose values are already known (a plan file, a
    key that is not a hash).  Slots: 100k of them are held at once.
    """

    __slots__ = (
        "_beat_timezone",
        "_fields",
        "_meta",
        "_meta_raw",
        "definition_raw",
        "extra_raw",
        "key",
        "managed",
        "name",
        "score",
    )

    def __init__(
        self,
        *,
        name: str,
        key: str,
        managed: bool,
        score: float | None,
        definition_raw: str | None,
        extra_raw: str | None,
        meta_raw: str | None = None,
        beat_timezone: str = DEFAULT_TIMEZONE,
    ) -> None:
        self.name = name
        self.key = key
        self.managed = managed  # listed in the inventory
        self.score = score  # member score in the schedule sorted set, None if absent
        self.definition_raw = definition_raw
        self.extra_raw = extra_raw
        self._meta_raw = meta_raw
        self._beat_timezone = beat_timezone
        self._fields: _Fields | None = None
        self._meta: _Meta | None = None

    @classmethod
    def decoded(
        cls,
        *,
        name: str,
        key: str,
        entry: Entry | None,
        run: RunState,
        managed: bool,
        marked: bool,
        score: float | None,
        definition_raw: str | None,
        extra_raw: str | None,
        error: str | None = None,
        requires_scheduler: tuple[str, ...] = (),
    ) -> StoredEntry:
        """One whose decoded values are given (``error``: why ``entry`` is None, or
        what was wrong with the run history)."""
        made = cls(
            name=name,
            key=key,
            managed=managed,
            score=score,
            definition_raw=definition_raw,
            extra_raw=extra_raw,
        )
        made._fields = (entry, marked, error if entry is None else None, requires_scheduler)
        made._meta = (run, None if entry is None else error)
        return made

    def _decode_fields(self) -> _Fields:
        fields = self._fields
        if fields is None:
            zone = self._beat_timezone
            try:
                entry, marked = decode_entry(
                    self.name, self.definition_raw or "", self.extra_raw, beat_timezone=zone
                )
            except DecodeError as exc:
                fields = (None, _is_marked(self.extra_raw), str(exc), ())
            else:
                fields = (entry, marked, None, tuple(scheduler_only_features(entry, zone)))
            self._fields = fields
        return fields

    def _decode_meta(self) -> _Meta:
        meta = self._meta
        if meta is None:
            try:
                meta = (decode_meta(self._meta_raw), None)
            except DecodeError as exc:
                meta = (RunState(), f"meta: {exc}")
            self._meta = meta
        return meta

    @property
    def entry(self) -> Entry | None:
        """None when the stored definition could not be decoded (see ``error``)."""
        return self._decode_fields()[0]

    @property
    def marked(self) -> bool:
        """Carries our marker field."""
        return self._decode_fields()[1]

    @property
    def requires_scheduler(self) -> tuple[str, ...]:
        """Why RedBeat's scheduler cannot run it (it is stored inert for RedBeat)."""
        return self._decode_fields()[3]

    @property
    def run(self) -> RunState:
        return self._decode_meta()[0]

    @property
    def error(self) -> str | None:
        """Why ``entry`` is None, else what was wrong with the run history."""
        entry, _marked, error, _requires = self._decode_fields()
        return error if entry is None else self._decode_meta()[1]

    @property
    def digest(self) -> str:
        return field_digest(self.definition_raw, self.extra_raw)

    def _values(self) -> tuple[object, ...]:
        return (
            self.name,
            self.key,
            self.entry,
            self.run,
            self.managed,
            self.marked,
            self.score,
            self.definition_raw,
            self.extra_raw,
            self.error,
            self.requires_scheduler,
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, StoredEntry):
            return NotImplemented
        return self._values() == other._values()

    __hash__ = None  # type: ignore[assignment]  # equal by value, and mutable caches

    def __repr__(self) -> str:
        return f"StoredEntry(name={self.name!r}, key={self.key!r}, managed={self.managed!r})"


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
    """Delete a managed entry (hash, schedule member, inventory name, run history)."""

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

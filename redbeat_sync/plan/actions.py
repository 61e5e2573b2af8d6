"""Plain values a plan is made of: one ``Action`` per entry, grouped in a ``Plan``.

The comparison (``compare``) builds these; the renderers, the plan file and apply only
read them.  Nothing here talks to Redis or formats text.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from ..schedule.entry import Entry
from ..schedule.vocabulary import DEFAULT_TIMEZONE
from ..state.stored import StoredEntry
from .kinds import ACTION_ORDER, CHANGING, LABEL_OF, LABELS, ActionKind

__all__ = ["ABSENT", "ACTION_ORDER", "Action", "ActionKind", "FieldChange", "Plan"]

ChangeKind = Literal["changed", "added", "removed"]


class _Absent:
    """Marks the missing side of an added or removed field (distinct from ``None``)."""

    _instance: _Absent | None = None

    def __new__(cls) -> _Absent:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "ABSENT"

    def __reduce__(self) -> str:
        return "ABSENT"


ABSENT: Any = _Absent()


@dataclass(frozen=True)
class FieldChange:
    """One field that differs, by path into ``Entry.to_canonical()``.

    ``path`` reads like ``options.queue``, ``args[0]`` or ``schedule.cron``; ``old`` or
    ``new`` is ``ABSENT`` when the field exists on one side only.
    """

    path: str
    old: Any
    new: Any

    @property
    def change(self) -> ChangeKind:
        if self.old is ABSENT:
            return "added"
        if self.new is ABSENT:
            return "removed"
        return "changed"


@dataclass(frozen=True)
class Action:
    """What apply will do to one entry, and why.

    ``desired`` is the entry as the files want it (None for delete and release);
    ``current`` is the entry as Redis held it when the plan was made (None for create,
    and for a delete whose key is already gone).  For a ``move``, ``current`` is the
    entry stored under the old name ``moved_from``; ``name`` is the new one.
    """

    kind: ActionKind
    name: str
    desired: Entry | None
    current: StoredEntry | None
    changes: list[FieldChange] = field(default_factory=list)
    # When beat will send the entry, as ``plan.preview`` asks beat's own decision;
    # ``at_once_for``: the first run goes out at once (next_runs[0] is the plan's
    # now), for this slot (earlier than now: a catch-up).
    next_runs: list[datetime] = field(default_factory=list)
    at_once_for: datetime | None = None
    requires_scheduler: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    source: str | None = None  # "file:line" of the entry in the schedule files
    moved_from: str | None = None  # for a move: the old name (its key goes)

    @property
    def expect_digest(self) -> str | None:
        """Digest apply expects the stored entry to still have (None: no key)."""
        return self.current.digest if self.current is not None else None

    @property
    def change_zones(self) -> tuple[str | None, str | None]:
        """The zones the old and the new side of ``changes`` are read in (None: no side)."""
        old = self.current.entry if self.current is not None else None
        return (
            old.timezone if old is not None else None,
            self.desired.timezone if self.desired is not None else None,
        )


@dataclass(frozen=True)
class RedisTarget:
    """The Redis a plan was made against: its URL as given, password masked (never
    the secret), and the database number the client really selected."""

    redis_url: str
    db: int

    def same_server(self, other: RedisTarget) -> bool:
        """Same URL (query options such as timeouts aside) and the same database."""
        return (self.redis_url.partition("?")[0], self.db) == (
            other.redis_url.partition("?")[0],
            other.db,
        )

    def describe(self) -> str:
        return f"{self.redis_url} (db {self.db})"


@dataclass
class Plan:
    """Every action for one prefix, plus what is needed to apply it later safely.

    ``fingerprint`` is the fingerprint of the state the plan was computed from: apply
    re-reads the state and refuses the plan when it differs.
    """

    actions: list[Action]
    fingerprint: str
    unmanaged: list[str]
    prefix: str
    created_at: datetime
    beat_timezone: str = DEFAULT_TIMEZONE
    warnings: list[str] = field(default_factory=list)  # not tied to one planned action
    # Entries paused by ``redbeat-sync pause`` (an operational overlay, not drift):
    # name -> "paused by W since T until U: reason".  Shown, never undone.
    paused: dict[str, str] = field(default_factory=dict)
    #: ``beat_timezone`` was assumed (no --app or --beat-timezone), not known.
    beat_timezone_assumed: bool = False
    #: Where it was made (None: made without the CLI); apply refuses another Redis.
    target: RedisTarget | None = None

    @property
    def counts(self) -> dict[str, int]:
        counts: dict[str, int] = {kind: 0 for kind in ACTION_ORDER}
        for action in self.actions:
            counts[action.kind] += 1
        counts["unmanaged"] = len(self.unmanaged)
        return counts

    @property
    def changes(self) -> list[Action]:
        """Actions that change something (everything but no-ops)."""
        return [a for a in self.actions if a.kind in CHANGING]

    @property
    def has_changes(self) -> bool:
        return any(a.kind in CHANGING for a in self.actions)

    def sentence(self) -> str:
        """``Plan: X to create, Y to update, Z to delete.`` or ``No changes.``

        Adoptions, moves and releases are named only when there are some, so the usual
        sentence reads exactly like terraform's.
        """
        if not self.has_changes:
            return "No changes."
        counts = self.summary()
        text = (
            f"Plan: {counts['create']} to create, {counts['update']} to update, "
            f"{counts['delete']} to delete"
        )
        for kind in ("adopt", "move", "release"):
            if counts.get(kind):
                text += f", {counts[kind]} to {kind}"
        return text + "."

    def summary(self) -> dict[str, int]:
        """Counts as shown to users, by label (reschedules are updates)."""
        shown = dict.fromkeys(("create", "update", "delete", *LABELS), 0)
        for kind, count in self.counts.items():
            label = LABEL_OF.get(kind, kind)  # "unmanaged" is a count, not a kind
            shown[label] = shown.get(label, 0) + count
        return shown

"""The one table of plan action kinds: everything that differs by kind, in one place.

A new kind is a row here plus its behaviour (how ``compare`` decides on it).  The
renderers, the plan file, apply, the memory estimate and the audit wording read this
table instead of comparing kind strings.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

ActionKind = Literal["create", "update", "reschedule", "delete", "adopt", "move", "release", "noop"]

#: What apply writes for a kind: a whole entry (``put``), nothing, or one of the
#: writer's other operations.
Write = Literal["put", "remove", "release", "move", "nothing"]
#: Colours of the text renderer (render_text maps them to ANSI codes).
Colour = Literal["green", "yellow", "cyan", "red", ""]


@dataclass(frozen=True)
class Kind:
    name: ActionKind
    symbol: str  # terraform-style sign in text and markdown plans ("" for no-ops)
    label: str  # how summaries, the audit trail and history name it
    past: str  # history's wording: "created", ...
    colour: Colour
    writes: Write
    new_key: bool  # apply writes a key that did not exist (memory estimate)


#: In plan order (how actions are listed and applied): like a terraform plan.
KINDS: dict[ActionKind, Kind] = {
    k.name: k
    for k in (
        Kind("create", "+", "create", "created", "green", "put", new_key=True),
        Kind("adopt", "<=", "adopt", "adopted", "cyan", "put", new_key=False),
        Kind("move", "->", "move", "moved", "cyan", "move", new_key=True),
        Kind("update", "~", "update", "updated", "yellow", "put", new_key=False),
        # A reschedule is an update that also recomputes the due time: shown and
        # audited as an update.
        Kind("reschedule", "~", "update", "updated", "yellow", "put", new_key=False),
        Kind("release", "=>", "release", "released", "cyan", "release", new_key=False),
        Kind("delete", "-", "delete", "deleted", "red", "remove", new_key=False),
        Kind("noop", "", "noop", "unchanged", "", "nothing", new_key=False),
    )
}

ACTION_ORDER: tuple[ActionKind, ...] = tuple(KINDS)
#: Kinds that change something in Redis (everything but no-ops).
CHANGING: frozenset[ActionKind] = frozenset(k for k, v in KINDS.items() if v.writes != "nothing")
#: The labels users see in counts and the audit trail, in plan order, without repeats.
LABELS: tuple[str, ...] = tuple(dict.fromkeys(k.label for k in KINDS.values()))
#: kind name -> label, for counts keyed by plain strings
LABEL_OF: dict[str, str] = {name: kind.label for name, kind in KINDS.items()}

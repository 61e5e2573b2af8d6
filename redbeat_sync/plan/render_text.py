"""A plan as text for people, in the spirit of ``terraform plan``.

::

    + nightly-report                       create
    ~ cleanup                              update, with ``field: old → new`` lines
    ~ hourly-sync (reschedule)             the next due time is recomputed
    <= legacy-job (adopt)                  redbeat-sync takes ownership, run history kept
    -> old-name → new-name (move)          renamed in place, run history kept
    => kept-job (release)                  no longer managed, left in Redis (prune: false)
    - old-job                              delete

followed by the next fire times of creates and reschedules, the reasons an entry
needs ``redbeat_sync.Scheduler``, the unmanaged entries, and a final line
``Plan: X to create, Y to update, Z to delete.`` (or ``No changes.``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ..schedule import describe
from ..schedule import equivalence as semantics
from ..schedule.describe import (
    MAX_VALUE_CHARS,
    describe_field,
    describe_next_runs,
    describe_schedule,
    plural,
)
from ..schedule.entry import Entry
from ..values import encode_value
from .actions import ABSENT, Action, Plan
from .kinds import KINDS

MAX_UNMANAGED_NAMES = 5

_RESET = "\033[0m"
_ANSI = {"green": "\033[32m", "yellow": "\033[33m", "cyan": "\033[36m", "red": "\033[31m"}
_COLORS: dict[str, str] = {
    **{name: _ANSI[kind.colour] for name, kind in KINDS.items() if kind.colour},
    "warning": _ANSI["yellow"],
    "dim": "\033[2m",
}


def format_value(value: Any, limit: int = MAX_VALUE_CHARS) -> str:
    """``describe.format_value``, with ``(absent)`` for the missing side of a change."""
    if value is ABSENT:
        return "(absent)"
    return describe.format_value(value, limit)


def format_side(path: str, value: Any, zone: str | None) -> str:
    """One side of a changed field in the plan's words (``describe.describe_field``)."""
    if value is ABSENT:
        return "(absent)"
    return describe_field(path, value, zone)


def _describe_entry(entry: Entry) -> list[str]:
    """Short lines summing up an entry (for creates and deletes)."""
    lines = [
        f"task: {format_value(entry.task)}",
        f"schedule: {describe_schedule(entry.schedule, entry.timezone)}",
    ]
    for name in ("args", "kwargs", "options"):
        value = getattr(entry, name)
        if value:  # shown as stored (a datetime reads "datetime …", not as a string)
            lines.append(f"{name}: {format_value(encode_value(value))}")
    if not entry.enabled:
        lines.append("enabled: false")
    return lines


def _paint(text: str, style: str, color: bool) -> str:
    return f"{_COLORS[style]}{text}{_RESET}" if color else text


def _render_action(action: Action, color: bool, now: datetime | None = None) -> list[str]:
    head = f"{KINDS[action.kind].symbol} {action.name}"
    if action.kind == "move":
        head = f"{KINDS['move'].symbol} {action.moved_from} → {action.name}"
    if action.kind in ("reschedule", "adopt", "move", "release"):
        head += f" ({action.kind})"
    lines = [_paint(head, action.kind, color)]
    indent = "    "
    if action.kind == "move":
        lines.append(f"{indent}{action.moved_from} moves to {action.name} (run history kept)")
    if action.kind == "create" and action.desired is not None:
        lines += [indent + line for line in _describe_entry(action.desired)]
    elif action.kind == "delete" and action.current is not None and action.current.entry:
        lines += [indent + line for line in _describe_entry(action.current.entry)]
    old_zone, new_zone = action.change_zones
    for change in action.changes:
        old = format_side(change.path, change.old, old_zone)
        new = format_side(change.path, change.new, new_zone)
        lines.append(f"{indent}{change.path}: {old} → {new}")
    if action.kind == "adopt" and not action.changes:
        lines.append(f"{indent}(taken over as stored; run history kept)")
    frequency = semantics.action_frequency(action, now)
    if frequency:
        lines.append(f"{indent}frequency: {semantics.format_frequency(frequency)}")
    if action.next_runs:
        shown = describe_next_runs(action.next_runs, action.at_once_for)
        lines.append(f"{indent}next: " + ", ".join(shown))
    if action.requires_scheduler:
        reasons = "; ".join(action.requires_scheduler)
        lines.append(f"{indent}requires redbeat_sync.Scheduler: {reasons}")
    for warning in action.warnings:
        lines.append(indent + _paint(f"warning: {warning}", "warning", color))
    return lines


def summary_line(plan: Plan) -> str:
    """``Plan: X to create, Y to update, Z to delete.`` or ``No changes.``"""
    return plan.sentence()


def render_text(plan: Plan, *, color: bool = False) -> str:
    """The whole plan as text; ANSI colours only when ``color`` (the CLI: on a TTY)."""
    lines: list[str] = []
    for action in plan.changes:
        lines += _render_action(action, color, plan.created_at)
    if plan.unmanaged:
        shown = ", ".join(plan.unmanaged[:MAX_UNMANAGED_NAMES])
        more = len(plan.unmanaged) - MAX_UNMANAGED_NAMES
        if more > 0:
            shown += f", … ({more} more)"
        if lines:
            lines.append("")
        unmanaged = plural(len(plan.unmanaged), "unmanaged entry", "unmanaged entries")
        lines.append(f"{unmanaged} in Redis left untouched: {shown}")
    for name, note in sorted(plan.paused.items()):
        lines.append(f"⏸ {name}: {note} (kept by apply)")
    for warning in plan.warnings:
        lines.append(_paint(f"warning: {warning}", "warning", color))
    if lines:
        lines.append("")
    lines.append(summary_line(plan))
    return "\n".join(lines) + "\n"

"""Drift: where Redis no longer matches the schedule files, seen as the plan sees it.

A drift check is ``compute_plan`` read the other way round: the plan says what apply
would do, drift says what differs and why it matters (an entry edited in Redis by
hand, a managed entry deleted behind our back, an entry of the files never applied).
Reusing the plan keeps the two from ever disagreeing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Literal

from .plan.actions import ABSENT, Action, FieldChange, Plan
from .plan.render_markdown import code_span, escape_text
from .plan.render_text import format_side
from .schedule.describe import plural
from .state.stored import State

DriftKind = Literal[
    "changed",  # managed, stored definition differs from the files
    "missing",  # managed (in the inventory) but its key is gone from Redis
    "not_in_redis",  # in the files, never applied
    "unmanaged",  # in the files and in Redis, but not managed (apply would adopt it)
    "not_in_files",  # managed in Redis, no longer in the files (apply deletes/releases)
    "pending_move",  # moved_from not applied yet
]

#: Order and wording of each kind, as shown to people.
KIND_TITLES: dict[str, str] = {
    "changed": "changed in Redis",
    "missing": "managed but missing from Redis",
    "not_in_redis": "in the files, not in Redis",
    "unmanaged": "in Redis but not managed",
    "not_in_files": "managed in Redis but not in the files",
    "pending_move": "rename not applied",
}


@dataclass(frozen=True)
class DriftItem:
    kind: DriftKind
    name: str
    source: str | None  # "file:line" when the files name it
    changes: list[FieldChange] = field(default_factory=list)  # old = Redis, new = files
    detail: str = ""


@dataclass(frozen=True)
class Drift:
    items: list[DriftItem]
    prefix: str
    paused: dict[str, str] = field(default_factory=dict)  # shown; a pause is not drift

    @property
    def has_drift(self) -> bool:
        return bool(self.items)

    def counts(self) -> dict[str, int]:
        counts = dict.fromkeys(KIND_TITLES, 0)
        for item in self.items:
            counts[item.kind] += 1
        return counts


def _item(action: Action, inventory: frozenset[str]) -> DriftItem | None:
    kind = action.kind
    if kind == "noop":
        return None
    if kind in ("update", "reschedule"):
        detail = "; ".join(action.warnings) if not action.changes else ""
        return DriftItem("changed", action.name, action.source, list(action.changes), detail)
    if kind == "create":
        if action.name in inventory:
            return DriftItem("missing", action.name, action.source, detail="apply re-creates it")
        return DriftItem("not_in_redis", action.name, action.source, detail="apply creates it")
    if kind == "adopt":
        return DriftItem("unmanaged", action.name, action.source, list(action.changes))
    if kind == "move":
        detail = f"{action.moved_from} → {action.name}: apply renames it"
        return DriftItem("pending_move", action.name, action.source, list(action.changes), detail)
    if kind == "release":
        return DriftItem("not_in_files", action.name, None, detail="apply releases it")
    # delete
    if action.current is None:
        return DriftItem("missing", action.name, None, detail="gone from Redis and the files")
    return DriftItem("not_in_files", action.name, None, detail="apply deletes it")


def drift_from_plan(plan: Plan, state: State) -> Drift:
    """Each change of ``plan`` (made from ``state``) as a drift item."""
    items = [item for a in plan.changes if (item := _item(a, state.inventory)) is not None]
    order = {kind: i for i, kind in enumerate(KIND_TITLES)}
    items.sort(key=lambda i: (order[i.kind], i.name))
    return Drift(items, plan.prefix, dict(plan.paused))


# --------------------------------------------------------------------------- output


def _side(value: Any) -> Any:
    return None if value is ABSENT else value


def render_drift_text(drift: Drift) -> str:
    paused = [f"⏸ {name}: {note} (not drift)" for name, note in sorted(drift.paused.items())]
    if not drift.has_drift:
        tail = "".join(line + "\n" for line in paused)
        return f"No drift: Redis ({drift.prefix}) matches the schedule files.\n" + tail
    lines: list[str] = [*paused]
    for item in drift.items:
        where = f"  ({item.source})" if item.source else ""
        lines.append(f"! {item.name}: {KIND_TITLES[item.kind]}{where}")
        for change in item.changes:
            redis_value = format_side(change.path, change.old, None)
            files_value = format_side(change.path, change.new, None)
            lines.append(f"    {change.path}: Redis has {redis_value}, the files say {files_value}")
        if item.detail:
            lines.append(f"    {item.detail}")
    lines.append("")
    shown = ", ".join(f"{n} {KIND_TITLES[k]}" for k, n in drift.counts().items() if n)
    lines.append(f"Drift: {plural(len(drift.items), 'entry')} ({shown}).")
    return "\n".join(lines) + "\n"


def drift_to_json(drift: Drift) -> dict[str, Any]:
    return {
        # 2: datetimes in changes are RedBeat's stored objects (plan JSON format 2)
        "format_version": "2",
        "prefix": drift.prefix,
        "drift": drift.has_drift,
        "counts": drift.counts(),
        "paused": dict(sorted(drift.paused.items())),
        "items": [
            {
                "kind": item.kind,
                "name": item.name,
                "source": item.source,
                "changes": [
                    {"path": c.path, "redis": _side(c.old), "files": _side(c.new)}
                    for c in item.changes
                ],
                "detail": item.detail,
            }
            for item in drift.items
        ],
    }


def render_drift_json(drift: Drift) -> str:
    return json.dumps(drift_to_json(drift), indent=2, ensure_ascii=False, default=str)


def render_drift_markdown(drift: Drift) -> str:
    title = f"### redbeat-sync drift for {code_span(drift.prefix)}"
    paused = "".join(
        f"\n⏸ {code_span(name)}: {escape_text(note)} (not drift)\n"
        for name, note in sorted(drift.paused.items())
    )
    if not drift.has_drift:
        return f"{title}\n\n**No drift.** Redis matches the schedule files.\n{paused}"
    count = len(drift.items)
    differ = "differs" if count == 1 else "differ"
    lines = [title, "", f"**Drift: {plural(count, 'entry')} {differ}.**", ""]
    lines += ["| entry | drift | details |", "| --- | --- | --- |"]
    for item in drift.items:
        details = [
            f"{code_span(c.path, in_table=True)}: Redis "
            f"{code_span(format_side(c.path, c.old, None), in_table=True)}, files "
            f"{code_span(format_side(c.path, c.new, None), in_table=True)}"
            for c in item.changes
        ]
        if item.detail:
            details.append(escape_text(item.detail))
        name = code_span(item.name, in_table=True)
        lines.append(f"| {name} | {KIND_TITLES[item.kind]} | {'<br>'.join(details)} |")
    return "\n".join(lines) + "\n" + paused

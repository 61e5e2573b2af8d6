"""Compare the schedule files with the state in Redis and decide an action per entry.

Most entries of a large deployment are unchanged, so every pair is first compared
as canonical dicts (C-speed ``==`` plus a type-exact JSON check, because ``1 == 1.0 ==
True`` in Python while a Celery task would see different arguments); only pairs that
differ go through deepdiff to name the fields that changed.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from deepdiff import DeepDiff

from .. import timing
from ..entry import Entry, redbeat_ignored_features, scheduler_only_features
from ..errors import UserError
from ..state.layout import DEFAULT_PREFIX
from ..state.model import State, StoredEntry
from .actions import ABSENT, ACTION_ORDER, Action, ActionKind, FieldChange, Plan

if TYPE_CHECKING:
    from ..spec.loader import Spec, SpecEntry

NEXT_RUNS = 3

#: Top-level canonical fields whose change moves the next due time.
SCHEDULE_FIELDS = frozenset({"schedule", "timezone", "start_at", "end_at"})

_PLAIN_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")


# --------------------------------------------------------------------------- diffing


def _strict_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def canonical_equal(old: dict[str, Any], new: dict[str, Any]) -> bool:
    """Equal as stored: ``==`` first (fast), then type-exact (1 vs 1.0 vs True)."""
    return old == new and _strict_json(old) == _strict_json(new)


def format_path(parts: Iterable[Any]) -> str:
    """``["options", "queue"]`` -> ``options.queue``; ``["args", 0]`` -> ``args[0]``."""
    out = ""
    for part in parts:
        if isinstance(part, int) and not isinstance(part, bool):
            out += f"[{part}]"
        elif _PLAIN_KEY.match(str(part)):
            out += f".{part}" if out else str(part)
        else:
            out += f"[{json.dumps(str(part), ensure_ascii=False)}]"
    return out


def field_changes(old: dict[str, Any], new: dict[str, Any]) -> list[FieldChange]:
    """Field-level differences between two canonical entry dicts, sorted by path."""
    changes: list[FieldChange] = []
    old_schedule, new_schedule = old.get("schedule") or {}, new.get("schedule") or {}
    if set(old_schedule) != set(new_schedule):
        # A different kind of schedule (cron -> every) reads better as one change.
        changes.append(FieldChange("schedule", old_schedule, new_schedule))
        old = {k: v for k, v in old.items() if k != "schedule"}
        new = {k: v for k, v in new.items() if k != "schedule"}

    tree = DeepDiff(old, new, view="tree")
    for report_type, levels in tree.items():
        for level in levels:
            path = format_path(level.path(output_format="list"))
            if report_type.endswith("_added"):
                changes.append(FieldChange(path, ABSENT, level.t2))
            elif report_type.endswith("_removed"):
                changes.append(FieldChange(path, level.t1, ABSENT))
            else:
                changes.append(FieldChange(path, level.t1, level.t2))
    if not changes and not canonical_equal(old, new):
        # Only reachable if deepdiff and the strict check disagree: never hide it.
        changes.append(FieldChange("(entry)", old, new))
    return sorted(changes, key=lambda c: c.path)


def is_reschedule(changes: Iterable[FieldChange]) -> bool:
    return any(re.split(r"[.\[]", c.path, maxsplit=1)[0] in SCHEDULE_FIELDS for c in changes)


# --------------------------------------------------------------------------- planning


def _entry_notes(entry: Entry, beat_timezone: str) -> tuple[list[str], list[str]]:
    """(reasons it needs our scheduler, warnings) for an entry the files want."""
    requires = scheduler_only_features(entry, beat_timezone)
    warnings = [
        f"celery-redbeat's scheduler ignores {feature} (redbeat_sync.Scheduler honours it)"
        for feature in redbeat_ignored_features(entry)
    ]
    return requires, warnings


def _next_runs(entry: Entry, now: datetime) -> list[datetime]:
    if not entry.enabled:
        return []
    return list(timing.next_fire_times(entry, NEXT_RUNS, now))


def _source(spec_entry: SpecEntry) -> str:
    return f"{spec_entry.file}:{spec_entry.line}" if spec_entry.line else spec_entry.file


def _plan_wanted(
    spec_entry: SpecEntry,
    stored: StoredEntry | None,
    managed: bool,
    beat_timezone: str,
    now: datetime,
) -> Action:
    desired = spec_entry.entry
    requires, warnings = _entry_notes(desired, beat_timezone)
    source = _source(spec_entry)
    name = desired.name

    def action(kind: ActionKind, changes: list[FieldChange], runs: bool = False) -> Action:
        return Action(
            kind=kind,
            name=name,
            desired=desired,
            current=stored,
            changes=changes,
            next_runs=_next_runs(desired, now) if runs else [],
            requires_scheduler=requires,
            warnings=warnings,
            source=source,
        )

    if stored is None:
        return action("create", [], runs=True)

    if stored.entry is None:
        warnings = [
            f"stored definition could not be decoded ({stored.error or 'unknown error'}); "
            "apply rewrites it from the files",
            *warnings,
        ]
        return action("update", [], runs=True)

    old = stored.entry.to_canonical()
    new = desired.to_canonical()
    changes = [] if canonical_equal(old, new) else field_changes(old, new)
    stored_requires = list(stored.requires_scheduler)
    if stored_requires != requires and not changes:
        # Same entry, but stored for the other scheduler (e.g. beat's timezone
        # changed): rewrite it so celery-redbeat runs it, or stops running it wrongly.
        changes = [FieldChange("(requires redbeat_sync.Scheduler)", stored_requires, requires)]
    if not managed:
        return action("adopt", changes, runs=is_reschedule(changes))
    if not stored.marked and not changes:
        warnings = ["ownership marker missing in Redis; apply restores it", *warnings]
        return action("update", [])
    if not changes:
        return action("noop", [])
    if is_reschedule(changes):
        return action("reschedule", changes, runs=True)
    return action("update", changes)


def compute_plan(
    spec: Spec,
    state: State,
    *,
    beat_timezone: str = "UTC",
    now: datetime | None = None,
    prefix: str = DEFAULT_PREFIX,
) -> Plan:
    """Diff the files (``spec``) against Redis (``state``): one action per entry.

    Entries in Redis that redbeat-sync does not manage and the files do not name are
    listed in ``plan.unmanaged`` and never touched.
    """
    now = now or datetime.now(timezone.utc)
    wanted: dict[str, SpecEntry] = {}
    for spec_entry in spec.entries:
        name = spec_entry.entry.name
        if name in wanted:
            first = _source(wanted[name])
            raise UserError(f"entry {name!r} defined twice: {first} and {_source(spec_entry)}")
        wanted[name] = spec_entry

    actions: list[Action] = []
    inventory = state.inventory
    for name, spec_entry in wanted.items():
        stored = state.entries.get(name)
        actions.append(_plan_wanted(spec_entry, stored, name in inventory, beat_timezone, now))

    for name in sorted(inventory - wanted.keys()):
        stored = state.entries.get(name)
        warnings = [] if stored is not None else ["already gone from Redis: only forgets it"]
        if stored is not None and stored.entry is None:
            warnings.append(f"stored definition could not be decoded ({stored.error})")
        actions.append(Action("delete", name, None, stored, warnings=warnings))

    unmanaged: list[str] = []
    plan_warnings: list[str] = []
    for name in sorted(state.entries.keys() - inventory - wanted.keys()):
        unmanaged.append(name)
        stored = state.entries[name]
        if stored.entry is None:
            plan_warnings.append(
                f"unmanaged entry {name!r} could not be decoded ({stored.error}); left as is"
            )

    order = {kind: i for i, kind in enumerate(ACTION_ORDER)}
    actions.sort(key=lambda a: (order[a.kind], a.name))
    return Plan(
        actions=actions,
        fingerprint=state.fingerprint,
        unmanaged=unmanaged,
        prefix=prefix,
        created_at=now,
        beat_timezone=beat_timezone,
        warnings=plan_warnings,
    )

"""Compare the schedule files with the state in Redis and decide an action per entry.

Most entries of a large deployment are unchanged, so every pair is first compared
as canonical dicts (C-speed ``==`` plus a type-exact check, because ``1 == 1.0 ==
True`` in Python while a Celery task would see different arguments); only pairs that
differ are walked to name the fields that changed.  The canonical form keeps values
as RedBeat stores them (``values``), so "equal" means "the task receives the same".
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from ..bulk import gc_paused
from ..errors import UserError, field_path
from ..insights import load, notes
from ..schedule import equivalence as semantics
from ..schedule.describe import plural
from ..schedule.entry import (
    At,
    Cron,
    Entry,
    RunState,
    redbeat_ignored_features,
    scheduler_only_features,
)
from ..schedule.vocabulary import DEFAULT_OVERLAP, DEFAULT_TIMEZONE
from ..state import codec
from ..state.layout import DEFAULT_PREFIX
from ..state.stored import State, StoredEntry
from ..values import is_datetime_object
from .actions import ABSENT, ACTION_ORDER, Action, ActionKind, FieldChange, Plan
from .preview import NOTHING, preview_runs

if TYPE_CHECKING:
    from ..fileformat.loader import Spec, SpecEntry

#: Top-level canonical fields whose change moves the next due time.
SCHEDULE_FIELDS = frozenset({"schedule", "timezone", "start_at", "end_at"})


# --------------------------------------------------------------------------- diffing


def strict_equal(old: Any, new: Any) -> bool:
    """Equal with the same JSON types all the way down (``1``, ``1.0``, ``True`` differ,
    and so do ``0.0`` and ``-0.0``: a task receives the sign)."""
    if type(old) is not type(new):
        return False
    if type(old) is dict:
        return old.keys() == new.keys() and all(strict_equal(old[k], new[k]) for k in old)
    if type(old) is list:
        return len(old) == len(new) and all(map(strict_equal, old, new))
    if type(old) is float:
        return old == new and math.copysign(1.0, old) == math.copysign(1.0, new)
    return bool(old == new)


def canonical_equal(old: Any, new: Any) -> bool:
    """Equal as stored: ``==`` first (C speed, settles most pairs), then type-exact."""
    return bool(old == new) and strict_equal(old, new)


def _diff_into(changes: list[FieldChange], path: list[Any], old: Any, new: Any) -> None:
    """Append the differences below ``path``.

    Dicts are walked key by key and lists index by index (args are positional: an
    insertion shows as changes from there on, as the task would see it).  A stored
    datetime is one value, never walked into: its fields are not what a person
    changed.
    """
    walk_dicts = type(old) is dict and type(new) is dict
    if walk_dicts and not (is_datetime_object(old) or is_datetime_object(new)):
        if path == ["schedule"] and old.keys() != new.keys():
            # A different kind of schedule (cron -> every) reads better as one change.
            changes.append(FieldChange("schedule", old, new))
            return
        for key in sorted(old.keys() | new.keys()):
            if key not in new:
                changes.append(FieldChange(field_path([*path, key]), old[key], ABSENT))
            elif key not in old:
                changes.append(FieldChange(field_path([*path, key]), ABSENT, new[key]))
            elif not canonical_equal(old[key], new[key]):
                _diff_into(changes, [*path, key], old[key], new[key])
    elif type(old) is list and type(new) is list:
        for index, (old_item, new_item) in enumerate(zip(old, new, strict=False)):
            if not canonical_equal(old_item, new_item):
                _diff_into(changes, [*path, index], old_item, new_item)
        for index in range(len(new), len(old)):
            changes.append(FieldChange(field_path([*path, index]), old[index], ABSENT))
        for index in range(len(old), len(new)):
            changes.append(FieldChange(field_path([*path, index]), ABSENT, new[index]))
    else:
        changes.append(FieldChange(field_path(path), old, new))


def field_changes(old: dict[str, Any], new: dict[str, Any]) -> list[FieldChange]:
    """Field-level differences between two canonical entry dicts, sorted by path."""
    changes: list[FieldChange] = []
    if "overlap" in old or "overlap" in new:
        # Canonical dicts leave the overlap fields out at their defaults (so other
        # entries keep their digests): compare against the defaults, "allow → skip".
        unset = {"overlap": DEFAULT_OVERLAP, "overlap_timeout": None}
        old, new = {**unset, **old}, {**unset, **new}
    _diff_into(changes, [], old, new)
    return sorted(changes, key=lambda c: c.path)


def enables(changes: Iterable[FieldChange]) -> bool:
    return any(c.path == "enabled" and c.new is True for c in changes)


def is_reschedule(changes: Iterable[FieldChange]) -> bool:
    return any(re.split(r"[.\[]", c.path, maxsplit=1)[0] in SCHEDULE_FIELDS for c in changes)


# --------------------------------------------------------------------------- planning


_RUNNERS = {
    True: "redbeat_sync.Scheduler only",
    False: "celery-redbeat and redbeat_sync.Scheduler",
}


def stored_inert(stored: StoredEntry) -> bool:
    """Whether Redis holds the entry inert for celery-redbeat (see ``state.codec``)."""
    extra_raw = stored.extra_raw
    if not extra_raw or '"schedule"' not in extra_raw:  # cheap test first: 100k entries
        return False
    try:
        extra = codec.decode_extra(extra_raw)
    except codec.DecodeError:
        return False
    return (
        extra is not None
        and "schedule" in extra
        and extra.get("definition_sha1") == codec.sha1(stored.definition_raw or "")
    )


def stops_redbeat(action: Action) -> bool:
    """Whether applying ``action`` takes over an entry celery-redbeat's scheduler runs
    now and stores it inert for it (``requires_scheduler``): RedBeat would then stop
    running it.  Said in plain words by the plan; apply refuses it unless allowed."""
    current = action.current
    if action.kind not in ("adopt", "move") or current is None or current.managed:
        return False
    if current.entry is None or not current.entry.enabled or stored_inert(current):
        return False  # RedBeat does not run it today
    return (
        bool(action.requires_scheduler) and action.desired is not None and (action.desired.enabled)
    )


def stops_redbeat_warning(requires: list[str], beat_timezone: str) -> str:
    return (
        "celery-redbeat's scheduler will stop running this entry: it gets stored for "
        f"redbeat_sync.Scheduler only ({'; '.join(requires)}; beat timezone assumed: "
        f"{beat_timezone}, pass --app or --beat-timezone if beat runs in another); apply "
        "refuses this unless --allow-stopping-redbeat"
    )


def zone_from_beat(stored: StoredEntry) -> bool:
    """Whether the stored schedule means a time of day only in beat's zone: a crontab
    stored with no zone of ours (celery-redbeat stores none: it runs a crontab in the
    Celery app's ``timezone``), so reading it took the beat timezone as its zone."""
    entry = stored.entry
    if entry is None or not isinstance(entry.schedule, Cron):
        return False
    try:
        extra = codec.decode_extra(stored.extra_raw)
    except codec.DecodeError:
        return True
    return extra is None or not extra.get("timezone")


def adopts_in_assumed_zone(action: Action, beat_timezone: str, assumed: bool) -> bool:
    """Whether ``action`` takes over a stored crontab read in an assumed beat timezone
    and stores it in that zone: apply would write the guess into our field, and
    redbeat_sync.Scheduler would run it at that zone's time while celery-redbeat runs
    it in the app's.  (Files naming another zone store that one: no guess kept.)"""
    current, desired = action.current, action.desired
    if not assumed or action.kind not in ("adopt", "move") or desired is None:
        return False
    if not isinstance(desired.schedule, Cron) or desired.timezone != beat_timezone:
        return False
    return current is not None and not current.managed and zone_from_beat(current)


def assumed_zone_warning(beat_timezone: str) -> str:
    return (
        f"assumed beat timezone {beat_timezone} (no --app or --beat-timezone): "
        "celery-redbeat runs this crontab in the Celery app's timezone; apply refuses "
        "this until --app or --beat-timezone names the zone"
    )


def adopt_refusal(plan: Plan, *, allow_stopping_redbeat: bool) -> str | None:
    """The guard apply checks before adopting: why it refuses ``plan`` (None: it may).

    Adopts that would stop celery-redbeat running an entry pass only with
    ``allow_stopping_redbeat``; adopts storing a crontab in an assumed beat timezone
    never pass (the zone must be given: only then is the plan right).
    """

    def names(found: list[str]) -> str:
        return ", ".join(found[:5]) + (", ..." if len(found) > 5 else "")

    reasons = []
    zone, assumed = plan.beat_timezone, plan.beat_timezone_assumed
    guessed = [a.name for a in plan.changes if adopts_in_assumed_zone(a, zone, assumed)]
    if guessed:
        reasons.append(
            f"{plural(len(guessed), 'adopted crontab')} ({names(guessed)}) would be stored "
            f"in the assumed beat timezone {plan.beat_timezone}, while celery-redbeat runs "
            "them in the Celery app's timezone: plan and apply with --app or "
            "--beat-timezone"
        )
    stopping = [a.name for a in plan.changes if stops_redbeat(a)]
    if stopping and not allow_stopping_redbeat:
        reasons.append(
            f"{plural(len(stopping), 'adopted entry', 'adopted entries')} would stop running "
            f"under celery-redbeat's scheduler ({names(stopping)}): check the beat timezone "
            "(--app / --beat-timezone), or pass --allow-stopping-redbeat once beat runs "
            "redbeat_sync.Scheduler"
        )
    if not reasons:
        return None
    return "; ".join(reasons) + "; nothing was written"


def stored_as_written(desired: Entry, stored: StoredEntry, beat_timezone: str) -> bool:
    """Whether Redis holds exactly the text apply would write for ``desired``.

    Then the stored entry decodes to ``desired`` (the codec round-trips), carries
    our marker and is stored for the right scheduler: a no-op, decided without
    decoding or diffing anything.  Any hand edit of either field changes the text,
    and such entries take the full comparison.
    """
    if stored.extra_raw is None:
        return False
    encoded = codec.encode_entry(desired, beat_timezone=beat_timezone, managed=True)
    return encoded.extra == stored.extra_raw and encoded.definition == stored.definition_raw


def _entry_notes(entry: Entry, beat_timezone: str) -> tuple[list[str], list[str]]:
    """(reasons it needs our scheduler, warnings) for an entry the files want."""
    requires = scheduler_only_features(entry, beat_timezone)
    warnings = [
        f"celery-redbeat's scheduler ignores {feature} (redbeat_sync.Scheduler honours it)"
        for feature in redbeat_ignored_features(entry)
    ]
    warnings += notes.entry_warnings(entry)
    return requires, warnings


def _source(spec_entry: SpecEntry) -> str:
    return f"{spec_entry.file}:{spec_entry.line}" if spec_entry.line else spec_entry.file


def _plan_wanted(
    spec_entry: SpecEntry,
    stored: StoredEntry | None,
    managed: bool,
    beat_timezone: str,
    now: datetime,
    zone_assumed: bool = False,
) -> Action:
    desired = spec_entry.entry
    requires, warnings = _entry_notes(desired, beat_timezone)
    source = _source(spec_entry)
    name = desired.name

    def action(kind: ActionKind, changes: list[FieldChange], runs: bool = False) -> Action:
        # The run history beat will have after apply: a create's new meta says "ran
        # now"; anything else keeps what Redis holds.
        history = stored.run if stored is not None else RunState(last_run_at=now)
        preview = preview_runs(desired, history, now) if runs else NOTHING
        return Action(
            kind=kind,
            name=name,
            desired=desired,
            current=stored,
            changes=changes,
            next_runs=list(preview.runs),
            at_once_for=preview.at_once_for,
            requires_scheduler=requires,
            warnings=warnings,
            source=source,
        )

    if stored is None:
        if isinstance(desired.schedule, At) and desired.schedule.when <= now:
            # A new entry counts as run at creation (RedBeat's rule, so nothing fires
            # the moment it is saved): a one-off already past would never run.
            warnings = [
                *warnings,
                f"one-off 'at' {desired.schedule.when.isoformat()} is in the past: "
                "it will never run",
            ]
        return action("create", [], runs=True)

    if managed and stored_as_written(desired, stored, beat_timezone):
        return action("noop", [])  # the common case: nothing decoded or diffed

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
    # An equivalent cron (*/15 vs 0,15,30,45) is no change: Redis keeps what it holds.
    changes = [c for c in changes if not semantics.equivalent_change(c.path, c.old, c.new)]
    if not changes and stored_inert(stored) != bool(requires):
        # Same entry, but stored for the other scheduler (e.g. beat's timezone
        # changed): rewrite it so celery-redbeat runs it, or stops running it wrongly.
        changes = [FieldChange("(stored for)", _RUNNERS[not requires], _RUNNERS[bool(requires)])]
    if not managed:
        adopted = action("adopt", changes, runs=is_reschedule(changes) or enables(changes))
        if stops_redbeat(adopted):
            adopted.warnings.insert(0, stops_redbeat_warning(requires, beat_timezone))
        if adopts_in_assumed_zone(adopted, beat_timezone, zone_assumed):
            adopted.warnings.insert(0, assumed_zone_warning(beat_timezone))
        return adopted
    if not stored.marked and not changes:
        warnings = ["ownership marker missing in Redis; apply restores it", *warnings]
        return action("update", [])
    if not changes:
        return action("noop", [])
    if is_reschedule(changes):
        return action("reschedule", changes, runs=True)
    # Re-enabling moves the next run too (from the kept last_run_at: maybe at once).
    return action("update", changes, runs=enables(changes))


def _plan_move(
    spec_entry: SpecEntry,
    old: StoredEntry,
    old_managed: bool,
    beat_timezone: str,
    now: datetime,
    zone_assumed: bool = False,
) -> Action:
    """Rename ``old`` to the entry the files name; field changes are shown beside it."""
    desired = spec_entry.entry
    requires, warnings = _entry_notes(desired, beat_timezone)
    changes: list[FieldChange] = []
    if old.entry is None:
        warnings = [
            f"stored definition of {old.name!r} could not be decoded ({old.error}); "
            "apply rewrites it from the files, keeping the run history",
            *warnings,
        ]
    else:
        before = {**old.entry.to_canonical(), "name": desired.name}
        after = desired.to_canonical()
        if not canonical_equal(before, after):
            changes = field_changes(before, after)
    if not old_managed:
        warnings = [f"{old.name!r} was not managed: the move adopts it", *warnings]
    preview = preview_runs(desired, old.run, now)  # apply carries the old meta over
    moved = Action(
        kind="move",
        name=desired.name,
        desired=desired,
        current=old,
        changes=changes,
        next_runs=list(preview.runs),
        at_once_for=preview.at_once_for,
        requires_scheduler=requires,
        warnings=warnings,
        source=_source(spec_entry),
        moved_from=old.name,
    )
    if stops_redbeat(moved):
        moved.warnings.insert(0, stops_redbeat_warning(requires, beat_timezone))
    if adopts_in_assumed_zone(moved, beat_timezone, zone_assumed):
        moved.warnings.insert(0, assumed_zone_warning(beat_timezone))
    return moved


def _release_note(stored: StoredEntry) -> str:
    if stored_inert(stored):
        return (
            "prune: false: released, not deleted; its schedule only redbeat_sync.Scheduler "
            "can run stays in its redbeat_sync field (marker off)"
        )
    return "prune: false: released (no longer managed), not deleted"


def compute_plan(
    spec: Spec,
    state: State,
    *,
    beat_timezone: str = DEFAULT_TIMEZONE,
    now: datetime | None = None,
    prefix: str = DEFAULT_PREFIX,
    beat_timezone_assumed: bool = False,
) -> Plan:
    """Diff the files (``spec``) against Redis (``state``): one action per entry.

    Entries in Redis that redbeat-sync does not manage and the files do not name are
    listed in ``plan.unmanaged`` and never touched.  ``beat_timezone_assumed``: the
    zone is a default, not known (adopting RedBeat crontabs is then refused).
    """
    with gc_paused():  # millions of acyclic containers: 2.5x slower at 100k otherwise
        return _compute_plan(
            spec, state, beat_timezone=beat_timezone, now=now, prefix=prefix,
            zone_assumed=beat_timezone_assumed,
        )  # fmt: skip


def _compute_plan(
    spec: Spec,
    state: State,
    *,
    beat_timezone: str,
    now: datetime | None,
    prefix: str,
    zone_assumed: bool,
) -> Plan:
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
    moved: set[str] = set()  # old names a move takes away
    for name, spec_entry in wanted.items():
        stored = state.entries.get(name)
        old_name = spec_entry.moved_from
        old = state.entries.get(old_name) if old_name is not None else None
        if old is not None and stored is None:
            moved.add(old.name)
            actions.append(
                _plan_move(spec_entry, old, old.name in inventory, beat_timezone, now, zone_assumed)
            )
            continue
        action = _plan_wanted(
            spec_entry, stored, name in inventory, beat_timezone, now, zone_assumed
        )
        if old is not None:  # both names exist: nothing to move, the old one is left over
            action.warnings.append(
                f"moved_from: {old_name!r} still exists but {name!r} does too, so nothing "
                f"is moved; {old_name!r} is handled like any entry the files do not name"
            )
        actions.append(action)

    for name in sorted(inventory - wanted.keys() - moved):
        stored = state.entries.get(name)
        warnings = [] if stored is not None else ["already gone from Redis: only forgets it"]
        if stored is not None and stored.entry is None:
            warnings.append(f"stored definition could not be decoded ({stored.error})")
        if stored is not None and stored.entry is not None and not stored.entry.prune:
            actions.append(Action("release", name, None, stored, warnings=[_release_note(stored)]))
            continue
        actions.append(Action("delete", name, None, stored, warnings=warnings))

    unmanaged: list[str] = []
    plan_warnings: list[str] = []
    for name in sorted(state.entries.keys() - inventory - wanted.keys() - moved):
        unmanaged.append(name)
        stored = state.entries[name]
        if stored.entry is None:
            plan_warnings.append(
                f"unmanaged entry {name!r} could not be decoded ({stored.error}); left as is"
            )

    # 1-3 lines when many wanted entries start in the same minute (insights.load).
    plan_warnings += load.plan_notes((item.entry for item in wanted.values()), now)
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
        beat_timezone_assumed=zone_assumed,
    )

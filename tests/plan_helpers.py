"""Hand-built specs and states for the pure planner tests (no Redis involved)."""

from __future__ import annotations

import json
from datetime import datetime, timezone

from redbeat_sync.fileformat.loader import Spec, SpecEntry
from redbeat_sync.schedule.entry import Cron, Entry, Every, RunState
from redbeat_sync.state.stored import State, StoredEntry

NOW = datetime(2026, 11, 24, 22, 0, tzinfo=timezone.utc)


def entry(name: str, **fields: object) -> Entry:
    values: dict[str, object] = {
        "task": "app.tasks.work",
        "schedule": Cron.from_expression("0 3 * * *"),
    }
    values.update(fields)
    return Entry(name=name, **values)  # type: ignore[arg-type]


def every(name: str, seconds: float, **fields: object) -> Entry:
    return entry(name, schedule=Every(seconds), **fields)


def spec(*entries: Entry) -> Spec:
    return Spec(
        entries=[SpecEntry(e, "schedules.yaml", i + 1, 1) for i, e in enumerate(entries)],
        files=["schedules.yaml"],
    )


def stored(
    value: Entry | None,
    *,
    name: str | None = None,
    managed: bool = True,
    marked: bool | None = None,
    run: RunState | None = None,
    error: str | None = None,
) -> StoredEntry:
    name = name or (value.name if value else "broken")
    definition = json.dumps(value.to_canonical()) if value else "{not json"
    return StoredEntry.decoded(
        name=name,
        key="redbeat:" + name,
        entry=value,
        run=run or RunState(),
        managed=managed,
        marked=managed if marked is None else marked,
        score=0.0,
        definition_raw=definition,
        extra_raw='{"managed":true}' if managed else None,
        error=error,
    )


def state(*entries: StoredEntry, inventory: set[str] | None = None) -> State:
    by_name = {e.name: e for e in entries}
    managed = {e.name for e in entries if e.managed} if inventory is None else inventory
    return State(entries=by_name, inventory=frozenset(managed), fingerprint="fp-1")

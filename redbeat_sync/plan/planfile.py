"""Save a plan to a file and load it back to apply exactly what was reviewed.

The file is JSON::

    {"format_version": "3", "kind": "redbeat-sync-plan",
     "fingerprint", "prefix", "beat_timezone", "beat_timezone_assumed",
     "target": {"redis_url": URL with the password masked, "db"} | null, "created_at",
     "actions": [{"action", "name", "source", "changes", "next_runs", "at_once_for",
                  "requires_scheduler", "warnings",
                  "desired": canonical entry | null,
                  "current": {"digest", "definition_raw", "extra_raw", "entry", "run", …} | null}],
     "noop": [names], "unmanaged": [names], "warnings": [...],
     "checksum": "sha256:<hex over everything else>"}

It keeps the raw stored fields of every entry it touches, so apply can guard each
write on the exact digest it was planned against.  The checksum only catches hand
edits and truncation: it is not a signature (anyone can recompute it).

Version 2: datetimes in args/kwargs/options are RedBeat's tagged objects in the
canonical entries themselves (version 1 kept ISO strings there plus a tagged copy in
``typed_values``).  Version 3: ``beat_timezone_assumed`` (apply refuses adopting
RedBeat crontabs read in a zone nobody gave) and ``target`` (the CLI's apply refuses
a plan made against another Redis or database).  A plan file is made to be applied
soon after: an older one is refused with a request to plan again rather than read
through a second code path.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ..errors import UserError
from ..schedule.entry import Entry, RunState
from ..state.stored import StoredEntry, field_digest
from .actions import ABSENT, Action, FieldChange, Plan, RedisTarget
from .kinds import CHANGING

FORMAT_VERSION = "3"
KIND = "redbeat-sync-plan"
_FILE_ACTIONS = CHANGING  # a plan file holds the changes only


def _checksum(body: dict[str, Any]) -> str:
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


# --------------------------------------------------------------------------- save


def _current_to_json(stored: StoredEntry) -> dict[str, Any]:
    return {
        "key": stored.key,
        "digest": stored.digest,
        "definition_raw": stored.definition_raw,
        "extra_raw": stored.extra_raw,
        "entry": stored.entry.to_canonical() if stored.entry is not None else None,
        "error": stored.error,
        "managed": stored.managed,
        "marked": stored.marked,
        "score": stored.score,
        "requires_scheduler": list(stored.requires_scheduler),
        "run": {
            "last_run_at": _iso(stored.run.last_run_at),
            "total_run_count": stored.run.total_run_count,
        },
    }


def _action_to_json(action: Action) -> dict[str, Any]:
    return {
        "action": action.kind,
        "name": action.name,
        "moved_from": action.moved_from,
        "source": action.source,
        "changes": [
            {
                "path": c.path,
                "change": c.change,
                "old": None if c.old is ABSENT else c.old,
                "new": None if c.new is ABSENT else c.new,
            }
            for c in action.changes
        ],
        "next_runs": [t.isoformat() for t in action.next_runs],
        "at_once_for": _iso(action.at_once_for),
        "requires_scheduler": list(action.requires_scheduler),
        "warnings": list(action.warnings),
        "desired": action.desired.to_canonical() if action.desired is not None else None,
        "current": _current_to_json(action.current) if action.current is not None else None,
    }


def plan_to_file_dict(plan: Plan) -> dict[str, Any]:
    body: dict[str, Any] = {
        "format_version": FORMAT_VERSION,
        "kind": KIND,
        "fingerprint": plan.fingerprint,
        "prefix": plan.prefix,
        "beat_timezone": plan.beat_timezone,
        "beat_timezone_assumed": plan.beat_timezone_assumed,
        "target": asdict(plan.target) if plan.target is not None else None,
        "created_at": plan.created_at.isoformat(),
        "actions": [_action_to_json(a) for a in plan.changes],
        "noop": [a.name for a in plan.actions if a.kind == "noop"],
        "unmanaged": list(plan.unmanaged),
        "warnings": list(plan.warnings),
    }
    body["checksum"] = _checksum(body)
    return body


def save_plan(plan: Plan, path: str | Path) -> None:
    """Write the plan file atomically (a reader never sees half a file)."""
    target = Path(path)
    text = json.dumps(plan_to_file_dict(plan), indent=1, ensure_ascii=False)
    temporary = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        temporary.write_text(text + "\n", encoding="utf-8")
        os.replace(temporary, target)
    except OSError as exc:
        temporary.unlink(missing_ok=True)
        raise UserError(f"cannot write plan file {target}: {exc.strerror or exc}") from exc


# --------------------------------------------------------------------------- load


def _in_zone(moment: str, zone: str) -> datetime:
    parsed = datetime.fromisoformat(moment)
    try:
        return parsed.astimezone(ZoneInfo(zone))
    except (ZoneInfoNotFoundError, ValueError):
        return parsed


def _current_from_json(name: str, data: dict[str, Any]) -> StoredEntry:
    run = data["run"]
    last_run_at = run["last_run_at"]
    stored = StoredEntry.decoded(
        name=name,
        key=data["key"],
        entry=Entry.from_canonical(data["entry"]) if data["entry"] is not None else None,
        run=RunState(
            last_run_at=datetime.fromisoformat(last_run_at) if last_run_at else None,
            total_run_count=int(run["total_run_count"]),
        ),
        managed=bool(data["managed"]),
        marked=bool(data["marked"]),
        score=data["score"],
        definition_raw=data["definition_raw"],
        extra_raw=data["extra_raw"],
        error=data["error"],
        requires_scheduler=tuple(data["requires_scheduler"]),
    )
    if field_digest(stored.definition_raw, stored.extra_raw) != data["digest"]:
        raise ValueError(f"stored fields of {name!r} do not match their digest")
    return stored


def _change_from_json(data: dict[str, Any]) -> FieldChange:
    old = ABSENT if data["change"] == "added" else data["old"]
    new = ABSENT if data["change"] == "removed" else data["new"]
    return FieldChange(data["path"], old, new)


def _action_from_json(data: dict[str, Any]) -> Action:
    name = data["name"]
    desired = Entry.from_canonical(data["desired"]) if data["desired"] is not None else None
    zone = desired.timezone if desired is not None else "UTC"
    moved_from = data.get("moved_from")  # absent in files saved before moves existed
    current = data["current"]
    return Action(
        kind=data["action"],
        name=name,
        desired=desired,
        current=_current_from_json(moved_from or name, current) if current else None,
        changes=[_change_from_json(c) for c in data["changes"]],
        next_runs=[_in_zone(t, zone) for t in data["next_runs"]],
        at_once_for=_in_zone(data["at_once_for"], zone) if data["at_once_for"] else None,
        requires_scheduler=list(data["requires_scheduler"]),
        warnings=list(data["warnings"]),
        source=data["source"],
        moved_from=moved_from,
    )


def _target_from_json(data: dict[str, Any] | None) -> RedisTarget | None:
    if data is None:
        return None
    return RedisTarget(redis_url=str(data["redis_url"]), db=int(data["db"]))


def plan_from_file_dict(data: Any, where: str = "plan file") -> Plan:
    if not isinstance(data, dict) or data.get("kind") != KIND:
        raise UserError(f"{where} is not a redbeat-sync plan file")
    if data.get("format_version") != FORMAT_VERSION:
        raise UserError(
            f"{where} has plan format {data.get('format_version')!r} (saved by another "
            f"redbeat-sync version); this version reads format {FORMAT_VERSION!r}: "
            "run plan again and apply the new plan file"
        )
    body = {k: v for k, v in data.items() if k != "checksum"}
    if data.get("checksum") != _checksum(body):
        raise UserError(f"{where} was modified after it was saved (checksum mismatch)")
    try:
        actions = [_action_from_json(a) for a in data["actions"]]
        unknown = [a.kind for a in actions if a.kind not in _FILE_ACTIONS]
        if unknown:
            raise ValueError(f"unknown action {unknown[0]!r}")
        actions += [Action("noop", name, None, None) for name in data["noop"]]
        return Plan(
            actions=actions,
            fingerprint=data["fingerprint"],
            unmanaged=list(data["unmanaged"]),
            prefix=data["prefix"],
            created_at=datetime.fromisoformat(data["created_at"]),
            beat_timezone=data["beat_timezone"],
            warnings=list(data["warnings"]),
            beat_timezone_assumed=bool(data["beat_timezone_assumed"]),
            target=_target_from_json(data["target"]),
        )
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise UserError(f"{where} is malformed: {exc}") from exc


def load_plan(path: str | Path) -> Plan:
    """Read a plan file; ``UserError`` when unreadable, foreign or tampered with."""
    source = Path(path)
    try:
        text = source.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"cannot read plan file {source}: {exc}") from exc
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UserError(f"{source} is not a redbeat-sync plan file (not JSON: {exc})") from exc
    return plan_from_file_dict(data, str(source))

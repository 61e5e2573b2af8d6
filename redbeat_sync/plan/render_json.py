"""A plan as JSON for machines (``redbeat-sync plan --json``).

Shape, ``format_version`` "2" (fields are only ever added within a version; a change
that could break a reader bumps the version)::

    {
      "format_version": "2",
      "prefix": "redbeat:",                 # key prefix the plan is for
      "beat_timezone": "UTC",               # zone celery beat runs in
      "beat_timezone_assumed": false,       # true: UTC by default (no --app/--beat-timezone)
      "fingerprint": "…",                   # state fingerprint the plan was made from
      "created_at": "2026-11-24T22:00:00+00:00",
      "summary": {                          # reschedules are counted in "update"
        "create": 1, "update": 2, "delete": 0, "adopt": 0, "noop": 97, "unmanaged": 3
      },
      "actions": [                          # changes only (no-ops are only counted)
        {
          "action": "create" | "update" | "reschedule" | "delete" | "adopt"
                    | "move" | "release",
          "name": "nightly-report",
          "moved_from": "old-name" | null,  # move: the old name (its key goes)
          "source": "schedules/reports.yaml:12" | null,
          "changes": [                      # field-level; empty for create/delete
            {"path": "options.queue", "change": "changed" | "added" | "removed",
             "old": "default", "new": "low"}     # old/new null when absent
          ],
          "next_runs": ["2026-11-25T03:00:00+01:00", …],   # when beat sends, entry's zone
          "at_once_for": "2026-11-24T21:37:07+00:00" | null,  # next_runs[0] goes out at
                                            # once (plan time), for this (earlier) slot
          "requires_scheduler": ["cron in Europe/Paris, beat runs in UTC"],
          "warnings": ["…"],
          "frequency": {"before": 96, "after": 24, "unit": "day"} | null,
          "before": {canonical entry} | null,   # as stored in Redis (null: none/undecodable)
          "after": {canonical entry} | null     # as the files want it (null: delete)
        }
      ],
      "unmanaged": ["legacy-a", "legacy-b"],  # in Redis, not managed, not in the files
      "warnings": ["…"]                     # not tied to one action
    }

A canonical entry is ``Entry.to_canonical()``: name, task, schedule ({"cron": "…"} |
{"every": seconds} | {"rrule": {…}} | {"at": iso}), args, kwargs, options, enabled,
timezone, description, labels, start_at, end_at, jitter, misfire, deadline.  Datetimes
in args, kwargs and options (and in ``changes`` under them) are RedBeat's stored
objects ``{"__type__": "datetime", "year": …, "timezone": "UTC" | zone | offset}``:
the form the task receives them from, distinct from any string.

Version 2 (from 1): those datetimes were UTC ISO strings, indistinguishable from
strings; ``at_once_for`` was added.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from ..schedule import equivalence as semantics
from .actions import ABSENT, Action, FieldChange, Plan

FORMAT_VERSION = "2"


def _change(change: FieldChange) -> dict[str, Any]:
    return {
        "path": change.path,
        "change": change.change,
        "old": None if change.old is ABSENT else change.old,
        "new": None if change.new is ABSENT else change.new,
    }


def action_to_json(action: Action, now: datetime | None = None) -> dict[str, Any]:
    before = None
    if action.current is not None and action.current.entry is not None:
        before = action.current.entry.to_canonical()
    return {
        "action": action.kind,
        "name": action.name,
        "moved_from": action.moved_from,
        "source": action.source,
        "changes": [_change(c) for c in action.changes],
        "next_runs": [t.isoformat() for t in action.next_runs],
        "at_once_for": action.at_once_for.isoformat() if action.at_once_for else None,
        "requires_scheduler": list(action.requires_scheduler),
        "warnings": list(action.warnings),
        # {"before": 96, "after": 24, "unit": "day"} when the run rate changes, else null
        "frequency": semantics.action_frequency(action, now),
        "before": before,
        "after": action.desired.to_canonical() if action.desired is not None else None,
    }


def plan_to_json(plan: Plan) -> dict[str, Any]:
    return {
        "format_version": FORMAT_VERSION,
        "prefix": plan.prefix,
        "beat_timezone": plan.beat_timezone,
        "beat_timezone_assumed": plan.beat_timezone_assumed,
        "fingerprint": plan.fingerprint,
        "created_at": plan.created_at.isoformat(),
        "summary": plan.summary(),
        "actions": [action_to_json(a, plan.created_at) for a in plan.changes],
        "unmanaged": list(plan.unmanaged),
        "warnings": list(plan.warnings),
        "paused": dict(sorted(plan.paused.items())),
    }


def render_json(plan: Plan, *, indent: int | None = 2) -> str:
    return json.dumps(plan_to_json(plan), indent=indent, ensure_ascii=False, default=str)

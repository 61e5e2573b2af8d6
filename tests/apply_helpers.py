"""Plan schedule files against what Redis holds and apply the plan, in-process.

For tests whose subject is not apply itself (they need entries in Redis the way
``redbeat-sync apply`` writes them); apply's own tests call ``apply_plan`` directly.
"""

from __future__ import annotations

from datetime import datetime

import redis

from redbeat_sync.apply import ApplyResult, apply_plan
from redbeat_sync.fileformat.loader import Spec
from redbeat_sync.plan.actions import Plan
from redbeat_sync.plan.compare import compute_plan
from redbeat_sync.state.layout import Layout
from redbeat_sync.state.reader import read_state


def plan_files(
    client: redis.Redis, layout: Layout, files: Spec, *, now: datetime | None = None
) -> Plan:
    """The plan for ``files`` against Redis under ``layout`` (beat in UTC)."""
    state = read_state(client, layout)
    return compute_plan(files, state, now=now, prefix=layout.prefix)


def apply_files(client: redis.Redis, layout: Layout, files: Spec, **options: object) -> ApplyResult:
    """Plan ``files`` and apply that plan; ``options`` are ``apply_plan``'s."""
    values: dict[str, object] = {"lock_timeout": 5.0, "who": "tester"}
    values.update(options)
    return apply_plan(client, layout, plan_files(client, layout, files), **values)  # type: ignore[arg-type]

"""A one-off `at` already in the past is created, but the plan says it never runs."""

from __future__ import annotations

from datetime import datetime, timezone

import redis

from redbeat_sync.fileformat.loader import load_text
from redbeat_sync.plan.compare import compute_plan
from redbeat_sync.state.layout import Layout
from redbeat_sync.state.reader import read_state


def test_past_one_off_is_flagged(redis_client: redis.Redis) -> None:
    text = (
        "version: 1\nentries:\n"
        "  past:\n    task: a.b\n    schedule: {at: 2020-01-01T00:00:00}\n"
        "  future:\n    task: a.b\n    schedule: {at: 2099-01-01T00:00:00}\n"
    )
    plan = compute_plan(
        load_text(text, file="s.yaml"),
        read_state(redis_client, Layout()),
        now=datetime(2026, 1, 1, tzinfo=timezone.utc),
    )
    notes = {a.name: a.warnings for a in plan.actions}
    assert any("in the past: it will never run" in w for w in notes["past"])
    assert not any("in the past" in w for w in notes["future"])

"""Re-enabling an entry through apply gives it a real score again.

redbeat_sync.Scheduler parks disabled entries at score -1 so they are not re-read every
tick; an apply that re-enables one must not leave it parked.
"""

from __future__ import annotations

import redis

from redbeat_sync.apply import apply_plan
from redbeat_sync.fileformat.loader import load_text
from redbeat_sync.plan.compare import compute_plan
from redbeat_sync.state.layout import Layout
from redbeat_sync.state.reader import read_state

LAYOUT = Layout("redbeat:")


def _apply(client: redis.Redis, text: str) -> None:
    state = read_state(client, LAYOUT)
    plan = compute_plan(load_text(text, file="s.yaml"), state, prefix=LAYOUT.prefix)
    apply_plan(
        client,
        LAYOUT,
        plan,
        beat_timezone="UTC",
        max_deletes=None,
        allow_mass_delete=False,
        lock_timeout=5,
        message=None,
        who="test",
    )


def schedule_file(enabled: bool) -> str:
    return (
        "version: 1\nentries:\n  hourly:\n    task: app.tasks.x\n"
        f"    schedule: {{every: 1h}}\n    enabled: {'true' if enabled else 'false'}\n"
    )


def test_re_enabled_entry_leaves_the_parked_score(redis_client: redis.Redis) -> None:
    _apply(redis_client, schedule_file(enabled=False))
    key = LAYOUT.entry_key("hourly")
    redis_client.zadd(LAYOUT.schedule_key, {key: -1})  # as beat parks a disabled entry
    _apply(redis_client, schedule_file(enabled=True))
    score = redis_client.zscore(LAYOUT.schedule_key, key)
    assert score is not None and score > 0
    plan = compute_plan(
        load_text(schedule_file(enabled=True), file="s.yaml"),
        read_state(redis_client, LAYOUT),
        prefix=LAYOUT.prefix,
    )
    assert not plan.has_changes

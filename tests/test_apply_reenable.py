"""Re-enabling an entry through apply gives it a real score again.

redbeat_sync.Scheduler parks disabled entries at score -1 so they are not re-read every
tick; an apply that re-enables one must not leave it parked.
"""

from __future__ import annotations

import redis
from apply_helpers import apply_files, plan_files

from redbeat_sync.fileformat.loader import Spec, load_text
from redbeat_sync.state.layout import Layout

LAYOUT = Layout("redbeat:")


def schedule_file(enabled: bool) -> Spec:
    return load_text(
        "version: 1\nentries:\n  hourly:\n    task: app.tasks.x\n"
        f"    schedule: {{every: 1h}}\n    enabled: {'true' if enabled else 'false'}\n",
        file="s.yaml",
    )


def test_re_enabled_entry_leaves_the_parked_score(redis_client: redis.Redis) -> None:
    apply_files(redis_client, LAYOUT, schedule_file(enabled=False))
    key = LAYOUT.entry_key("hourly")
    redis_client.zadd(LAYOUT.schedule_key, {key: -1})  # as beat parks a disabled entry
    apply_files(redis_client, LAYOUT, schedule_file(enabled=True))
    score = redis_client.zscore(LAYOUT.schedule_key, key)
    assert score is not None and score > 0
    assert not plan_files(redis_client, LAYOUT, schedule_file(enabled=True)).has_changes

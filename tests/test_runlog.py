"""The run history in Redis: capped, outcomes merged by task id, skips collapsed."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta, timezone

import pytest
import redis

from redbeat_sync.beat.runlog import (
    append_runs,
    failing_entries,
    latest_runs,
    read_runs,
    record_skips,
    sent_record,
    still_running,
    update_run,
)
from redbeat_sync.schedule.entry import Entry, Every
from redbeat_sync.state.layout import Layout

UTC = timezone.utc
LAYOUT = Layout("rl:")


@pytest.fixture
def client(redis_url: str) -> Iterator[redis.Redis]:
    made = redis.Redis.from_url(redis_url, decode_responses=True)
    yield made
    made.close()


def sent(task_id: str) -> dict:
    return sent_record(task_id=task_id, slot=None, covers_from=None)


def test_history_is_capped_and_outcomes_merge_by_task_id(client: redis.Redis) -> None:
    append_runs(client, LAYOUT, [("a", sent(f"t{i}")) for i in range(30)], keep=20)
    runs = read_runs(client, LAYOUT, "a", 100)
    assert len(runs) == 20 and runs[0]["task_id"] == "t29"
    assert update_run(client, LAYOUT, "a", "t25", {"state": "failed", "error": "E: x"})
    assert not update_run(client, LAYOUT, "a", "t0", {"state": "failed"})  # trimmed: ignored
    assert read_runs(client, LAYOUT, "a", 100)[4]["state"] == "failed"


def test_failing_entries_needs_k_failures_in_a_row(client: redis.Redis) -> None:
    for name, states in {"bad": ["failed", "failed"], "flaky": ["failed", "succeeded"]}.items():
        append_runs(client, LAYOUT, [(name, sent(f"{name}{i}")) for i in range(2)], keep=20)
        for i, state in enumerate(reversed(states)):
            update_run(client, LAYOUT, name, f"{name}{i}", {"state": state})
    append_runs(client, LAYOUT, [("bad", sent("open"))], keep=20)  # still running: passed over
    assert set(failing_entries(client, LAYOUT, 2)) == {"bad"}
    assert set(failing_entries(client, LAYOUT, 1)) == {"bad", "flaky"}


def test_skips_behind_one_run_collapse_and_keep_it_visible(client: redis.Redis) -> None:
    append_runs(client, LAYOUT, [("s", sent("long"))], keep=3)
    for _ in range(10):
        skip = sent_record(task_id=None, slot=None, covers_from=None, state="skipped")
        skip["blocked_by"] = "long"
        record_skips(client, LAYOUT, [("s", skip)], keep=3)
    runs = read_runs(client, LAYOUT, "s")
    assert [r["state"] for r in runs] == ["skipped", "sent"] and runs[0]["count"] == 10
    blocking = latest_runs(client, LAYOUT, ["s"])["s"]
    entry = Entry("s", "t", Every(1.0), overlap="skip", overlap_timeout=60.0)
    now = datetime.fromisoformat(blocking["sent_at"])
    assert still_running(blocking, entry, now + timedelta(seconds=59))
    assert not still_running(blocking, entry, now + timedelta(seconds=61))  # timed out


def test_a_skipped_run_reads_as_skipped_with_its_count() -> None:
    from redbeat_sync.cli.runs import run_line

    line = run_line(
        {"slot": "2030-01-01T12:00:00+00:00", "state": "skipped", "count": 3,
         "sent_at": "2030-01-01T12:00:00.1", "host": "h", "reason": "overlap: busy"}
    )  # fmt: skip
    assert "skipped x3" in line and "decided 2030" in line and "sent" not in line
    sent = run_line({"slot": "s", "state": "succeeded", "sent_at": "t", "host": "h"})
    assert "sent t by h" in sent

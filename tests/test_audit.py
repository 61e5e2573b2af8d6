"""Apply history: capped stream, newest first, types preserved."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
import redis

from redbeat_sync.state.audit import append_record, make_record, read_history
from redbeat_sync.state.layout import Layout

LAYOUT = Layout("{au}:")


def test_round_trip_keeps_types(redis_client: redis.Redis) -> None:
    record = make_record(
        who="alice@laptop",
        plan_digest="abc123",
        counts={"created": 2, "updated": 1, "deleted": 0},
        message="nightly tweak",
        git_sha=None,
        host="laptop",
        when=datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc),
        dry=False,
    )
    stream_id = append_record(redis_client, LAYOUT, record)
    [got] = read_history(redis_client, LAYOUT)
    assert got.pop("id") == stream_id
    assert got == {**record, "when": "2026-01-02T03:04:05+00:00"}
    assert got["counts"] == {"created": 2, "updated": 1, "deleted": 0}
    assert got["git_sha"] is None and got["dry"] is False
    # stored as flat strings in Redis
    raw = redis_client.xrange(LAYOUT.history_key)[0][1]
    assert raw["who"] == "alice@laptop" and raw["counts"].startswith("{")


def test_text_that_looks_like_json_stays_text(redis_client: redis.Redis) -> None:
    append_record(redis_client, LAYOUT, {"message": "42", "n": 42})
    [got] = read_history(redis_client, LAYOUT)
    assert got["message"] == "42" and got["n"] == 42


def test_newest_first_and_count(redis_client: redis.Redis) -> None:
    for n in range(5):
        append_record(redis_client, LAYOUT, {"n": n})
    assert [r["n"] for r in read_history(redis_client, LAYOUT)] == [4, 3, 2, 1, 0]
    assert [r["n"] for r in read_history(redis_client, LAYOUT, count=2)] == [4, 3]
    assert read_history(redis_client, Layout("{empty}:")) == []


def test_exact_cap(redis_client: redis.Redis) -> None:
    for n in range(30):
        append_record(redis_client, LAYOUT, {"n": n}, maxlen=10, approximate=False)
    assert redis_client.xlen(LAYOUT.history_key) == 10
    assert [r["n"] for r in read_history(redis_client, LAYOUT, count=100)] == list(
        range(29, 19, -1)
    )


def test_approximate_cap_bounds_growth(redis_client: redis.Redis) -> None:
    for n in range(600):
        append_record(redis_client, LAYOUT, {"n": n}, maxlen=50)
    length = redis_client.xlen(LAYOUT.history_key)
    # "~" trims whole stream nodes (100 entries by default): bounded, not exact
    assert 50 <= length <= 50 + 100
    assert read_history(redis_client, LAYOUT, count=1)[0]["n"] == 599


def test_reserved_names_rejected(redis_client: redis.Redis) -> None:
    with pytest.raises(ValueError):
        append_record(redis_client, LAYOUT, {"_json": "x"})
    with pytest.raises(ValueError):
        append_record(redis_client, LAYOUT, {})

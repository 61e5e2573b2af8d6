"""``move-prefix`` when nothing is under the old prefix (plain Redis; Cluster moves are
in test_prefix_move.py): a mistyped prefix is refused, a finished move says so."""

from __future__ import annotations

import redis
from redis_topologies import cli

from redbeat_sync.schedule.entry import Entry, Every
from redbeat_sync.state import codec
from redbeat_sync.state.layout import DEFINITION_FIELD, Layout

OLD, NEW = Layout("rs-move-old:"), Layout("rs-move-new:")


def test_nothing_under_either_prefix_is_an_error_and_writes_nothing(
    redis_url: str, redis_client: redis.Redis
) -> None:
    refused = cli(
        "move-prefix", "--to", "big:", "--key-prefix", "nothing:", "--redis-url", redis_url
    )
    assert refused.code == 1, refused.all
    (line,) = refused.stderr.strip().splitlines()
    assert "nothing is stored under the prefix 'nothing:'" in line, line
    assert "Moved" not in refused.all and "redbeat_key_prefix = 'big:'" not in refused.all
    assert redis_client.keys("*") == []


def test_running_a_finished_move_again_says_it_is_done(
    redis_url: str, redis_client: redis.Redis
) -> None:
    encoded = codec.encode_entry(Entry("tick", "tasks.t", Every(60.0)), managed=True)
    redis_client.hset(OLD.entry_key("tick"), DEFINITION_FIELD, encoded.definition)
    redis_client.zadd(OLD.schedule_key, {OLD.entry_key("tick"): 1767614400})
    redis_client.sadd(OLD.inventory_key, "tick")
    args = ("move-prefix", "--to", NEW.prefix, "--key-prefix", OLD.prefix, "--redis-url")
    moved = cli(*args, redis_url)
    assert moved.code == 0 and "Moved 1 entries" in moved.stdout, moved.all
    again = cli(*args, redis_url)  # e.g. the first run died after deleting the old keys
    assert again.code == 0, again.all
    assert f"Nothing left under {OLD.prefix!r}: the move is already done" in again.stdout
    assert "1 entries and 1 managed names" in again.stdout
    assert redis_client.hget(NEW.entry_key("tick"), DEFINITION_FIELD) == encoded.definition

"""``redbeat-sync move-prefix`` on a real 3-master Redis Cluster (issue 10 §3).

A deployment under RedBeat's default ``redbeat:`` (its keys on several slots, which
Cluster refuses for beat and apply) moves to ``{redbeat}:``: every entry with its run
history and score, the inventory, the statics and the apply history; safe to run
again, refused while a beat holds the lock.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta, timezone

import pytest
from redis.cluster import RedisCluster
from redis_topologies import ClusterSetup, cli

from redbeat_sync.schedule.entry import Cron, Entry, Every, RunState
from redbeat_sync.state import codec
from redbeat_sync.state.layout import DEFINITION_FIELD, EXTRA_FIELD, META_FIELD, Layout
from redbeat_sync.state.topology import prefix_slots

pytestmark = pytest.mark.slow

OLD, NEW = Layout("redbeat:"), Layout("{redbeat}:")
NOW = datetime(2026, 1, 5, 12, 0, tzinfo=timezone.utc)


@pytest.fixture
def client(redis_cluster: ClusterSetup) -> Iterator[RedisCluster]:
    port = redis_cluster.nodes[0].port
    made = RedisCluster(host="127.0.0.1", port=port, decode_responses=True)
    yield made
    made.close()


def _old_deployment(client: RedisCluster) -> dict[str, dict[str, str]]:
    """What RedBeat and an apply left under ``redbeat:``, written key by key."""
    entries = {
        "nightly": (Entry("nightly", "tasks.n", Cron("0", "3")), True, 7),
        "every-minute": (Entry("every-minute", "tasks.m", Every(60.0)), True, 120),
        "redbeat-own": (Entry("redbeat-own", "tasks.r", Every(5.0)), False, 3),
    }
    stored = {}
    for name, (entry, managed, runs) in entries.items():
        encoded = codec.encode_entry(entry, managed=managed)
        fields = {
            DEFINITION_FIELD: encoded.definition,
            META_FIELD: codec.encode_meta(RunState(NOW - timedelta(minutes=runs), runs)),
        }
        if encoded.extra is not None:
            fields[EXTRA_FIELD] = encoded.extra
        client.hset(OLD.entry_key(name), mapping=fields)
        client.zadd(OLD.schedule_key, {OLD.entry_key(name): 1767614400 + runs})
        stored[name] = fields
    client.sadd(OLD.inventory_key, "nightly", "every-minute")
    client.sadd(OLD.statics_key, "redbeat-own")
    client.xadd(OLD.history_key, {"record": '{"applied": 2}'})
    return stored


def _keys_under(cluster: ClusterSetup, prefix: str) -> set[str]:
    found: set[str] = set()
    for node in cluster.nodes:
        direct = node.client()
        found |= {k for k in direct.scan_iter() if k.startswith(prefix)}
        direct.close()
    return found


def test_move_keeps_history_and_inventory_and_is_safe_to_rerun(
    redis_cluster: ClusterSetup, client: RedisCluster
) -> None:
    assert len(prefix_slots(OLD)) > 1  # the reason to move at all
    stored = _old_deployment(client)
    url = redis_cluster.url()
    refused = cli("show", "--redis-url", url)  # the old prefix is refused under Cluster
    assert refused.code == 1 and "hash slots" in refused.stderr

    moved = cli("move-prefix", "--to", NEW.prefix, "--redis-url", url)
    assert moved.code == 0, moved.all
    assert "Moved 3 entries" in moved.stdout and "2 managed names" in moved.stdout
    for name, fields in stored.items():
        assert client.hgetall(NEW.entry_key(name)) == fields  # meta (run history) included
    scores = dict(client.zrange(NEW.schedule_key, 0, -1, withscores=True))
    assert scores == {NEW.entry_key("nightly"): 1767614407, NEW.entry_key("every-minute"):
                      1767614520, NEW.entry_key("redbeat-own"): 1767614403}  # fmt: skip
    assert client.smembers(NEW.inventory_key) == {"nightly", "every-minute"}
    assert client.smembers(NEW.statics_key) == {"redbeat-own"}
    assert len(client.xrange(NEW.history_key)) == 1
    assert _keys_under(redis_cluster, OLD.prefix) == set()
    assert (
        len({RedisCluster.keyslot(client, k) for k in _keys_under(redis_cluster, NEW.prefix)}) == 1
    )

    shown = cli("show", "--redis-url", url, "--key-prefix", NEW.prefix)
    assert shown.code == 0 and "nightly" in shown.stdout, shown.all
    again = cli("move-prefix", "--to", NEW.prefix, "--redis-url", url)
    assert again.code == 0, again.all
    assert "the move is already done (3 entries and 2 managed names" in again.stdout
    for name, fields in stored.items():
        assert client.hgetall(NEW.entry_key(name)) == fields
    assert len(client.xrange(NEW.history_key)) == 1


def test_an_interrupted_move_is_finished_by_running_it_again(
    redis_cluster: ClusterSetup, client: RedisCluster
) -> None:
    stored = _old_deployment(client)
    # As if a first run died after copying one entry (old keys all still there).
    client.hset(NEW.entry_key("nightly"), mapping=stored["nightly"])
    done = cli("move-prefix", "--to", NEW.prefix, "--redis-url", redis_cluster.url())
    assert done.code == 0, done.all
    assert {n: client.hgetall(NEW.entry_key(n)) for n in stored} == stored
    assert _keys_under(redis_cluster, OLD.prefix) == set()


@pytest.mark.parametrize("lock", [OLD.beat_lock_key, NEW.beat_lock_key, OLD.sync_lock_key])
def test_refused_while_a_beat_or_an_apply_holds_a_lock(
    redis_cluster: ClusterSetup, client: RedisCluster, lock: str
) -> None:
    stored = _old_deployment(client)
    client.set(lock, "held", ex=60)
    refused = cli("move-prefix", "--to", NEW.prefix, "--redis-url", redis_cluster.url())
    assert refused.code == 1 and "lock is held" in refused.stderr, refused.all
    assert _keys_under(redis_cluster, NEW.prefix) == ({lock} if lock.startswith("{") else set())
    assert {n: client.hgetall(OLD.entry_key(n)) for n in stored} == stored


def test_refused_when_the_new_prefix_holds_other_entries(
    redis_cluster: ClusterSetup, client: RedisCluster
) -> None:
    _old_deployment(client)
    client.hset(NEW.entry_key("nightly"), DEFINITION_FIELD, '{"other": true}')
    refused = cli("move-prefix", "--to", NEW.prefix, "--redis-url", redis_cluster.url())
    assert refused.code == 1 and "already holds other entries named nightly" in refused.stderr
    assert client.exists(OLD.entry_key("every-minute"))

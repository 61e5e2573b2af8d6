"""Redis Cluster (3 masters, no replicas): CLI and beat with a hash-tagged prefix."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import redis
from beat_app import LEAD_WAIT, leading, make_app, queued
from redis.cluster import RedisCluster
from redis_topologies import ClusterSetup, cli, plan_apply_show, write_spec

from devsupport.devserver import RedisServer
from redbeat_sync import Scheduler
from redbeat_sync.errors import UserError
from redbeat_sync.schedule.entry import Entry, Every
from redbeat_sync.state import writer
from redbeat_sync.state.connection import RedisSettings
from redbeat_sync.state.layout import Layout
from redbeat_sync.state.stored import Put
from redbeat_sync.state.topology import prefix_slots

PREFIX = "{redbeat}:"


def _our_keys(cluster: ClusterSetup, prefix: str) -> dict[str, int]:
    """Every key under ``prefix`` on any node -> the node port holding it."""
    found: dict[str, int] = {}
    for node in cluster.nodes:
        client = node.client()
        for key in client.scan_iter(match=prefix.replace("{", "\\{").replace("}", "\\}") + "*"):
            found[key] = node.port
        client.close()
    return found


def test_cli_plan_apply_export_show_and_one_slot(redis_cluster: ClusterSetup, tmp_path: Path):
    spec = write_spec(tmp_path)
    url = redis_cluster.url()
    plan_apply_show(url, spec, prefix=PREFIX)

    exported = cli("export", "--redis-url", url, "--key-prefix", PREFIX)
    assert exported.code == 0, exported.all
    assert "conn-hourly" in exported.stdout
    history = cli("history", "--redis-url", url, "--key-prefix", PREFIX)
    assert history.code == 0, history.all

    keys = _our_keys(redis_cluster, PREFIX)
    assert {PREFIX + ":schedule", PREFIX + ":sync:managed", PREFIX + "conn-hourly"} <= set(keys)
    node = redis_cluster.nodes[0].client()
    slots = {node.execute_command("CLUSTER", "KEYSLOT", key) for key in keys}
    node.close()
    assert len(slots) == 1, slots
    assert len(set(keys.values())) == 1  # so all on one master
    assert prefix_slots(Layout(PREFIX)) == slots


def test_untagged_prefix_is_one_clear_line(redis_cluster: ClusterSetup, tmp_path: Path):
    spec = write_spec(tmp_path)
    for args in (
        ["plan", spec],
        ["apply", spec, "--auto-approve"],
        ["show"],
    ):
        result = cli(*args, "--redis-url", redis_cluster.url(), "--key-prefix", "redbeat:")
        assert result.code == 1, result.all
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1, result.stderr
        assert "hash-tagged prefix such as '{redbeat}:'" in lines[0]
        assert "Traceback" not in result.all
    assert _our_keys(redis_cluster, "redbeat:") == {}


def test_cluster_option_and_startup_nodes(redis_cluster: ClusterSetup):
    first = redis_cluster.nodes[0]
    by_option = RedisSettings(f"redis://127.0.0.1:{first.port}/0", {"cluster": True}).connect()
    assert isinstance(by_option, RedisCluster)
    nodes = [{"host": "127.0.0.1", "port": str(n.port)} for n in redis_cluster.nodes]
    by_nodes = RedisSettings("redis-cluster://", {"startup_nodes": nodes}).connect()
    assert isinstance(by_nodes, RedisCluster)
    by_option.set(PREFIX + "x", "1")
    assert by_nodes.get(PREFIX + "x") == "1"
    by_option.close()
    by_nodes.close()
    with pytest.raises(UserError, match="only database 0"):
        RedisSettings(redis_cluster.url() + "/3").connect()


def test_beat_ticks_on_cluster(redis_cluster: ClusterSetup, redis_server: RedisServer, tmp_path):
    """Lock, claim script, change notifications (pub/sub) and sends, all via Cluster."""
    broker_url = redis_server.url.rsplit("/", 1)[0] + "/6"
    broker = redis.Redis.from_url(broker_url, decode_responses=True)
    broker.flushdb()
    spec = write_spec(tmp_path)
    applied = cli("apply", spec, "--auto-approve", "--redis-url", redis_cluster.url(),
                  "--key-prefix", PREFIX)  # fmt: skip
    assert applied.code == 0, applied.all
    app = make_app(redis_cluster.url(), broker_url, redbeat_key_prefix=PREFIX)
    beat = Scheduler(app)
    try:
        beat.start()
        leading(beat)
        deadline = time.monotonic() + LEAD_WAIT  # a bound on waiting only
        while len(queued(broker)) < 2 and time.monotonic() < deadline:
            beat.tick()
        sent = queued(broker)
        assert len(sent) >= 2 and {m["task"] for m in sent} == {"tests.beat_app.record"}
        cluster_client = beat.client
        assert isinstance(cluster_client, RedisCluster)
        assert cluster_client.get(PREFIX + ":lock") == beat.token
        # An apply's notification reaches the beat's subscription through the cluster.
        beat.listener.take_changes()
        removed = cli("apply", write_spec(tmp_path, "version: 1\nentries: {}\n"),
                      "--auto-approve", "--allow-mass-delete", "--redis-url",
                      redis_cluster.url(), "--key-prefix", PREFIX)  # fmt: skip
        assert removed.code == 0, removed.all
        assert beat.listener.event.wait(LEAD_WAIT)
        names, everything = beat.listener.take_changes()
        assert everything or "conn-hourly" in names
    finally:
        beat.close()
        broker.close()


def test_beat_refuses_untagged_prefix_on_cluster(redis_cluster: ClusterSetup):
    app = make_app(redis_cluster.url(), "memory://", redbeat_key_prefix="redbeat:")
    with pytest.raises(UserError, match="hash-tagged prefix"):
        Scheduler(app).client  # noqa: B018 - building the client runs the check


@pytest.mark.parametrize("prefix", ["redbeat:", "{}x}:", "{open:"])
def test_writer_refuses_a_prefix_over_several_slots(redis_cluster: ClusterSetup, prefix: str):
    """The writer checks by hash slot, as the CLI does: ``{}x}:`` looks tagged but its
    tag is empty, so Redis hashes each whole key; nothing is written."""
    layout = Layout(prefix)
    assert len(prefix_slots(layout)) > 1
    client = RedisSettings(redis_cluster.url()).connect()
    entry = Entry(name="e", task="t", schedule=Every(60.0))
    try:
        with pytest.raises(UserError, match="several Redis Cluster hash slots"):
            writer.write(client, layout, [Put(entry, expect_digest=None)])
        tagged = Layout(PREFIX)
        assert writer.write(client, tagged, [Put(entry, expect_digest=None)]).created == 1
    finally:
        client.close()
    assert set(_our_keys(redis_cluster, "")) == {
        tagged.schedule_key,
        tagged.inventory_key,
        tagged.applied_key,
        tagged.entry_key("e"),
    }


def test_move_and_delete_carry_the_run_history_on_one_slot(redis_cluster: ClusterSetup):
    """The run history keys go into the same script call as the entry (one slot)."""
    from redbeat_sync.state.reader import read_state
    from redbeat_sync.state.stored import Move, Remove

    layout = Layout("{history}:")
    client = RedisSettings(redis_cluster.url()).connect()
    old = Entry(name="old", task="t", schedule=Every(60.0))
    try:
        writer.write(client, layout, [Put(old, expect_digest=None)])
        client.lpush(layout.runs_key("old"), '{"task_id": "t1"}')
        digest = read_state(client, layout).entries["old"].digest
        new = Entry(name="new", task="t", schedule=Every(60.0))
        assert writer.write(client, layout, [Move(new, "old", digest)]).moved == 1
        assert not client.exists(layout.runs_key("old"))
        assert client.lrange(layout.runs_key("new"), 0, -1) == ['{"task_id": "t1"}']
        digest = read_state(client, layout).entries["new"].digest
        assert writer.write(client, layout, [Remove("new", digest)]).deleted == 1
        assert not client.exists(layout.runs_key("new"))
    finally:
        client.close()

"""Shared fixtures: every test talks to its own real redis-server, never to :6379.

Beyond Redis: ``broker`` (the Redis broker queue beside it), ``make_scheduler`` and
``beat`` (in-process ``redbeat_sync.Scheduler``s), ``cluster`` (real beat and worker
processes) and ``redis_cluster`` (a Redis Cluster of three masters).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from beat_app import MakeScheduler, broker_url_for, leading, listening, make_app
from beat_cluster import Cluster
from celery import Celery
from hypothesis import HealthCheck, settings
from redis_topologies import ClusterSetup, start_cluster

from devsupport.devserver import RedisServer
from redbeat_sync import Scheduler

# CI runs the same examples every time (a red CI must be reproducible); local runs
# keep exploring new ones.  Shared 2-core machines are slow: no deadline per example.
settings.register_profile(
    "ci", derandomize=True, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile("dev", deadline=None)
settings.load_profile("ci" if os.environ.get("CI") else "dev")


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """One throwaway redis-server for the session (tests isolate by db/prefix/flush)."""
    server = RedisServer().start()
    yield server
    server.stop()


@pytest.fixture
def redis_url(redis_server: RedisServer) -> Iterator[str]:
    """URL of a freshly flushed database on the session's own server."""
    client = redis.Redis.from_url(redis_server.url)
    client.flushdb()
    client.close()
    yield redis_server.url


@pytest.fixture
def redis_client(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    yield client
    client.close()


@pytest.fixture
def broker(redis_url: str) -> Iterator[redis.Redis]:
    """The Redis broker (the test server's db 1), emptied: ``beat_app.queued`` reads it."""
    client = redis.Redis.from_url(broker_url_for(redis_url), decode_responses=True)
    client.flushdb()
    yield client
    client.close()


@pytest.fixture
def make_scheduler(redis_url: str, broker: redis.Redis) -> Iterator[MakeScheduler]:
    """Start in-process schedulers on the test's Redis and broker; all closed at the end.

    ``make(**conf)`` builds a fresh app with ``conf`` (or runs on ``app=``), starts the
    scheduler and waits until it leads and hears change notices; ``lead=False`` does
    not wait for the lock (a standby).
    """
    made: list[Scheduler] = []

    def make(lead: bool = True, app: Celery | None = None, **conf: object) -> Scheduler:
        scheduler = Scheduler(app or make_app(redis_url, broker_url_for(redis_url), **conf))
        made.append(scheduler)
        scheduler.start()
        return leading(scheduler) if lead else listening(scheduler)

    yield make
    for scheduler in made:
        scheduler.close()


@pytest.fixture
def beat(make_scheduler: MakeScheduler) -> Scheduler:
    """One in-process scheduler leading on the test's Redis (``make_scheduler()``)."""
    return make_scheduler()


@pytest.fixture
def cluster(redis_url: str, broker: redis.Redis, tmp_path: Path) -> Iterator[Cluster]:
    """Beat and worker processes (``beat_cluster.Cluster``) on the test's Redis."""
    made = Cluster(redis_url, tmp_path)
    try:
        yield made
    finally:
        made.close()


@pytest.fixture(scope="session")
def redis_cluster_nodes() -> Iterator[ClusterSetup]:
    """Three Redis Cluster masters (``redis_topologies``), started once when first asked."""
    setup = start_cluster(3)
    yield setup
    setup.stop()


@pytest.fixture
def redis_cluster(redis_cluster_nodes: ClusterSetup) -> ClusterSetup:
    """The Redis Cluster, every node flushed."""
    for node in redis_cluster_nodes.nodes:
        client = node.client()
        client.flushall()
        client.close()
    return redis_cluster_nodes

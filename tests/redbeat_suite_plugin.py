"""pytest plugin: celery-redbeat 2.4.2's own test suite, run unmodified against redbeat_sync.

``tests/test_redbeat_suite.py`` downloads celery-redbeat's sdist and runs its ``tests/``
folder in a child pytest with ``-p redbeat_suite_plugin``.  Their files are not
copied nor edited; this plugin only binds names before their modules are imported:

- the import alias: ``redbeat``, ``redbeat.schedulers``, ``redbeat.schedules`` and
  ``redbeat.decoder`` are redbeat_sync's modules (what a switching user gets after
  a search-and-replace);
- their fixtures build clients with ``fakeredis.FakeRedis(server=FakeServer())``:
  that name gives a real ``redis.Redis`` on a redis-server this plugin starts (their
  ``setUp`` flushes it); ``FakeServer.connected = False`` points the clients at a
  closed port, so "Redis is gone" is a real connection refusal;
- ``EXPECTED_FAILURES`` (below) are strict xfails: a listed test that starts passing
  and an unlisted test that fails both fail the run.

``REDBEAT_SUITE_TARGET=redbeat`` skips the alias (and the list): the same run
against celery-redbeat itself, which shows the real-Redis stand-in is faithful.
"""

from __future__ import annotations

import os
import signal
import socket
import sys
from collections.abc import Iterator
from typing import Any

import pytest
import redis

from devsupport.devserver import RedisServer, free_port

TARGET = os.environ.get("REDBEAT_SUITE_TARGET", "redbeat_sync")

#: Their test id (path relative to the sdist's tests/ :: class :: test) -> why it fails
#: against redbeat_sync.  Only RedBeat's private internals and our deliberate
#: differences (README, "Migrating from RedBeat") belong here.
_TICK = (
    "deliberate: our tick() sleeps until the next due score or a change notification and "
    "returns 0, dispatching claimed batches from Redis; RedBeat's tick returns the delay "
    "for Celery to sleep and sends through _maybe_due_kwargs"
)
_LOCK_TIMEOUT = (
    "deliberate: the default lock timeout is 6 s (renewed every 2 s by its own thread, so "
    "a standby takes over within ~7 s), not 5 * beat_max_loop_interval (25 min, RedBeat #100)"
)
_CLUSTER_CALL = (
    "internal: asserts the RedisCluster() call gets startup_nodes as dicts; redis-py >= 4.1 "
    "takes ClusterNode objects (it fails on dicts), which is what we pass"
)
EXPECTED_FAILURES: dict[str, str] = {
    "test_entry.py::test_RedBeatEntry::test_due_at": (
        "deliberate: due_at is exact (last_run_at + interval); RedBeat's is early by the age "
        "of last_run_at (RedBeat #307/#210), which this test's upper bound relies on"
    ),
    "test_scheduler.py::test_RedBeatScheduler_schedule::test_schedule_includes_current_and_next": (
        "internal: RedBeat's tick loads due and next entries into Scheduler.schedule; ours "
        "claims due batches in Redis (fenced by the lock) and keeps no in-memory schedule"
    ),
    "test_scheduler.py::test_RedBeatScheduler_tick::test_empty": _TICK,
    "test_scheduler.py::test_RedBeatScheduler_tick::test_due_next_just_ran": _TICK,
    "test_scheduler.py::test_RedBeatScheduler_tick::test_due_later_task_never_run": _TICK,
    "test_scheduler.py::test_RedBeatScheduler_tick::test_due_now": _TICK,
    "test_scheduler.py::test_RedBeatScheduler_tick::test_lock_acquisition_failed_during_startup": (
        "deliberate: taking the lock never raises and a beat without it waits as a standby; "
        "RedBeat's tick crashes with AttributeError when its start-up acquire failed (#285)"
    ),
    "test_scheduler.py::test_RedBeatScheduler_tick::test_lock_timeout": _LOCK_TIMEOUT,
    "test_scheduler.py::RedBeatLockTimeoutDefaultValues::test_no_values": _LOCK_TIMEOUT,
    "test_scheduler.py::RedBeatLockTimeoutCustomMaxInterval::test_no_lock_timeout": _LOCK_TIMEOUT,
    "test_scheduler.py::test_RedBeatScheduler_tick::test_old_static_entries_are_removed": (
        "deliberate: beat_schedule entries are written (and old ones removed) only once "
        "this beat holds the lock, so a standby never overwrites the leader's (RedBeat #198)"
    ),
    "test_scheduler.py::TestRedBeatSchedulerUpdateFromDict::test_update_from_dict_fetch_redis_entry": (  # noqa: E501
        "internal: asserts update_from_dict loads the stored entry through from_key; ours "
        "reads only its run history (meta), which is all it keeps"
    ),
    "test_scheduler.py::RetryPeriodRedBeatCase::test_retry_period_not_forwarded_to_redis": (
        "deliberate: retry_period becomes a redis-py Retry on the client itself (covers "
        "pipelines, scripts and the lock too), not a RetryingConnection proxy around it"
    ),
    "test_scheduler.py::InheritedBrokerOptionsRedBeatCase::test_inherited_options_not_forwarded_to_redis": (  # noqa: E501
        "deliberate: the inherited broker socket_timeout is not forwarded, but our own "
        "default timeouts (connect 3 s, socket 5 s) are always set so a dead host fails fast"
    ),
    "test_scheduler.py::InheritedClusterOptionsRedBeatCase::test_startup_nodes_preserved_options_forwarded": (  # noqa: E501
        _CLUSTER_CALL
    ),
    "test_scheduler.py::ClusterUrlRedBeatCase::test_cluster_scheduler_from_url": _CLUSTER_CALL,
    "test_scheduler.py::RedBeatStartupAcquiresLock::test_acquires_lock": (
        "internal: RedBeat keeps a redis-py Lock in scheduler.lock, taken once at start; "
        "ours is held and renewed (and retaken after a loss) by scheduler.keeper"
    ),
    "test_scheduler.py::RedBeatStartupAcquiresLock::test_connection_error": (
        "deliberate: taking the lock never raises (Redis down at start: beat retries); "
        "RedBeat's start-up acquire raises ConnectionError"
    ),
}

#: A test of theirs that runs longer than this fails (their tests take milliseconds;
#: our ``tick`` sleeps until the next due run itself, RedBeat's returns the delay).
TEST_TIMEOUT = 10

_server: RedisServer | None = None


class TestTimedOut(Exception):
    pass


class FakeServer:
    """Stands for fakeredis' in-memory server: here, the real server of this run."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.clients: list[redis.Redis] = []
        self._connected = True

    @property
    def connected(self) -> bool:
        return self._connected

    @connected.setter
    def connected(self, value: bool) -> None:
        # fakeredis' switch for "the server went away": refuse every new connection.
        self._connected = bool(value)
        port = _server_port() if value else free_port()
        for client in self.clients:
            pool = client.connection_pool
            pool.connection_kwargs["port"] = port
            pool.disconnect()
            pool.reset()  # idle connections would keep the old port


def _server_port() -> int:
    assert _server is not None, "the plugin's redis-server is not running"
    return _server.port


class FakeRedis(redis.Redis):
    """A real client of the plugin's redis-server (fakeredis' constructor signature)."""

    def __init__(self, *args: Any, server: FakeServer | None = None, **kwargs: Any) -> None:
        kwargs.pop("host", None)
        kwargs.pop("port", None)
        super().__init__(host="127.0.0.1", port=_server_port(), **kwargs)
        (server or FakeServer()).clients.append(self)


def _install_aliases() -> None:
    import types

    fake = types.ModuleType("fakeredis")
    fake.FakeServer = FakeServer  # type: ignore[attr-defined]
    fake.FakeRedis = FakeRedis  # type: ignore[attr-defined]
    fake.FakeStrictRedis = FakeRedis  # type: ignore[attr-defined]
    sys.modules["fakeredis"] = fake
    if TARGET != "redbeat_sync":
        return
    import importlib

    for name in ("redbeat", "redbeat.schedulers", "redbeat.schedules", "redbeat.decoder"):
        sys.modules[name] = importlib.import_module(name.replace("redbeat", "redbeat_sync", 1))


#: The machine's own Redis: their settings name ``redis://`` (localhost:6379) in places.
_FORBIDDEN_PORT = 6379
_forbidden_attempts: list[Any] = []


def _guard_shared_redis() -> None:
    """Refuse (and record) every connection to port 6379 made during their suite."""
    original = socket.socket.connect

    def connect(self: socket.socket, address: Any) -> Any:
        if isinstance(address, tuple) and len(address) >= 2 and address[1] == _FORBIDDEN_PORT:
            _forbidden_attempts.append(address)
            raise ConnectionRefusedError(f"the suite may not connect to {address}")
        return original(self, address)

    socket.socket.connect = connect  # type: ignore[method-assign]


def pytest_configure(config: pytest.Config) -> None:
    global _server
    _server = RedisServer().start()
    _guard_shared_redis()
    _install_aliases()
    import celery

    # Also where -q hides the report header: the caller checks which Celery ran.
    sys.__stderr__.write(f"redbeat_suite_plugin: target {TARGET}, celery {celery.__version__}\n")


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if _forbidden_attempts:
        print(f"\nredbeat_suite_plugin: connections to port 6379 refused: {_forbidden_attempts}")
        session.exitstatus = 3


def pytest_unconfigure(config: pytest.Config) -> None:
    if _server is not None:
        _server.stop()


def _test_id(item: pytest.Item) -> str:
    path = item.nodeid.split("tests/", 1)[-1]
    return path


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if TARGET != "redbeat_sync":
        return
    seen = set()
    for item in items:
        reason = EXPECTED_FAILURES.get(_test_id(item))
        if reason is not None:
            seen.add(_test_id(item))
            item.add_marker(pytest.mark.xfail(reason=reason, strict=True))
    missing = set(EXPECTED_FAILURES) - seen
    if missing:  # a renamed test must not hide behind a stale entry
        raise pytest.UsageError(f"expected failures not in the suite: {sorted(missing)}")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    def expire(signum: int, frame: Any) -> None:
        raise TestTimedOut(f"still running after {TEST_TIMEOUT} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(TEST_TIMEOUT)
    try:
        return (yield)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)

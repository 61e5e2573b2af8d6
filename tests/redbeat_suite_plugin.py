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
import sys
from collections.abc import Iterator
from typing import Any

import pytest
import redis

from redbeat_sync.devserver import RedisServer, free_port

TARGET = os.environ.get("REDBEAT_SUITE_TARGET", "redbeat_sync")

#: Their test id (path relative to the sdist's tests/ :: class :: test) -> why it fails
#: against redbeat_sync.  Only RedBeat's private internals and our deliberate
#: differences (README, "Migrating from RedBeat") belong here.
EXPECTED_FAILURES: dict[str, str] = {}

#: A test of theirs that runs longer than this fails (their tests take milliseconds;
#: our ``tick`` sleeps until the next due run itself, RedBeat's returns the delay).
TEST_TIMEOUT = 20

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


def pytest_configure(config: pytest.Config) -> None:
    global _server
    _server = RedisServer().start()
    _install_aliases()


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

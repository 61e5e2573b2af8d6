"""retry_period and the maxmemory-policy check, on real servers.

A small TCP proxy drops the reply of one chosen command after the server ran it: the
client sees a lost connection, redis-py's Retry re-sends, and the second attempt must
recognise the first one's effect instead of failing or doing it twice.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from beat_app import make_app
from redis_topologies import Proc, cli, plain, write_spec

from redbeat_sync import Scheduler
from redbeat_sync.errors import UserError
from redbeat_sync.fileformat.loader import load_paths
from redbeat_sync.state import writer
from redbeat_sync.state.connection import RedisSettings
from redbeat_sync.state.eviction import check_eviction, classify_policy
from redbeat_sync.state.layout import Layout
from redbeat_sync.state.retry import attempts_for, build_retry
from redbeat_sync.state.stored import Put
from redbeat_sync.state.synclock import SyncLock

LAYOUT = Layout("{redbeat}:")


class ReplyDropper:
    """Forwards 127.0.0.1:port -> target; cuts the connection instead of replying to
    the first request containing every ``trigger`` byte string (after it ran)."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.triggers: list[bytes] = []
        self.dropped = 0
        self._halt = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def drop_next(self, *triggers: bytes) -> None:
        self.triggers = list(triggers)

    def _accept(self) -> None:
        while not self._halt.is_set():
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            server = socket.create_connection(("127.0.0.1", self.target_port))
            cut = threading.Event()  # set: swallow the server's replies, then close
            threading.Thread(target=self._up, args=(client, server, cut), daemon=True).start()
            threading.Thread(target=self._down, args=(server, client, cut), daemon=True).start()

    def _up(self, client: socket.socket, server: socket.socket, cut: threading.Event) -> None:
        with contextlib.suppress(OSError):
            while data := client.recv(65536):
                if self.triggers and all(t in data for t in self.triggers):
                    self.triggers = []
                    cut.set()
                    server.sendall(data)
                    time.sleep(0.3)  # the server runs it; its reply is swallowed
                    self.dropped += 1
                    client.close()
                    server.close()
                    return
                server.sendall(data)

    def _down(self, server: socket.socket, client: socket.socket, cut: threading.Event) -> None:
        with contextlib.suppress(OSError):
            while data := server.recv(65536):
                if cut.is_set():
                    continue
                client.sendall(data)

    def stop(self) -> None:
        self._halt.set()
        self.listener.close()


@pytest.fixture
def server() -> Iterator[Proc]:
    proc = plain()
    yield proc
    proc.stop()


def test_retry_period_maps_to_a_bounded_retry() -> None:
    assert build_retry(None) is None
    assert build_retry(0).get_retries() == 0
    assert build_retry(-1).get_retries() == -1
    retry = build_retry(20)
    assert retry is not None and retry.get_retries() == attempts_for(20, cap=1.0) >= 20
    with pytest.raises(UserError):
        build_retry("soon")


def test_a_retried_apply_batch_that_landed_is_not_redone(server: Proc, tmp_path: Path):
    direct = server.client()
    direct.script_load(writer._script_source())  # so the dropped EVALSHA really runs
    proxy = ReplyDropper(server.port)
    try:
        client = RedisSettings(proxy.url, {"retry_period": 5}).client()
        entries = [e.entry for e in load_paths([write_spec(tmp_path)]).entries]
        proxy.drop_next(b"EVALSHA", b"conn-hourly")
        report = writer.write(client, LAYOUT, [Put(e, None) for e in entries])
        assert proxy.dropped == 1
        assert report.created == 3  # not StateChanged: the re-sent batch was recognised
        assert direct.scard(LAYOUT.inventory_key) == 3
        client.close()
    finally:
        proxy.stop()
        direct.close()


def test_a_retried_sync_lock_set_is_ours(server: Proc) -> None:
    proxy = ReplyDropper(server.port)
    try:
        client = RedisSettings(proxy.url, {"retry_period": 5}).client()
        proxy.drop_next(b"SET", b":sync:lock")
        lock = SyncLock(client, LAYOUT, holder="test")
        lock.acquire(wait=1)  # would time out naming itself as the holder
        assert proxy.dropped == 1 and lock.held
        assert lock.release()
        client.close()
    finally:
        proxy.stop()


# --------------------------------------------------------------------------- eviction


@pytest.mark.parametrize(
    ("policy", "level"),
    [("noeviction", "safe"), ("allkeys-lru", "evicting"), ("volatile-ttl", "volatile")],
)
def test_policy_levels(policy: str, level: str) -> None:
    assert classify_policy(policy).level == level
    assert classify_policy(None).level == "unknown"


def test_apply_refuses_an_evicting_redis_unless_allowed(server: Proc, tmp_path: Path):
    admin = server.client()
    url = f"redis://127.0.0.1:{server.port}/0"
    spec = write_spec(tmp_path)
    admin.config_set("maxmemory-policy", "allkeys-lru")
    refused = cli("apply", spec, "--auto-approve", "--redis-url", url)
    assert refused.code == 1
    (line,) = refused.stderr.strip().splitlines()
    assert "allkeys-lru" in line and "--allow-evicting-redis" in line
    assert admin.keys() == ["redbeat::sync:history"]  # only the refusal's audit record
    allowed = cli("apply", spec, "--auto-approve", "--allow-evicting-redis", "--redis-url", url)
    assert allowed.code == 0, allowed.all
    admin.config_set("maxmemory-policy", "volatile-lru")  # entries have no TTL: allowed
    spec2 = write_spec(tmp_path, "version: 1\nentries: {}\n")
    assert (
        cli("apply", spec2, "--auto-approve", "--allow-mass-delete", "--redis-url", url).code == 0
    )
    assert check_eviction(admin).level == "volatile"
    admin.close()


def test_beat_warns_or_refuses_on_an_evicting_redis(server: Proc, caplog) -> None:
    admin = server.client()
    admin.config_set("maxmemory-policy", "allkeys-random")
    url = f"redis://127.0.0.1:{server.port}/0"
    warned = Scheduler(make_app(url, url.replace("/0", "/1")))
    try:
        warned.start()
        assert any("allkeys-random" in r.getMessage() for r in caplog.records)
        assert "allkeys-random" in warned.info
    finally:
        warned.close()
    refusing = Scheduler(
        make_app(url, url.replace("/0", "/1"), redbeat_sync_refuse_evicting_redis=True)
    )
    with pytest.raises(UserError, match="Refusing to start beat"):
        refusing.start()
    assert refusing.keeper is None
    admin.close()

"""Connection settings, URL masking, and one-line errors for unreachable Redis."""

from __future__ import annotations

import socket
import ssl
import threading
from collections.abc import Iterator

import pytest

from devsupport.devserver import free_port
from redbeat_sync.errors import UserError
from redbeat_sync.redact import redact as mask_url
from redbeat_sync.state import connection
from redbeat_sync.state.connection import RedisSettings, connect, resolve_url


@pytest.mark.parametrize(
    ("url", "masked"),
    [
        ("redis://localhost:6379/0", "redis://localhost:6379/0"),
        ("redis://:s3cret@host:6379/1", "redis://:***@host:6379/1"),
        ("rediss://user:p%40ss:w@host/0", "rediss://user:***@host/0"),
        ("redis://user@host/0", "redis://user@host/0"),
        ("redis://host/0?password=hunter2&db=1", "redis://host/0?password=***&db=1"),
        ("unix:///tmp/redis.sock?db=2", "unix:///tmp/redis.sock?db=2"),
    ],
)
def test_mask_url(url: str, masked: str):
    assert mask_url(url) == masked


def test_mask_url_never_leaks_password_with_at_signs():
    assert "top" not in mask_url("redis://u:top@secret@host:1/0")


def test_resolve_url_precedence(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv(connection.URL_ENV_VAR, raising=False)
    assert resolve_url(None) == "redis://localhost:6379/0"
    monkeypatch.setenv(connection.URL_ENV_VAR, "redis://env:1/0")
    assert resolve_url(None) == "redis://env:1/0"
    assert resolve_url("redis://flag:2/0") == "redis://flag:2/0"


def test_connect_returns_decoding_client(redis_url: str):
    client = connect(redis_url)
    try:
        client.set("k", "v")
        assert client.get("k") == "v"
    finally:
        client.close()


def test_unreachable_port_is_one_quick_user_error():
    # One attempt, not a retry loop: counted on the servers below that accept.
    url = f"redis://:pw@127.0.0.1:{free_port()}/0"
    with pytest.raises(UserError) as raised:
        connect(url)
    message = str(raised.value)
    assert message.startswith("cannot connect to Redis at redis://:***@127.0.0.1:")
    assert "\n" not in message and "pw@" not in message


class BadServer:
    """A TCP server that never answers (a hung host) or drops every connection; it
    counts the connections it accepted: how often the client tried."""

    def __init__(self, drops: bool) -> None:
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(8)
        self.port: int = self.listener.getsockname()[1]
        self.drops = drops
        self.accepted: list[socket.socket] = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:  # closed: the test is over
                return
            self.accepted.append(conn)
            if self.drops:
                conn.close()

    def close(self) -> None:
        self.listener.close()
        for conn in self.accepted:
            conn.close()


@pytest.fixture(params=["silent", "drops"])
def bad_server(request: pytest.FixtureRequest) -> Iterator[BadServer]:
    server = BadServer(drops=request.param == "drops")
    yield server
    server.close()


def test_hung_server_times_out_with_user_error(bad_server: BadServer):
    """A server that never answers (or drops the connection) is one user error after one
    connection, not a retry loop (that would take minutes)."""
    with pytest.raises(UserError, match=r"cannot connect to Redis at redis://127\.0\.0\.1"):
        connect(f"redis://127.0.0.1:{bad_server.port}/0", options={"socket_timeout": 0.5})
    assert len(bad_server.accepted) == 1


def test_wrong_password_is_a_user_error(redis_url: str, redis_client):
    redis_client.execute_command("ACL", "SETUSER", "alice", "on", ">right", "~*", "+@all")
    try:
        hostport = redis_url.split("://", 1)[1]
        with pytest.raises(UserError) as raised:
            connect(f"redis://alice:wrong@{hostport}")
        assert "wrong" not in str(raised.value)
        assert "alice:***@" in str(raised.value)
        client = connect(f"redis://alice:right@{hostport}")
        assert client.ping()
        client.close()
    finally:
        redis_client.execute_command("ACL", "DELUSER", "alice")


def test_unsupported_scheme_is_refused():
    with pytest.raises(UserError, match="unsupported Redis URL"):
        connect("memcached://:pw@host:11211/0")
    # Sentinel and Cluster are supported (tests/test_redis_*.py): unreachable ones are
    # one-line errors with the password masked.
    port = free_port()
    with pytest.raises(UserError, match=r"\*\*\*") as raised:
        connect(f"redis-sentinel://:pw@127.0.0.1:{port}/0")
    assert ":pw@" not in str(raised.value)
    with pytest.raises(UserError, match=r"\*\*\*") as raised:
        connect(f"redis-cluster://:pw@127.0.0.1:{port}/0")
    assert ":pw@" not in str(raised.value)


def test_client_kwargs_for_tls_and_redbeat_options():
    settings = RedisSettings(
        "rediss://host:6380/0",
        options={
            "retry_period": 30,
            "ssl_ca_certs": "/ca.pem",
            "username": "u",
            "socket_timeout": 2,
        },
        use_ssl={"ssl_certfile": "/c.pem", "ssl_keyfile": "/k.pem"},
    )
    kwargs = settings.client_kwargs()
    assert kwargs["ssl_cert_reqs"] == ssl.CERT_REQUIRED
    assert kwargs["ssl_ca_certs"] == "/ca.pem" and kwargs["ssl_certfile"] == "/c.pem"
    assert kwargs["username"] == "u" and kwargs["socket_timeout"] == 2
    assert "retry_period" not in kwargs and kwargs["decode_responses"] is True
    client = settings.client()  # builds an SSL connection pool without any I/O
    assert client.connection_pool.connection_kwargs["ssl_certfile"] == "/c.pem"
    plain = RedisSettings("redis://host/0").client_kwargs()
    assert "ssl_cert_reqs" not in plain
    assert plain["socket_connect_timeout"] <= 5


def test_a_database_that_is_no_number_is_refused_not_read_as_db_0(redis_url: str):
    # redis-py ignores a path it cannot read as a number and uses db 0: another
    # database than the one named, read and written without a word.
    base = redis_url.rsplit("/", 1)[0].replace("redis://", "redis://:Pw-db-5e1@", 1)
    for path in ("/abc", "/1x", "/%31a"):
        with pytest.raises(UserError) as raised:
            connect(base + path)
        message = str(raised.value)
        assert "the database in the path must be a number" in message, message
        assert "Pw-db-5e1" not in message and ":***@" in message
    host_only = redis_url.rsplit("/", 1)[0]
    for url in (host_only + "/3", host_only, host_only + "/", host_only + "/abc?db=2"):
        client = connect(url)  # a number, no path, or ?db= (which wins): as before
        client.close()

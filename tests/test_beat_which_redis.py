"""Never a Redis nobody configured, and credentials errors are errors (issue 8 §3).

Beat and the CLI resolve "which Redis" the same way, RedBeat's: ``redbeat_redis_url``,
else a Redis ``broker_url``; anything else stops beat at start with one line naming
``redbeat_redis_url``, before it connects anywhere.  A refused password or user stops
it too (one line: masked URL and user); at run time it is logged as an
authentication failure, not as an outage.
"""

from __future__ import annotations

import logging
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from unittest import mock

import pytest
import redis
from beat_app import leading, make_app
from redis_topologies import Proc, cli, plain, wait_until

from redbeat_sync import Scheduler
from redbeat_sync.beat.config import (
    NoRedisConfigured,
    RedBeatConfig,
    get_redis,
)
from redbeat_sync.beat.credentials import RedisCredentialsRefused
from redbeat_sync.beat.scheduler import acquire_distributed_beat_lock
from redbeat_sync.state import connection

PASSWORD = "Pw-which-7c1d"  # searched for in every output below
USER_PASSWORD = "Pw-user-93ab"
AMQP = "amqp://guest:guest@127.0.0.1:5672//"  # RabbitMQ runs there; beat must not need it

#: Put in front of a child process: any connection to the machine's own Redis (6379)
#: is refused and reported, so even a regression could not write into it.
GUARD = textwrap.dedent(
    """
    import socket, sys
    _connect = socket.socket.connect
    def _guarded(self, address):
        if isinstance(address, tuple) and len(address) >= 2 and address[1] == 6379:
            sys.stderr.write("GUARD: connection to port 6379 attempted\\n")
            raise ConnectionRefusedError("port 6379 is off limits in this test")
        return _connect(self, address)
    socket.socket.connect = _guarded
    """
)


def _write_app(directory: Path, name: str, settings: str) -> None:
    (directory / f"{name}.py").write_text(
        "from celery import Celery\n"
        f"app = Celery({name!r})\n"
        f"app.conf.update({settings})\n"
        "app.conf.update(beat_max_loop_interval=5, timezone='UTC')\n"
    )
    (directory / "no6379.py").write_text(GUARD)


def _run_beat(directory: Path, module: str, timeout: float = 90) -> subprocess.CompletedProcess:
    """``celery -A module beat -S redbeat_sync.Scheduler``; must end by itself."""
    return subprocess.run(
        [
            sys.executable, "-c", "import no6379; from celery.__main__ import main; main()",
            "-A", module, "beat", "-S", "redbeat_sync.Scheduler", "--loglevel", "INFO",
        ],
        cwd=directory, capture_output=True, text=True, timeout=timeout,
    )  # fmt: skip


def _shared_redis_has(keys: list[str]) -> list[str]:
    """READ-ONLY look at the machine's Redis (EXISTS only): which of ``keys`` exist."""
    client = redis.Redis(host="127.0.0.1", port=6379, socket_timeout=2, socket_connect_timeout=2)
    try:
        return [key for key in keys if client.exists(key)]
    except (redis.RedisError, OSError):
        return []  # nothing listens there: nothing can have been written either
    finally:
        client.close()


# --------------------------------------------------------------------------- which Redis


@pytest.mark.slow
def test_beat_with_an_amqp_broker_and_no_redbeat_redis_url_stops_at_start(tmp_path: Path):
    prefix = f"rbsync-test-{uuid.uuid4().hex}:"
    _write_app(tmp_path, "amqpapp", f"broker_url={AMQP!r}, redbeat_key_prefix={prefix!r}")
    done = _run_beat(tmp_path, "amqpapp")
    output = done.stdout + done.stderr
    assert done.returncode != 0, output
    assert "redbeat_redis_url" in output
    assert "amqp://guest:***@127.0.0.1:5672" in output and "guest:guest" not in output
    assert "Traceback" not in output, output
    assert "GUARD" not in output, output  # never even tried the default Redis
    written = [prefix + ":schedule", prefix + ":lock", prefix + ":statics"]
    written.append(prefix + "celery.backend_cleanup")
    assert _shared_redis_has(written) == []


def test_config_never_defaults_to_a_redis() -> None:
    app = make_app(None)
    app.conf.broker_url = AMQP
    with pytest.raises(NoRedisConfigured, match="set redbeat_redis_url"):
        get_redis(app)
    with pytest.raises(NoRedisConfigured, match="redbeat_redis_url"):
        Scheduler(app).client  # noqa: B018 - the property is what beat asks first
    explicit = make_app("amqp://guest@127.0.0.1:5672//")
    with pytest.raises(NoRedisConfigured, match="redbeat_redis_url is amqp://"):
        get_redis(explicit)


def test_beat_init_turns_the_config_error_into_a_non_zero_exit() -> None:
    app = make_app(None)
    app.conf.broker_url = AMQP
    scheduler = Scheduler(app)
    with pytest.raises(SystemExit) as stopped:
        acquire_distributed_beat_lock(mock.Mock(scheduler=scheduler))
    assert stopped.value.code == 1
    assert scheduler.listener is None and scheduler.keeper is None  # nothing started


def test_cli_with_app_uses_beats_resolution(tmp_path: Path, monkeypatch) -> None:
    _write_app(tmp_path, "cliamqp", f"broker_url={AMQP!r}")
    monkeypatch.chdir(tmp_path)
    result = cli("show", "--app", "cliamqp:app")
    assert result.code == 1, result.all
    (line,) = result.stderr.strip().splitlines()
    assert "redbeat_redis_url" in line and "--app cliamqp:app" in line
    assert "guest:guest" not in result.all


def test_cli_without_app_says_which_default_it_used(redis_url: str, monkeypatch) -> None:
    # The CLI's default is localhost:6379; point it at the test server for this test.
    monkeypatch.setattr(connection, "DEFAULT_URL", redis_url)
    result = cli("show")
    assert result.code == 0, result.all
    assert f"using {redis_url}" in result.stderr
    explicit = cli("show", "--redis-url", redis_url)
    assert "using" not in explicit.stderr


def test_cli_warns_once_when_the_redis_url_comes_from_broker_url(
    redis_url: str, tmp_path: Path, monkeypatch
) -> None:
    # README, "Which Redis": the broker_url fallback is deprecated, with a warning.
    _write_app(tmp_path, "clibroker", f"broker_url={redis_url!r}")
    _write_app(tmp_path, "cliexplicit", f"redbeat_redis_url={redis_url!r}")
    monkeypatch.chdir(tmp_path)
    with pytest.warns(DeprecationWarning):  # beat's warning, seen by pytest only
        result = cli("history", "--app", "clibroker:app")
    assert result.code == 0, result.all
    warned = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
    assert len(warned) == 1, result.stderr
    assert "redbeat_redis_url is not set: using broker_url" in warned[0]
    assert "--app clibroker:app" in warned[0]
    quiet = cli("history", "--app", "cliexplicit:app")  # set explicitly: nothing to say
    assert quiet.code == 0 and "warning" not in quiet.stderr, quiet.all
    with pytest.warns(DeprecationWarning):
        flag = cli("history", "--app", "clibroker:app", "--redis-url", redis_url)
    assert flag.code == 0 and "warning" not in flag.stderr, flag.all  # broker_url unused


def test_broker_transport_options_configure_sentinel_with_a_deprecation_warning() -> None:
    app = make_app(None)
    app.conf.broker_url = "redis-sentinel://127.0.0.1:1/0"
    app.conf.broker_transport_options = {
        "sentinels": [("127.0.0.1", 26390)],
        "master_name": "cache",
        "username": "acl-user",
        "visibility_timeout": 3600,
    }
    with pytest.warns(DeprecationWarning, match="redbeat_redis_options"):
        conf = RedBeatConfig(app)
    settings = conf.redis_settings()
    assert "visibility_timeout" not in settings.options  # the broker's, not ours
    client = settings.client()
    pool = client.connection_pool
    assert pool.service_name == "cache"
    assert [
        (s.connection_pool.connection_kwargs["port"]) for s in pool.sentinel_manager.sentinels
    ] == [26390]
    assert pool.connection_kwargs["username"] == "acl-user"


def test_use_ssl_dict_wins_on_sentinel() -> None:
    import ssl

    app = make_app(
        "redis-sentinel://127.0.0.1:26391/0",
        redbeat_redis_options={"sentinels": [("127.0.0.1", 26391)]},
        redbeat_redis_use_ssl={"ssl_cert_reqs": ssl.CERT_NONE},
    )
    client = get_redis(app)
    kwargs = client.connection_pool.connection_kwargs
    assert kwargs["ssl_cert_reqs"] == ssl.CERT_NONE


# --------------------------------------------------------------------------- credentials


@pytest.fixture(scope="module")
def auth_server() -> Iterator[Proc]:
    server = plain(f"requirepass {PASSWORD}\n")
    admin = server.client(password=PASSWORD)
    admin.execute_command(
        "ACL", "SETUSER", "rbuser", "on", f">{USER_PASSWORD}", "~*", "&*", "+@all"
    )
    admin.close()
    yield server
    server.stop()


def _url(server: Proc, auth: str) -> str:
    return f"redis://{auth}127.0.0.1:{server.port}/0"


@pytest.mark.parametrize(
    ("auth", "user", "expected"),
    [
        (":not-the-password@", "default", "refused the credentials"),
        (f"rbuser:not-{USER_PASSWORD}@", "rbuser", "refused the credentials"),
        (f"nobody:{USER_PASSWORD}@", "nobody", "refused the credentials"),
        ("", "default", "requires a password and none was given"),
    ],
)
def test_refused_credentials_stop_beat_with_one_clear_line(
    auth_server: Proc, auth: str, user: str, expected: str
) -> None:
    url = _url(auth_server, auth)
    scheduler = Scheduler(make_app(url, "memory://"))
    with pytest.raises(RedisCredentialsRefused) as refused:
        scheduler.start()
    message = str(refused.value)
    assert expected in message and f"(user {user})" in message
    assert f"127.0.0.1:{auth_server.port}" in message
    assert "HELLO must be called" not in message and "NOAUTH" not in message
    assert PASSWORD not in message and USER_PASSWORD not in message
    assert scheduler.keeper is None  # no retry loop was started


@pytest.mark.slow
def test_real_beat_with_a_wrong_password_exits_non_zero(auth_server: Proc, tmp_path: Path):
    url = f"redis://rbuser:wrong-{USER_PASSWORD}@127.0.0.1:{auth_server.port}/0"
    _write_app(tmp_path, "wrongpw", f"broker_url='memory://', redbeat_redis_url={url!r}")
    done = _run_beat(tmp_path, "wrongpw")
    output = done.stdout + done.stderr
    assert done.returncode != 0, output
    assert f"redis://rbuser:***@127.0.0.1:{auth_server.port}/0 (user rbuser)" in output
    assert "refused the credentials" in output
    assert USER_PASSWORD not in output and "Traceback" not in output, output


def test_password_rotated_under_a_running_beat_is_an_authentication_failure(
    auth_server: Proc, caplog: pytest.LogCaptureFixture
) -> None:
    admin = auth_server.client(password=PASSWORD)
    admin.execute_command(
        "ACL", "SETUSER", "rotated", "on", f">{USER_PASSWORD}", "~*", "&*", "+@all"
    )
    url = _url(auth_server, f"rotated:{USER_PASSWORD}@")
    beat = Scheduler(make_app(url, "memory://", redbeat_key_prefix="rotate:"))
    caplog.set_level(logging.INFO, logger="celery.beat")
    try:
        beat.start()
        leading(beat)
        admin.execute_command("ACL", "SETUSER", "rotated", "resetpass", ">a-new-password")
        admin.execute_command("CLIENT", "KILL", "USER", "rotated")
        deadline = time.monotonic() + 20

        def logged() -> bool:
            beat.tick()
            return any("authentication failure" in r.getMessage() for r in caplog.records)

        wait_until(lambda: logged() or time.monotonic() > deadline, 25, "the auth failure log")
    finally:
        beat.close()
        admin.close()
    messages = [r.getMessage() for r in caplog.records]
    assert any("authentication failure" in m for m in messages), messages
    assert not any("unreachable" in m or "Redis unavailable" in m for m in messages), messages
    assert not any(USER_PASSWORD in m for m in messages)


def test_broker_transport_options_all_reach_a_cluster_client() -> None:
    app = make_app(None)
    app.conf.broker_url = "redis-cluster://127.0.0.1:30001/0"
    app.conf.broker_transport_options = {
        "startup_nodes": [{"host": "127.0.0.1", "port": "30002"}],
        "max_connections": 10,
    }
    with pytest.warns(DeprecationWarning):
        settings = RedBeatConfig(app).redis_settings()
    assert settings.options == dict(app.conf.broker_transport_options)

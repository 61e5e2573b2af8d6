"""TLS (a throwaway CA, TLS port only) and ACL users limited to the prefix's keys."""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from beat_app import LEAD_WAIT, leading, make_app, queued
from redis_topologies import (
    Proc,
    TlsFiles,
    cli,
    make_tls_files,
    plain,
    plan_apply_show,
    start_tls,
    write_spec,
)

from redbeat_sync import Scheduler

PREFIX = "{redbeat}:"
PASSWORD = "Acl-Pw-9f3k2"  # searched for in every output below

#: The smallest ACL a redbeat-sync user needs (CLI and beat), as documented in the
#: README: only the prefix's keys and change channel, only these commands.
#: ``config|get`` is optional (without it the maxmemory-policy check is skipped).
ACL_COMMANDS = (
    "+ping +hello +auth "
    "+get +set +del +exists +pexpire +pttl "
    "+hget +hmget +hset +hsetnx +hdel +hlen +hgetall +hscan "
    "+lpush +ltrim +lrange +lindex +lset +scan "
    "+zadd +zrem +zrange +zrangebyscore +zscore +zcard "
    "+sadd +srem +smembers +sscan +sismember "
    "+xadd +xrevrange "
    "+evalsha +eval +script|load "
    "+publish +subscribe +unsubscribe "
    "+multi +exec +discard"
)


def _acl_rule(keys: str) -> list[str]:
    return ["on", f">{PASSWORD}", "resetkeys", keys, "resetchannels", f"&{PREFIX}*", "-@all",
            *ACL_COMMANDS.split()]  # fmt: skip


# --------------------------------------------------------------------------- TLS


@pytest.fixture(scope="module")
def tls_files() -> Iterator[TlsFiles]:
    if shutil.which("openssl") is None:
        # .ci/run installs openssl: in CI a missing one is a failure, not a skip.
        message = "openssl CLI not available (Debian: apt-get install openssl)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    files = make_tls_files()
    yield files
    shutil.rmtree(files.dir, ignore_errors=True)


@pytest.fixture(scope="module")
def tls_server(tls_files: TlsFiles) -> Iterator[Proc]:
    server = start_tls(tls_files, auth_clients="optional")
    yield server
    server.stop()


def tick_until_sent(beat: Scheduler, broker: redis.Redis) -> None:
    """Tick the leading ``beat`` until it has sent something (a bound on waiting only)."""
    deadline = time.monotonic() + LEAD_WAIT
    while not queued(broker) and time.monotonic() < deadline:
        beat.tick()
    assert queued(broker), "beat sent nothing"


def test_cli_over_tls_with_the_ca(tls_server: Proc, tls_files: TlsFiles, tmp_path: Path):
    url = f"rediss://127.0.0.1:{tls_server.port}/0?ssl_ca_certs={tls_files.ca}"
    plan_apply_show(url, write_spec(tmp_path), prefix=PREFIX)


def test_wrong_ca_is_one_clear_line(tls_server: Proc, tls_files: TlsFiles, tmp_path: Path):
    url = f"rediss://127.0.0.1:{tls_server.port}/0?ssl_ca_certs={tls_files.other_ca}"
    result = cli("plan", write_spec(tmp_path), "--redis-url", url)
    assert result.code == 1
    (line,) = result.stderr.strip().splitlines()
    assert "certificate verify failed" in line and "cannot connect to Redis" in line
    plain_url = f"redis://127.0.0.1:{tls_server.port}/0"
    result = cli("show", "--redis-url", plain_url)  # TLS-only port, plain client
    assert result.code == 1 and len(result.stderr.strip().splitlines()) == 1


def test_client_certificate_from_url(tls_files: TlsFiles, tmp_path: Path):
    server = start_tls(tls_files, auth_clients="yes")
    try:
        base = f"rediss://127.0.0.1:{server.port}/0?ssl_ca_certs={tls_files.ca}"
        refused = cli("show", "--redis-url", base)
        assert refused.code == 1 and len(refused.stderr.strip().splitlines()) == 1
        url = f"{base}&ssl_certfile={tls_files.client_cert}&ssl_keyfile={tls_files.client_key}"
        assert cli("show", "--redis-url", url).code == 0
    finally:
        server.stop()


def test_beat_over_tls_with_redbeat_redis_use_ssl(
    tls_files: TlsFiles, redis_server, tmp_path: Path
) -> None:
    """RedBeat's ``redbeat_redis_use_ssl`` dict (CA + client certificate) on a server
    that requires client certificates."""
    server = start_tls(tls_files, auth_clients="yes")
    broker_url = redis_server.url.rsplit("/", 1)[0] + "/7"
    broker = redis.Redis.from_url(broker_url, decode_responses=True)
    broker.flushdb()
    url = f"rediss://127.0.0.1:{server.port}/0"
    use_ssl = {
        "ssl_ca_certs": tls_files.ca,
        "ssl_certfile": tls_files.client_cert,
        "ssl_keyfile": tls_files.client_key,
    }
    try:
        full = f"{url}?ssl_ca_certs={tls_files.ca}&ssl_certfile={tls_files.client_cert}"
        full += f"&ssl_keyfile={tls_files.client_key}"
        applied = cli("apply", write_spec(tmp_path), "--auto-approve", "--redis-url", full,
                      "--key-prefix", PREFIX)  # fmt: skip
        assert applied.code == 0, applied.all
        app = make_app(url, broker_url, redbeat_key_prefix=PREFIX, redbeat_redis_use_ssl=use_ssl)
        beat = Scheduler(app)
        try:
            beat.start()
            leading(beat)
            tick_until_sent(beat, broker)
        finally:
            beat.close()
    finally:
        broker.close()
        server.stop()


# --------------------------------------------------------------------------- ACL


@pytest.fixture(scope="module")
def acl_server() -> Iterator[Proc]:
    server = plain()
    admin = server.client()
    admin.execute_command("ACL", "SETUSER", "rb", *_acl_rule(f"~{PREFIX}*"))
    admin.execute_command("ACL", "SETUSER", "outsider", *_acl_rule("~other:*"))
    admin.close()
    yield server
    server.stop()


def _no_password(*outputs: str) -> None:
    for text in outputs:
        assert PASSWORD not in text


def test_acl_user_limited_to_the_prefix_runs_cli_and_beat(
    acl_server: Proc, redis_server, tmp_path: Path
) -> None:
    url = f"redis://rb:{PASSWORD}@127.0.0.1:{acl_server.port}/0"
    spec = write_spec(tmp_path)
    results = plan_apply_show(url, spec, prefix=PREFIX)
    results.append(cli("export", "--redis-url", url, "--key-prefix", PREFIX))
    results.append(cli("history", "--redis-url", url, "--key-prefix", PREFIX))
    assert all(r.code == 0 for r in results[1:]), [r.all for r in results]
    _no_password(*(r.all for r in results))

    broker_url = redis_server.url.rsplit("/", 1)[0] + "/8"
    broker = redis.Redis.from_url(broker_url, decode_responses=True)
    broker.flushdb()
    app = make_app(url, broker_url, redbeat_key_prefix=PREFIX)
    beat = Scheduler(app)
    try:
        _no_password(beat.info)
        beat.start()
        leading(beat)
        tick_until_sent(beat, broker)
    finally:
        beat.close()
        broker.close()


def test_acl_user_without_rights_gets_one_line(acl_server: Proc, tmp_path: Path) -> None:
    spec = write_spec(tmp_path)
    outsider = f"redis://outsider:{PASSWORD}@127.0.0.1:{acl_server.port}/0"
    for args in (["plan", spec], ["apply", spec, "--auto-approve"], ["show"]):
        result = cli(*args, "--redis-url", outsider, "--key-prefix", PREFIX)
        assert result.code == 1, result.all
        (line,) = result.stderr.strip().splitlines()
        assert "NOPERM" in line or "permission" in line
        _no_password(result.all)
    wrong = f"redis://rb:not-{PASSWORD}@127.0.0.1:{acl_server.port}/0"
    result = cli("show", "--redis-url", wrong)
    assert result.code == 1 and len(result.stderr.strip().splitlines()) == 1
    assert "rb:***@" in result.stderr
    _no_password(result.all)

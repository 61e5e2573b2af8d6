"""A Redis password never shows up anywhere (issue 9 §4), whatever form it is given in.

The real ``redbeat-sync`` runs as a subprocess against a redis-server that requires
the password; its stdout and stderr, the audit records, every key and value left in
Redis, and every command Redis received (MONITOR, which itself hides AUTH's
arguments) are searched for it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from child_env import bare_env
from redis_topologies import Proc

from devsupport.devserver import free_port

PASSWORD = "hunter2-Zq9x"
PREFIX = "rs-secret:"
CLI = [sys.executable, "-m", "redbeat_sync"]
FILES = "version: 1\nentries:\n  ping: {task: app.ping, schedule: {every: 30s}}\n"


@pytest.fixture(scope="module")
def locked_server() -> Iterator[Proc]:
    server = Proc(f"requirepass {PASSWORD}\n", port=free_port()).start()
    yield server
    server.stop()


def url_of(server: Proc) -> str:
    return f"redis://127.0.0.1:{server.port}/0"


class Monitor:
    """Every command the server receives, as Redis's MONITOR prints it."""

    def __init__(self, url: str) -> None:
        self.client = redis.Redis.from_url(url, password=PASSWORD, decode_responses=True)
        self.lines: list[str] = []
        self._monitor = self.client.monitor()
        self._monitor.__enter__()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            for command in self._monitor.listen():
                self.lines.append(command["command"])
        except (redis.RedisError, OSError, ValueError):
            pass

    def stop(self) -> None:
        self._monitor.connection.disconnect()
        self._thread.join(timeout=5)
        self.client.close()


def run(args: list[str], env: dict[str, str], cwd: Path) -> str:
    base = bare_env(os.environ.get("PATH", "/usr/bin:/bin"), NO_COLOR="1")
    proc = subprocess.run(
        [*CLI, *args], capture_output=True, text=True, env={**base, **env}, cwd=cwd, timeout=120
    )
    assert "Traceback" not in proc.stderr, proc.stderr
    return f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"


def every_value(client: redis.Redis) -> str:
    dump = []
    for key in client.scan_iter(count=1000):
        kind = client.type(key)
        dump.append(key)
        if kind == "string":
            dump.append(str(client.get(key)))
        elif kind == "hash":
            dump.append(json.dumps(client.hgetall(key)))
        elif kind == "set":
            dump.append(json.dumps(sorted(client.smembers(key))))
        elif kind == "zset":
            dump.append(json.dumps(client.zrange(key, 0, -1)))
        elif kind == "stream":
            dump.append(json.dumps(client.xrange(key)))
        else:
            dump.append(f"<{kind}>")
    return "\n".join(dump)


def app_module(tmp_path: Path, url: str, options: dict[str, object]) -> None:
    (tmp_path / "secretapp.py").write_text(
        "from celery import Celery\n"
        "app = Celery('secret', set_as_current=False)\n"
        f"app.conf.redbeat_redis_url = {url!r}\n"
        f"app.conf.redbeat_key_prefix = {PREFIX!r}\n"
        f"app.conf.redbeat_redis_options = {options!r}\n"
        "\n\n@app.task(name='app.ping')\ndef ping():\n    pass\n",
        encoding="utf-8",
    )


def forms(server: Proc, tmp_path: Path) -> dict[str, tuple[list[str], dict[str, str]]]:
    host = f"127.0.0.1:{server.port}"
    prefix = ["--key-prefix", PREFIX]
    return {
        "userinfo": ([*prefix, "--redis-url", f"redis://:{PASSWORD}@{host}/0"], {}),
        "user and password": (
            [*prefix, "--redis-url", f"redis://default:{PASSWORD}@{host}/0"],
            {},
        ),
        "query": ([*prefix, "--redis-url", f"redis://{host}/0?password={PASSWORD}"], {}),
        "env var": (prefix, {"REDBEAT_SYNC_REDIS_URL": f"redis://:{PASSWORD}@{host}/0"}),
        "redbeat_redis_options": (["--app", "secretapp:app"], {}),
    }


@pytest.mark.slow
def test_the_password_never_appears_in_output_audit_or_redis(
    locked_server: Proc, tmp_path: Path
) -> None:
    schedule = tmp_path / "s.yaml"
    schedule.write_text(FILES, encoding="utf-8")
    admin = redis.Redis.from_url(url_of(locked_server), password=PASSWORD, decode_responses=True)
    app_module(tmp_path, f"redis://127.0.0.1:{locked_server.port}/0", {"password": PASSWORD})
    monitor = Monitor(url_of(locked_server))
    seen: list[str] = []
    try:
        for name, (flags, env) in forms(locked_server, tmp_path).items():
            admin.flushdb()
            outputs = [
                run(
                    ["apply", "--auto-approve", "-m", "secret test", *flags, str(schedule)],
                    env,
                    tmp_path,
                ),
                run(["plan", "--format", "json", *flags, str(schedule)], env, tmp_path),
                run(["show", "--format", "json", *flags], env, tmp_path),
                run(["history", "--format", "json", *flags], env, tmp_path),
                run(["drift", *flags, str(schedule)], env, tmp_path),
                run(["export", *flags], env, tmp_path),
                run(["force-unlock", "nope", *flags], env, tmp_path),
            ]
            # A held lock: the error prints a force-unlock command with the target flags.
            admin.set(
                f"{PREFIX}:sync:lock",
                json.dumps({"id": "feedc0de", "holder": "x@y", "host": "elsewhere", "pid": 1}),
                px=60_000,
            )
            changed = tmp_path / "changed.yaml"
            changed.write_text(FILES.replace("30s", "31s"), encoding="utf-8")
            held = run(
                ["apply", "--auto-approve", "--lock-timeout", "0", *flags, str(changed)],
                env,
                tmp_path,
            )
            assert "force-unlock feedc0de" in held, held
            outputs.append(held)
            admin.delete(f"{PREFIX}:sync:lock")
            # An apply that fails part-way through its own lock check is audited too.
            assert "exit 0" in outputs[0], (name, outputs[0])
            for text in outputs:
                assert PASSWORD not in text, (name, text)
            stored = every_value(admin)
            assert "secret test" in stored  # the audit record is there
            assert PASSWORD not in stored, (name, stored)
            seen += outputs
    finally:
        monitor.stop()
    commands = "\n".join(monitor.lines)
    assert "EVALSHA" in commands or "EVAL" in commands  # it did see the applies
    assert PASSWORD not in commands
    # The lock records the command as flag names only.
    locks = [line for line in monitor.lines if line.startswith("SET ") and '"command"' in line]
    assert locks and all('"command": "redbeat-sync apply --auto-approve' in x for x in locks)
    assert any("--redis-url" in text for text in seen)  # the hint kept the flag, masked


def test_sentinel_kwargs_password_never_appears(tmp_path: Path) -> None:
    """Sentinels unreachable: the error path must not show the sentinel password."""
    app_module(
        tmp_path,
        "redis-sentinel://127.0.0.1:1/0?service_name=mymaster",
        {"sentinel_kwargs": {"password": PASSWORD}, "password": PASSWORD, "socket_timeout": 1},
    )
    for args in (["show", "--app", "secretapp:app"], ["history", "--app", "secretapp:app"]):
        text = run(args, {}, tmp_path)
        assert "exit 1" in text and "Error:" in text, text
        assert PASSWORD not in text, text


def test_one_redaction_function_covers_every_shape() -> None:
    from redbeat_sync.redact import redact
    from redbeat_sync.state import connection, synclock

    assert not hasattr(connection, "mask_url")  # no second name for it
    assert not hasattr(synclock, "_masked")
    for text in [
        f"redis://:{PASSWORD}@h:1/0",
        f"redis://u:{PASSWORD}@h:1/0",
        f"rediss://u:p@{PASSWORD}@h/0",  # '@' inside an unencoded password
        f"redis://h/0?db=1&password={PASSWORD}",
        f"sentinel://:{PASSWORD}@h1:26379/1;sentinel://:{PASSWORD}@h2:26380/1",
        f"{{'sentinel_kwargs': {{'password': '{PASSWORD}'}}}}",
        f'{{"password": "{PASSWORD}"}}',
        f"Redis(password={PASSWORD!r})",
        f"--password={PASSWORD}",
    ]:
        assert PASSWORD not in redact(text), text
    assert (
        redact("redis://h:6379/0 and user@example.com") == "redis://h:6379/0 and user@example.com"
    )

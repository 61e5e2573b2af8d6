"""Fault injection for tests: a small TCP proxy that can cut and refuse connections.

``TcpProxy(target_port).start()`` listens on 127.0.0.1:<free port> and forwards every
connection to 127.0.0.1:target_port.  A test points one client (e.g. a beat's
``redbeat_redis_url``) at ``proxy.port`` and then:

- ``cut()``      closes every open connection, both sides (a network drop);
- ``refuse()``   closes the listening socket too, so new connects get ECONNREFUSED;
- ``resume()``   listens again on the same port;
- ``outage(s)``  cut + refuse, wait ``s`` seconds, resume.

Everything is bounded: one thread per connection (at most ``max_connections``;
extra ones are closed at once), daemon threads, and the proxy stops itself after
``max_lifetime`` seconds so a failing test cannot leave it running.
"""

from __future__ import annotations

import contextlib
import selectors
import socket
import threading
import time

_CHUNK = 65536


class TcpProxy:
    def __init__(
        self,
        target_port: int,
        *,
        target_host: str = "127.0.0.1",
        port: int = 0,
        max_connections: int = 64,
        max_lifetime: float = 300.0,
    ) -> None:
        self.target = (target_host, target_port)
        self.port = port
        self.max_connections = max_connections
        self.max_lifetime = max_lifetime
        self.accepted = 0  # connections accepted so far (tests read it)
        self.cuts = 0
        self._listener: socket.socket | None = None
        self._pairs: set[tuple[socket.socket, socket.socket]] = set()
        self._lock = threading.Lock()
        self._halt = threading.Event()
        self._refusing = threading.Event()
        self._thread: threading.Thread | None = None
        self._deadline = 0.0

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    # --- control ----------------------------------------------------------------------
    def start(self) -> TcpProxy:
        self._listen()
        self._deadline = time.monotonic() + self.max_lifetime
        self._thread = threading.Thread(
            target=self._accept_loop, name="faultkit-accept", daemon=True
        )
        self._thread.start()
        return self

    def cut(self) -> int:
        """Close every open connection (both ends); returns how many were cut."""
        with self._lock:
            pairs, self._pairs = self._pairs, set()
        for pair in pairs:
            _close(*pair)
        self.cuts += 1
        return len(pairs)

    def refuse(self) -> None:
        """Stop listening: new connections are refused until ``resume()``."""
        self._refusing.set()
        with self._lock:
            listener, self._listener = self._listener, None
        if listener is not None:
            _close(listener)

    def resume(self) -> None:
        if self._refusing.is_set():
            self._listen()
            self._refusing.clear()

    def outage(self, seconds: float) -> None:
        """A full outage: cut everything, refuse for ``seconds``, listen again."""
        self.refuse()
        self.cut()
        time.sleep(seconds)
        self.resume()

    def stop(self) -> None:
        self._halt.set()
        self.refuse()
        self.cut()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(2.0)

    def __enter__(self) -> TcpProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- internals --------------------------------------------------------------------
    def _listen(self) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", self.port))
        sock.listen(64)
        sock.settimeout(0.1)  # the accept loop re-checks halt/refuse this often
        self.port = sock.getsockname()[1]
        with self._lock:
            self._listener = sock

    def _accept_loop(self) -> None:
        while not self._halt.is_set():
            if time.monotonic() > self._deadline:
                self.stop()  # bounded: never outlives a test by much
                return
            listener = self._listener
            if listener is None:
                time.sleep(0.02)
                continue
            try:
                client, _ = listener.accept()
            except (TimeoutError, OSError):
                continue
            if self._refusing.is_set() or len(self._pairs) >= self.max_connections:
                _close(client)
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=2.0)
            except OSError:
                _close(client)
                continue
            self.accepted += 1
            pair = (client, upstream)
            with self._lock:
                self._pairs.add(pair)
            threading.Thread(
                target=self._pump, args=(pair,), name="faultkit-pump", daemon=True
            ).start()

    def _pump(self, pair: tuple[socket.socket, socket.socket]) -> None:
        client, upstream = pair
        other = {client: upstream, upstream: client}
        with selectors.DefaultSelector() as selector:
            try:
                for sock in pair:
                    sock.setblocking(True)
                    selector.register(sock, selectors.EVENT_READ)
                while not self._halt.is_set():
                    with self._lock:
                        if pair not in self._pairs:
                            return  # cut
                    for key, _ in selector.select(timeout=0.1):
                        data = key.fileobj.recv(_CHUNK)  # type: ignore[union-attr]
                        if not data:
                            return
                        other[key.fileobj].sendall(data)  # type: ignore[index]
            except (OSError, ValueError):
                return  # a cut closed the sockets under us
            finally:
                with self._lock:
                    self._pairs.discard(pair)
                _close(*pair)


def _close(*socks: socket.socket) -> None:
    for sock in socks:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
        with contextlib.suppress(OSError):
            sock.close()


__all__ = ["TcpProxy"]

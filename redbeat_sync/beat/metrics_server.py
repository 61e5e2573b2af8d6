"""The HTTP face of beat's metrics: ``/metrics`` (Prometheus text) and ``/healthz``.

``/healthz`` answers for *this process* (an HTTP liveness probe): 200 while its tick
loop has run within the lock timeout plus 5 s (``?max_lag=SECONDS`` to change it) and
its stall watchdog is quiet, 503 otherwise; a standby is healthy.  Whether the
deployment has a working leader is ``redbeat-sync health``'s question (it reads Redis).
"""

from __future__ import annotations

import json
import time
from socketserver import ThreadingMixIn
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer
from wsgiref.simple_server import make_server as _wsgi_server

from .heartbeat import default_max_lag

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from .metrics import PrometheusMetrics


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass  # one line per scrape would drown beat's own log


def local_health(metrics: PrometheusMetrics, max_lag: float | None = None) -> dict[str, Any]:
    scheduler = metrics.scheduler
    lag = default_max_lag(scheduler.lock_timeout) if max_lag is None else max_lag
    last = scheduler.heartbeat.last_tick
    age = time.time() - last if last else None
    leader = scheduler.is_leader() if scheduler.started else False
    problem = None
    if age is None:
        problem = "no tick yet"
    elif age > lag:
        problem = f"last tick {age:.1f}s ago (more than {lag:g}s)"
    elif leader and scheduler.stalled:
        problem = f"runs overdue by {scheduler.last_overdue:.1f}s while leading (stall watchdog)"
    return {
        "ok": problem is None,
        "problem": problem,
        "role": "leader" if leader else "standby",
        "last_tick_age": None if age is None else round(age, 3),
        "max_lag": lag,
    }


def make_app(metrics: PrometheusMetrics) -> Callable[..., Iterable[bytes]]:
    import prometheus_client

    serve_metrics = prometheus_client.make_wsgi_app(metrics.registry)

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "/")
        if path == "/healthz":
            query = parse_qs(environ.get("QUERY_STRING", ""))
            try:
                lag = float(query["max_lag"][0]) if "max_lag" in query else None
            except ValueError:
                start_response("400 Bad Request", [("Content-Type", "text/plain")])
                return [b"max_lag must be a number of seconds\n"]
            report = local_health(metrics, lag)
            status = "200 OK" if report["ok"] else "503 Service Unavailable"
            start_response(status, [("Content-Type", "application/json")])
            return [json.dumps(report).encode() + b"\n"]
        if path in ("/metrics", "/"):
            return serve_metrics(environ, start_response)  # type: ignore[no-any-return]
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"not found: try /metrics or /healthz\n"]

    return app


def make_server(metrics: PrometheusMetrics, address: str, port: int) -> WSGIServer:
    return _wsgi_server(
        address, port, make_app(metrics), server_class=_Server, handler_class=_QuietHandler
    )


__all__ = ["local_health", "make_app", "make_server"]

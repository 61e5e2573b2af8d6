"""Connecting to the Redis that holds the RedBeat schedule.

``RedisSettings`` is the one description of "which Redis, how": the CLI builds it
from flags/environment, the beat scheduler from RedBeat's settings
(``redbeat_redis_url``, ``redbeat_redis_options``, ``redbeat_redis_use_ssl``).
``redis://``, ``rediss://`` and ``unix://`` are handled here; Sentinel
(``redis-sentinel://``, Celery's ``sentinel://``) and Cluster (``redis-cluster://`` or
``{"cluster": True}``) clients are built by ``topology``, and ``retry_period`` becomes
a redis-py ``Retry`` on the client (``retry``).

Failures to connect become one-line ``UserError``s carrying the URL with its
password masked; the default timeouts make a dead host fail within seconds.
"""

from __future__ import annotations

import os
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit

import redis

from ..errors import UserError
from ..redact import redact, remember_secret, remember_secrets_in
from .retry import build_retry

DEFAULT_URL = "redis://localhost:6379/0"
URL_ENV_VAR = "REDBEAT_SYNC_REDIS_URL"
#: Short enough that an unreachable host fails fast, long enough for a busy server.
DEFAULT_CONNECT_TIMEOUT = 3.0
DEFAULT_SOCKET_TIMEOUT = 5.0
#: Keys of ``redbeat_redis_options`` that configure RedBeat itself, not the client.
REDBEAT_ONLY_OPTIONS = frozenset(
    {
        "retry_period",
        "cluster",
        "sentinels",
        "service_name",
        "master_name",
        "sentinel_kwargs",
        "startup_nodes",
    }
)
_SUPPORTED_SCHEMES = ("redis", "rediss", "unix")


def resolve_url(url: str | None) -> str:
    """Explicit URL, else $REDBEAT_SYNC_REDIS_URL, else the local default."""
    return url or os.environ.get(URL_ENV_VAR) or DEFAULT_URL


def _split_our_query(url: str) -> tuple[str, dict[str, str]]:
    """Take redbeat-sync's own query parameters (``retry_period``...) out of a URL."""
    from .topology import OUR_QUERY_KEYS

    base, sep, query = url.partition("?")
    if not sep:
        return url, {}
    pairs = parse_qsl(query, keep_blank_values=True)
    ours = {k: v for k, v in pairs if k in OUR_QUERY_KEYS}
    if not ours:
        return url, {}
    rest = urlencode([(k, v) for k, v in pairs if k not in OUR_QUERY_KEYS])
    return (f"{base}?{rest}" if rest else base), ours


def _path_db_problem(url: str) -> str | None:
    """Why the database in a redis:// path is unusable, or None.  redis-py reads the
    path as the db number only when it is one, and silently uses db 0 otherwise: the
    schedule would be read from and written to another database than meant."""
    parts = urlsplit(url)
    if "db" in dict(parse_qsl(parts.query)):
        return None  # ?db= wins over the path (redis-py's rule); checked by redis-py
    db = unquote(parts.path).replace("/", "")  # as redis-py reads it
    if not db or (db.isascii() and db.isdigit()):
        return None
    return f"the database in the path must be a number like /0, not {db!r}"


def _reason(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__).rstrip(".")


@dataclass(frozen=True)
class RedisSettings:
    """Where and how to connect (shared by the CLI and the beat scheduler).

    ``options`` are redis-py client keyword arguments (``username``, ``password``,
    ``socket_timeout``, ``ssl_ca_certs``, ...); RedBeat-only keys are dropped.
    ``use_ssl`` is RedBeat's ``redbeat_redis_use_ssl``: True, or a dict of ssl_*
    options, applied to ``rediss://`` URLs.
    """

    url: str = DEFAULT_URL
    options: Mapping[str, Any] = field(default_factory=dict)
    use_ssl: bool | Mapping[str, Any] = False

    def __post_init__(self) -> None:
        # Whatever form a password comes in, no message may show it (see redact).
        remember_secrets_in(self.options)
        for part in self.url.split(";"):
            try:
                parts = urlsplit(part)
                password = parts.password
            except ValueError:
                continue
            remember_secret(password)
            remember_secret(unquote(password or ""))
            remember_secrets_in(dict(parse_qsl(parts.query, keep_blank_values=True)))

    @property
    def masked_url(self) -> str:
        return redact(self.url)

    @property
    def scheme(self) -> str:
        return self.url.split("://", 1)[0].lower() if "://" in self.url else ""

    def client_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``redis.Redis.from_url`` (always decode_responses)."""
        kwargs: dict[str, Any] = {
            "socket_connect_timeout": DEFAULT_CONNECT_TIMEOUT,
            "socket_timeout": DEFAULT_SOCKET_TIMEOUT,
        }
        if self.scheme == "rediss":
            # RedBeat's default: verify the server certificate.
            kwargs["ssl_cert_reqs"] = ssl.CERT_REQUIRED
            if isinstance(self.use_ssl, Mapping):
                kwargs.update(self.use_ssl)
        kwargs.update({k: v for k, v in self.options.items() if k not in REDBEAT_ONLY_OPTIONS})
        kwargs["decode_responses"] = True
        retry = build_retry(self.options.get("retry_period"))
        if retry is not None:
            kwargs["retry"] = retry
        return kwargs

    def client(self) -> redis.Redis:
        """A client object (no I/O yet, except Cluster's slot discovery); raises
        UserError for an unusable URL."""
        from . import topology

        try:
            if topology.is_cluster(self):
                return topology.cluster_client(self)  # type: ignore[return-value]
            if topology.is_sentinel(self):
                return topology.sentinel_client(self)
        except (ValueError, TypeError) as exc:
            raise UserError(f"bad Redis URL {self.masked_url}: {_reason(exc)}") from None
        if self.scheme not in _SUPPORTED_SCHEMES:
            raise UserError(
                f"unsupported Redis URL {self.masked_url}: use redis://, rediss://, unix://, "
                "redis-sentinel:// (or sentinel://) or redis-cluster://"
            )
        url, query_options = _split_our_query(self.url)
        if self.scheme != "unix" and (problem := _path_db_problem(url)):
            raise UserError(f"bad Redis URL {self.masked_url}: {problem}")
        kwargs = self.client_kwargs()
        if "retry_period" in query_options and "retry_period" not in self.options:
            retry = build_retry(query_options["retry_period"])
            if retry is not None:
                kwargs["retry"] = retry
        try:
            return redis.Redis.from_url(url, **kwargs)
        except (ValueError, TypeError) as exc:
            raise UserError(f"bad Redis URL {self.masked_url}: {_reason(exc)}") from None

    def connect(self) -> redis.Redis:
        """A client that answered PING; one-line UserError when it does not."""
        client = self.client()
        try:
            client.ping()
        except (redis.RedisError, OSError) as exc:
            client.close()
            reason = redact(_reason(exc).replace(self.url, self.masked_url))
            if isinstance(exc, redis.exceptions.NoPermissionError):
                raise UserError(
                    f"the Redis user may not run PING at {self.masked_url}: {reason}"
                ) from None
            raise UserError(f"cannot connect to Redis at {self.masked_url}: {reason}") from None
        return client


def connect(url: str | None = None, *, options: dict[str, Any] | None = None) -> redis.Redis:
    """Connect to ``resolve_url(url)`` and ping it (decode_responses=True)."""
    return RedisSettings(resolve_url(url), dict(options or {})).connect()

"""Sentinel and Cluster: turning RedBeat's URL forms and options into a client.

URL forms (the password in any of them is masked in every message):

- ``redis-sentinel://[[user]:password@]host:port[,host:port...][/db][?service_name=NAME]``
  (RedBeat's form; ``rediss-sentinel://`` for TLS to the master).  The sentinels are
  ``redbeat_redis_options["sentinels"]`` (a list of ``(host, port)``) when given,
  else the URL's hosts.  ``service_name`` (or ``master_name``) names the monitored
  master; RedBeat's default is ``"master"``.  ``sentinel_kwargs`` are passed to the
  sentinel connections (e.g. ``{"password": ...}`` when the sentinels need auth).
- ``sentinel://[:password@]host:port[/db];sentinel://host:port...`` (Celery's broker
  spelling) is read the same way.
- ``redis-cluster://[[user]:password@]host:port[,host:port...]`` (``rediss-cluster://``
  for TLS), or any ``redis://``/``rediss://`` URL with ``{"cluster": True}`` in the
  options; ``startup_nodes`` (list of ``{"host", "port"}``) overrides the URL's hosts.

The master behind a Sentinel is found through ``Sentinel.master_for``: its pool asks
the sentinels again whenever a connection fails (or the old master answers
READONLY after being demoted), so beat and apply follow a failover without a
restart.

Under Cluster every multi-key call (apply's script, beat's claim, the lock checks)
must stay in one hash slot, so the key prefix must carry a hash tag (``{redbeat}:``);
``check_cluster_prefix`` says so in one line before anything is sent.
"""

from __future__ import annotations

import ssl
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, unquote

import redis
import redis.cluster
from redis.cluster import ClusterNode, RedisCluster
from redis.crc import key_slot
from redis.exceptions import RedisClusterException
from redis.sentinel import Sentinel

from ..errors import UserError
from .layout import Layout
from .retry import build_retry

if TYPE_CHECKING:
    from .connection import RedisSettings

SENTINEL_SCHEMES = frozenset({"redis-sentinel", "rediss-sentinel", "sentinel", "sentinels"})
CLUSTER_SCHEMES = frozenset({"redis-cluster", "rediss-cluster"})
DEFAULT_SERVICE_NAME = "master"  # RedBeat's default
DEFAULT_SENTINEL_PORT = 26379
DEFAULT_REDIS_PORT = 6379
#: Query parameters that configure redbeat-sync, never passed to redis-py.
OUR_QUERY_KEYS = frozenset({"service_name", "master_name", "retry_period", "cluster"})
#: Client arguments a Cluster or Sentinel client takes from us, not from the user.
_MANAGED_KWARGS = frozenset({"host", "port", "db", "retry", "username", "password"})


@dataclass(frozen=True)
class ParsedUrl:
    """A possibly multi-host Redis URL, split into parts (password kept, never shown)."""

    scheme: str
    hosts: list[tuple[str, int]]
    username: str | None = None
    password: str | None = None
    path: str = ""
    query: dict[str, str] = field(default_factory=dict)

    @property
    def tls(self) -> bool:
        return self.scheme.startswith("rediss")

    def db(self) -> int | None:
        first = self.path.strip("/").split("/")[0] if self.path.strip("/") else ""
        if first.isdigit():
            return int(first)
        if "db" in self.query and self.query["db"].isdigit():
            return int(self.query["db"])
        return None

    def path_name(self) -> str | None:
        """A non-numeric first path segment (``redis-sentinel://h:1/mymaster/0``)."""
        first = self.path.strip("/").split("/")[0] if self.path.strip("/") else ""
        return first if first and not first.isdigit() else None


def _host_port(text: str, default_port: int) -> tuple[str, int]:
    text = text.strip()
    if text.startswith("["):  # [ipv6]:port
        host, _, rest = text[1:].partition("]")
        port = rest.lstrip(":")
    elif text.count(":") == 1:
        host, _, port = text.partition(":")
    else:
        host, port = text, ""
    if port and not port.isdigit():
        raise UserError(f"bad port {port!r} in a Redis URL")
    return host or "localhost", int(port) if port else default_port


def parse_multi_url(url: str, default_port: int) -> ParsedUrl:
    """Parse ``scheme://[user:pw@]h1:p1[,h2:p2]/path?q`` and Celery's ``;``-joined form."""
    scheme = url.split("://", 1)[0].lower()
    hosts: list[tuple[str, int]] = []
    username = password = None
    path = ""
    query: dict[str, str] = {}
    for part in filter(None, (p.strip() for p in url.split(";"))):
        if "://" not in part:
            raise UserError("a Redis URL part has no scheme:// (Celery joins hosts with ';')")
        rest = part.split("://", 1)[1]
        rest, _, raw_query = rest.partition("?")
        netloc, slash, part_path = rest.partition("/")
        if "@" in netloc:
            userinfo, _, netloc = netloc.rpartition("@")
            user, colon, secret = userinfo.partition(":")
            username = username or (unquote(user) or None)
            if colon:
                password = password or unquote(secret)
        hosts.extend(_host_port(h, default_port) for h in netloc.split(",") if h.strip())
        if slash and not path:
            path = "/" + part_path
        for key, value in parse_qsl(raw_query, keep_blank_values=True):
            query.setdefault(key, value)
    if not hosts:
        hosts = [("localhost", default_port)]
    return ParsedUrl(scheme, hosts, username, password, path, query)


def is_sentinel(settings: RedisSettings) -> bool:
    return settings.scheme in SENTINEL_SCHEMES


def is_cluster(settings: RedisSettings) -> bool:
    return settings.scheme in CLUSTER_SCHEMES or _truthy(settings.options.get("cluster"))


def _truthy(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in {"1", "true", "yes", "on"}
    return bool(value)


def _node_kwargs(settings: RedisSettings, parsed: ParsedUrl) -> dict[str, Any]:
    """Connection arguments for data nodes: timeouts, TLS, credentials, decoding."""
    kwargs = settings.client_kwargs()
    for key in _MANAGED_KWARGS:
        kwargs.pop(key, None)
    kwargs.pop("ssl", None)
    # rediss-sentinel:// / rediss-cluster://, or RedBeat's redbeat_redis_use_ssl.
    tls = parsed.tls or bool(settings.use_ssl)
    if tls:
        kwargs["ssl"] = True
        if isinstance(settings.use_ssl, Mapping):
            # redbeat_redis_use_ssl is the user's explicit choice (ssl_cert_reqs: CERT_NONE
            # included): it wins over our default, as in RedBeat.
            kwargs.update(settings.use_ssl)
        kwargs.setdefault("ssl_cert_reqs", ssl.CERT_REQUIRED)
    else:
        for key in [k for k in kwargs if k.startswith("ssl_")]:
            del kwargs[key]
    # URL query parameters (ssl_ca_certs=..., socket_timeout=...) as redis-py reads them.
    for key, value in parsed.query.items():
        if key in OUR_QUERY_KEYS or key == "db":
            continue
        kwargs.setdefault(key, _query_value(key, value))
    username = settings.options.get("username") or parsed.username
    password = settings.options.get("password") or parsed.password
    if username:
        kwargs["username"] = username
    if password:
        kwargs["password"] = password
    return kwargs


def _query_value(key: str, value: str) -> Any:
    if key in {"socket_timeout", "socket_connect_timeout"}:
        return float(value)
    if key in {"ssl_check_hostname"}:
        return _truthy(value)
    return value


def sentinel_client(settings: RedisSettings) -> redis.Redis:
    """A client for the current master of ``service_name`` (follows failovers)."""
    parsed = parse_multi_url(settings.url, DEFAULT_SENTINEL_PORT)
    options = settings.options
    sentinels = [_pair(s) for s in options.get("sentinels") or parsed.hosts]
    service = (
        options.get("service_name")
        or options.get("master_name")
        or parsed.query.get("service_name")
        or parsed.query.get("master_name")
        or parsed.path_name()
        or DEFAULT_SERVICE_NAME
    )
    db = options.get("db", parsed.db() or 0)
    node = _node_kwargs(settings, parsed)
    sentinel_kwargs = {
        "socket_connect_timeout": node.get("socket_connect_timeout"),
        "socket_timeout": node.get("socket_timeout"),
        **dict(options.get("sentinel_kwargs") or {}),
    }
    retry = build_retry(options.get("retry_period", parsed.query.get("retry_period")))
    if retry is not None:
        node["retry"] = retry
    sentinel = Sentinel(sentinels, sentinel_kwargs=sentinel_kwargs, **node)
    client: redis.Redis = sentinel.master_for(
        str(service), redis_class=redis.Redis, db=int(db), **node
    )
    client.redbeat_sync_service_name = str(service)  # type: ignore[attr-defined]
    return client


def _pair(value: Any) -> tuple[str, int]:
    if isinstance(value, str):
        return _host_port(value, DEFAULT_SENTINEL_PORT)
    if isinstance(value, Mapping):
        return str(value["host"]), int(value.get("port", DEFAULT_SENTINEL_PORT))
    host, port = value
    return str(host), int(port)


def cluster_client(settings: RedisSettings) -> RedisCluster:
    """A Redis Cluster client from startup nodes (options) or the URL's hosts."""
    parsed = parse_multi_url(settings.url, DEFAULT_REDIS_PORT)
    db = parsed.db()
    if db:
        raise UserError(
            f"Redis Cluster has only database 0, the URL {settings.masked_url} asks for {db}"
        )
    startup = settings.options.get("startup_nodes")
    nodes = (
        [ClusterNode(*_node_pair(n)) for n in startup]
        if startup
        else [ClusterNode(h, p) for h, p in parsed.hosts]
    )
    kwargs = _node_kwargs(settings, parsed)
    retry = build_retry(settings.options.get("retry_period", parsed.query.get("retry_period")))
    # Looked up at call time (redis.cluster.RedisCluster), as RedBeat does: code and
    # tests that stand in for the class there get the same call from us.
    cluster_class = redis.cluster.RedisCluster
    try:
        if not startup and len(parsed.hosts) == 1 and parsed.scheme in {"redis", "rediss"}:
            # RedBeat's ``cluster: True`` form: the one URL is the startup node.
            url = settings.url.split("?", 1)[0]
            return cluster_class.from_url(url, retry=retry, **kwargs)
        return cluster_class(startup_nodes=nodes, retry=retry, **kwargs)
    except (RedisClusterException, redis.RedisError, OSError) as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UserError(
            f"cannot connect to Redis Cluster at {settings.masked_url}: {reason}"
        ) from None


def _node_pair(value: Any) -> tuple[str, int]:
    if isinstance(value, Mapping):
        return str(value.get("host", "localhost")), int(value.get("port", DEFAULT_REDIS_PORT))
    return _pair(value) if not isinstance(value, str) else _host_port(value, DEFAULT_REDIS_PORT)


# --------------------------------------------------------------------------- cluster slots


def layout_keys(layout: Layout, extra_keys: Sequence[str] = ()) -> list[str]:
    """Every key name one deployment uses (two sample entry names stand for all)."""
    return [
        layout.schedule_key,
        layout.statics_key,
        layout.beat_lock_key,
        layout.inventory_key,
        layout.sync_lock_key,
        layout.history_key,
        layout.applied_key,
        layout.entry_key("an-entry"),
        layout.entry_key("another.entry"),
        *extra_keys,
    ]


def prefix_slots(layout: Layout, extra_keys: Sequence[str] = ()) -> set[int]:
    return {key_slot(key.encode()) for key in layout_keys(layout, extra_keys)}


def check_cluster_prefix(client: Any, layout: Layout, *, extra_keys: Sequence[str] = ()) -> None:
    """On a Redis Cluster client, refuse a prefix whose keys span hash slots."""
    if not isinstance(client, RedisCluster):
        return
    if len(prefix_slots(layout, extra_keys)) > 1:
        raise UserError(
            f"key prefix {layout.prefix!r} spreads one deployment's keys over several Redis "
            "Cluster hash slots (CROSSSLOT): use a hash-tagged prefix such as '{redbeat}:' "
            "(redbeat_key_prefix / --key-prefix), and a lock key that starts with it"
        )


__all__ = [
    "CLUSTER_SCHEMES",
    "SENTINEL_SCHEMES",
    "ParsedUrl",
    "check_cluster_prefix",
    "cluster_client",
    "is_cluster",
    "is_sentinel",
    "layout_keys",
    "parse_multi_url",
    "prefix_slots",
    "sentinel_client",
]

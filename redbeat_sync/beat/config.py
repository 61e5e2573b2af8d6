"""Beat settings, read under the names RedBeat users already have.

A RedBeat deployment switches to ``redbeat_sync.Scheduler`` by changing ``-S``
only, so every ``redbeat_*`` setting keeps its name and meaning.  Two defaults
differ on purpose:

- ``redbeat_lock_timeout`` defaults to ``DEFAULT_LOCK_TIMEOUT`` (6 s) instead of
  RedBeat's ``5 * beat_max_loop_interval`` (25 min): the lock is renewed by its own
  timer every third of the timeout, so a short timeout costs nothing while the
  leader lives and lets a standby take over within ~7 s of the leader's death.
  An explicitly configured value is honoured (the banner warns when it is long).
- ``beat_max_loop_interval`` falls back to Celery's default (300 s); beat wakes
  earlier for every due score and for every change notification anyway.

Which Redis (``redis_source``), RedBeat's rule and nothing else: ``redbeat_redis_url``,
else the ``broker_url`` when it is a Redis URL (``redis://``, ``rediss://``, Sentinel,
Cluster, ``unix://``).  Any other broker (``amqp://``...) without
``redbeat_redis_url`` is a start-up error naming that setting: beat never guesses a
Redis, so it never writes into one nobody configured.  The CLI's own default URL is
the CLI's business (``state.connection.resolve_url``), never beat's.

Client options: ``redbeat_redis_options``, else ``broker_transport_options``
(RedBeat 2.4 still reads them, with a deprecation warning); inherited options only
configure Sentinel and Cluster (and ``retry_period``), the rest belong to the broker
and are not given to the Redis client, as in RedBeat.
"""

from __future__ import annotations

import logging
import warnings
from typing import Any

from celery.app import app_or_default

from ..errors import UserError
from ..redact import redact
from ..schedule.vocabulary import DEFAULT_TIMEZONE
from ..state.connection import REDBEAT_ONLY_OPTIONS, RedisSettings
from ..state.layout import DEFAULT_PREFIX, Layout
from ..state.topology import (
    CLUSTER_SCHEMES,
    SENTINEL_SCHEMES,
    check_cluster_prefix,
    parse_multi_url,
)
from .credentials import check_credentials

logger = logging.getLogger("celery.beat")

#: Seconds a beat leader lock lives without renewal (see module docstring).
DEFAULT_LOCK_TIMEOUT = 6.0
#: Celery's own default of ``beat_max_loop_interval``.
DEFAULT_MAX_INTERVAL = 300.0
#: URL schemes that name a Redis (the broker_url fallback accepts only these).
REDIS_SCHEMES = frozenset({"redis", "rediss", "unix", *SENTINEL_SCHEMES, *CLUSTER_SCHEMES})
#: ``broker_transport_options`` keys a Sentinel client takes from them (RedBeat's set,
#: plus kombu's ``master_name``); everything else there is the broker's.
_INHERITED_SENTINEL_KEYS = frozenset(
    {
        "sentinels",
        "service_name",
        "master_name",
        "sentinel_kwargs",
        "socket_timeout",
        "password",
        "username",
        "db",
        "credential_provider",
        "retry_period",
    }
)
#: App attributes, under RedBeat's names: code written for RedBeat assigns a client to
#: ``app.redbeat_redis`` before beat starts, and reads ``app.redbeat_conf``.
CLIENT_ATTR = "redbeat_redis"
SENTINEL_ATTR = "redbeat_sentinel"
_CONF_ATTR = "redbeat_conf"
_CHECKED_ATTR = "_redbeat_sync_checked_client"

_UNSET = object()


class NoRedisConfigured(UserError):
    """Neither ``redbeat_redis_url`` nor a Redis ``broker_url``: no Redis to use."""


def _setting(app: Any, name: str, default: Any = _UNSET) -> Any:
    """A setting's value if it is *present* (even None), else ``default``.

    Presence matters: ``redbeat_lock_key = None`` means "no lock", which differs
    from not setting it.  Upper-case (Celery 3 style) names are accepted too.
    """
    conf = app.conf
    for key in (name, name.upper()):
        if key in conf:
            return conf[key]
    return default


def _scheme(url: str) -> str:
    return url.split("://", 1)[0].lower() if "://" in url else ""


def is_redis_url(url: str | None) -> bool:
    return bool(url) and _scheme(str(url)) in REDIS_SCHEMES


def _broker_setting(app: Any, name: str) -> Any:
    """A ``broker_*`` setting RedBeat falls back to, read under its upper-case name first
    as RedBeat reads it (the two differ in apps configured Celery-3 style), then as
    Celery resolves it (``broker_url`` from the environment included)."""
    return app.conf.get(name.upper()) or getattr(app.conf, name, None)


def _broker_url(app: Any) -> str | None:
    """Celery's ``broker_url`` as one string (its first URL when a list is given)."""
    broker = _broker_setting(app, "broker_url")
    if isinstance(broker, (list, tuple)):
        broker = broker[0] if broker else None
    return str(broker) if broker else None


def _deprecated_fallback(setting: str, fallback: str) -> str:
    """Warn that ``fallback`` stands in for ``setting``; the message, for the CLI to
    print (it shows neither warnings nor beat's log)."""
    # Logged as well as warned: DeprecationWarning is hidden by default, and beat
    # usually runs where nobody sees warnings.
    message = (
        f"{setting} is not set: using {fallback} as celery-redbeat 2.4 does; "
        f"celery-redbeat 2.5 stops doing that, set {setting} explicitly"
    )
    warnings.warn(message, DeprecationWarning, stacklevel=3)
    logger.warning("beat: %s", message)
    return message


class RedBeatConfig:
    """RedBeat's settings for one Celery app (same attribute names as RedBeat's)."""

    def __init__(self, app: Any = None) -> None:
        app = app_or_default(app)
        self.app = app
        self.key_prefix: str = _setting(app, "redbeat_key_prefix", None) or DEFAULT_PREFIX
        self.layout = Layout(self.key_prefix)
        self.schedule_key = self.layout.schedule_key
        self.statics_key = self.layout.statics_key

        #: The deprecated fallbacks this app relies on, one message each (see above).
        self.fallback_warnings: list[str] = []
        self.redis_url: str | None
        #: Where ``redis_url`` came from, for messages: a setting name, or None.
        self.redis_source: str | None
        url = _setting(app, "redbeat_redis_url", None)
        broker = _broker_url(app)
        if url:
            self.redis_url, self.redis_source = str(url), "redbeat_redis_url"
        elif is_redis_url(broker):
            self.fallback_warnings.append(_deprecated_fallback("redbeat_redis_url", "broker_url"))
            self.redis_url, self.redis_source = broker, "broker_url"
        else:
            self.redis_url, self.redis_source = None, None
        self.broker_url = broker

        use_ssl = _setting(app, "redbeat_redis_use_ssl", None)
        self.redis_use_ssl: Any = (
            _broker_setting(app, "broker_use_ssl") if use_ssl is None else use_ssl
        )

        options = _setting(app, "redbeat_redis_options", _UNSET)
        #: True when the options came from ``broker_transport_options``.
        self.options_inherited = options is _UNSET
        if options is _UNSET:
            options = _broker_setting(app, "broker_transport_options") or {}
            if options:
                self.fallback_warnings.append(
                    _deprecated_fallback("redbeat_redis_options", "broker_transport_options")
                )
        self.redbeat_redis_options: dict[str, Any] = dict(options or {})

        lock_key = _setting(app, "redbeat_lock_key", self.layout.beat_lock_key)
        if lock_key and not lock_key.startswith(self.key_prefix):
            lock_key = self.key_prefix + lock_key  # RedBeat's rule
        self.lock_key: str | None = lock_key or None
        timeout = _setting(app, "redbeat_lock_timeout", None)
        #: The configured timeout, None when not set (the scheduler then uses
        #: ``DEFAULT_LOCK_TIMEOUT``), as RedBeat's config reports it.
        self.lock_timeout: float | None = float(timeout) if timeout else None
        self.max_interval: float = float(
            _setting(app, "beat_max_loop_interval", None) or DEFAULT_MAX_INTERVAL
        )
        self.beat_timezone: str = str(app.conf.timezone or DEFAULT_TIMEZONE)

    @property
    def schedule(self) -> dict[str, Any]:
        """The static ``beat_schedule`` of the Celery config."""
        return self.app.conf.beat_schedule or {}

    @schedule.setter
    def schedule(self, value: dict[str, Any]) -> None:
        self.app.conf.beat_schedule = value

    def is_key_in_conf(self, name: str) -> bool:
        return _setting(self.app, name) is not _UNSET

    def either_or(self, name: str, default: Any = None) -> Any:
        if name == name.upper() and name.lower() != name:
            warnings.warn(
                f"Celery 3 style setting name {name}: use {name.lower()}",
                UserWarning,
                stacklevel=2,
            )
        value = _setting(self.app, name.lower())
        return default if value is _UNSET or (value is None and default is not None) else value

    def _client_options(self, url: str) -> dict[str, Any]:
        """Options for the client: inherited broker options only where RedBeat uses them."""
        options = dict(self.redbeat_redis_options)
        if not self.options_inherited:
            return options
        scheme = _scheme(url)
        if scheme in CLUSTER_SCHEMES or options.get("cluster"):
            return options  # RedBeat hands them all to RedisCluster
        keep = _INHERITED_SENTINEL_KEYS if scheme in SENTINEL_SCHEMES else {"retry_period"}
        skipped = sorted(k for k in options if k not in keep and k not in REDBEAT_ONLY_OPTIONS)
        if skipped:
            logger.debug(
                "beat: broker_transport_options %s belong to the broker, not given to the "
                "Redis client (set redbeat_redis_options for that)",
                ", ".join(skipped),
            )
        return {k: v for k, v in options.items() if k in keep}

    def redis_settings(self) -> RedisSettings:
        """The connection layer's description of this Redis (shared with the CLI).

        Raises ``NoRedisConfigured`` (naming ``redbeat_redis_url``) when the app names
        no Redis: never a default.
        """
        if not self.redis_url:
            raise NoRedisConfigured(self.missing_redis_message())
        if not is_redis_url(self.redis_url):
            raise NoRedisConfigured(
                f"redbeat_redis_url is {redact(self.redis_url)}, not a Redis URL: use "
                "redis://, rediss://, unix://, redis-sentinel:// or redis-cluster://"
            )
        return RedisSettings(
            self.redis_url, self._client_options(self.redis_url), self.redis_use_ssl or False
        )

    def missing_redis_message(self) -> str:
        if self.broker_url:
            found = f"broker_url is {redact(self.broker_url)}, not a Redis URL"
        else:
            found = "broker_url is not set"
        return (
            f"no Redis configured for the RedBeat schedule: redbeat_redis_url is not set "
            f"and {found}; set redbeat_redis_url (e.g. redis://host:6379/0)"
        )

    @property
    def masked_url(self) -> str:
        if not self.redis_url:
            return "(none: set redbeat_redis_url)"
        return redact(self.redis_url)

    @property
    def redis_user(self) -> str:
        """The Redis user the settings log in as (``default`` when none is named)."""
        user = self.redbeat_redis_options.get("username")
        if not user and self.redis_url:
            try:
                user = parse_multi_url(self.redis_url, 6379).username
            except UserError:
                user = None
        return str(user or "default")


def ensure_conf(app: Any = None) -> RedBeatConfig:
    """The app's ``RedBeatConfig`` (``app.redbeat_conf``), built once; None means
    Celery's current app."""
    app = app_or_default(app)
    conf = getattr(app, _CONF_ATTR, None)
    if not isinstance(conf, RedBeatConfig):
        conf = RedBeatConfig(app)
        setattr(app, _CONF_ATTR, conf)
    return conf


def get_redis(app: Any = None) -> Any:
    """The app's Redis client: ``app.redbeat_redis`` when code already assigned one
    (as RedBeat honours it), else one built from the settings and kept there.

    Does not connect (except Cluster's slot discovery): beat starts even while Redis
    is down and retries with backoff.  ``None`` means Celery's current app.
    """
    app = app_or_default(app)
    client = getattr(app, CLIENT_ATTR, None)
    if client is None:
        conf = ensure_conf(app)
        client = conf.redis_settings().client()
        setattr(app, CLIENT_ATTR, client)
        pool = getattr(client, "connection_pool", None)  # a RedisCluster has none
        sentinel = getattr(pool, "sentinel_manager", None)
        if sentinel is not None:
            setattr(app, SENTINEL_ATTR, sentinel)
    if getattr(app, _CHECKED_ATTR, None) is not client:
        conf = ensure_conf(app)
        # Under Redis Cluster: one clear line now instead of CROSSSLOT at the first claim.
        check_cluster_prefix(client, conf.layout, extra_keys=[k for k in [conf.lock_key] if k])
        setattr(app, _CHECKED_ATTR, client)
    return client


def beat_client(app: Any) -> Any:
    """``get_redis`` plus the start-up checks beat does once per client: a Redis is
    configured (``NoRedisConfigured``), and it accepts our credentials."""
    client = get_redis(app)
    # A client code wrapped in a retrying proxy (RedBeat's RetryingConnection): beat
    # uses the client itself, it retries on its own terms.
    client = getattr(client, "wrapped_connection", client)
    if getattr(app, "_redbeat_sync_credentials_ok", None) is not client:
        check_credentials(client, ensure_conf(app))
        app._redbeat_sync_credentials_ok = client
    return client


__all__ = [
    "CLIENT_ATTR",
    "DEFAULT_LOCK_TIMEOUT",
    "DEFAULT_MAX_INTERVAL",
    "NoRedisConfigured",
    "RedBeatConfig",
    "beat_client",
    "ensure_conf",
    "get_redis",
    "is_redis_url",
]

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
"""

from __future__ import annotations

import logging
from typing import Any

from ..state.connection import RedisSettings, mask_url, resolve_url
from ..state.layout import DEFAULT_PREFIX, Layout
from ..state.topology import check_cluster_prefix

logger = logging.getLogger("celery.beat")

#: Seconds a beat leader lock lives without renewal (see module docstring).
DEFAULT_LOCK_TIMEOUT = 6.0
#: Celery's own default of ``beat_max_loop_interval``.
DEFAULT_MAX_INTERVAL = 300.0

_UNSET = object()
_CONF_ATTR = "redbeat_sync_conf"
_CLIENT_ATTR = "redbeat_sync_redis"


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


class RedBeatConfig:
    """RedBeat's settings for one Celery app (same attribute names as RedBeat's)."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.key_prefix: str = _setting(app, "redbeat_key_prefix", None) or DEFAULT_PREFIX
        self.layout = Layout(self.key_prefix)
        self.schedule_key = self.layout.schedule_key
        self.statics_key = self.layout.statics_key

        url = _setting(app, "redbeat_redis_url", None)
        if not url:
            # RedBeat 2.4 falls back to the broker when it is Redis; so do we.
            broker = app.conf.broker_url or ""
            url = broker if broker.startswith(("redis", "rediss")) else None
        self.redis_url: str | None = url
        self.redis_use_ssl: Any = _setting(app, "redbeat_redis_use_ssl", None)
        if self.redis_use_ssl is None and (url or "").startswith("rediss"):
            self.redis_use_ssl = app.conf.broker_use_ssl
        self.redbeat_redis_options: dict[str, Any] = dict(
            _setting(app, "redbeat_redis_options", None) or {}
        )

        lock_key = _setting(app, "redbeat_lock_key", self.layout.beat_lock_key)
        if lock_key and not lock_key.startswith(self.key_prefix):
            lock_key = self.key_prefix + lock_key  # RedBeat's rule
        self.lock_key: str | None = lock_key or None
        timeout = _setting(app, "redbeat_lock_timeout", None)
        self.lock_timeout: float = float(timeout) if timeout else DEFAULT_LOCK_TIMEOUT
        self.max_interval: float = float(
            _setting(app, "beat_max_loop_interval", None) or DEFAULT_MAX_INTERVAL
        )
        self.beat_timezone: str = str(app.conf.timezone or "UTC")

    @property
    def schedule(self) -> dict[str, Any]:
        """The static ``beat_schedule`` of the Celery config."""
        return self.app.conf.beat_schedule or {}

    @schedule.setter
    def schedule(self, value: dict[str, Any]) -> None:
        self.app.conf.beat_schedule = value

    # celery-redbeat's own code (its get_redis, its entry class) may find this object
    # as ``app.redbeat_conf`` in a process that uses both: it calls these two.
    def is_key_in_conf(self, name: str) -> bool:
        return _setting(self.app, name) is not _UNSET

    def either_or(self, name: str, default: Any = None) -> Any:
        value = _setting(self.app, name)
        return default if value is _UNSET or (value is None and default is not None) else value

    def redis_settings(self) -> RedisSettings:
        """The connection layer's description of this Redis (shared with the CLI)."""
        return RedisSettings(
            resolve_url(self.redis_url),
            dict(self.redbeat_redis_options),
            self.redis_use_ssl or False,
        )

    @property
    def masked_url(self) -> str:
        return mask_url(resolve_url(self.redis_url))


def ensure_conf(app: Any) -> RedBeatConfig:
    """The app's ``RedBeatConfig``, built once and cached on the app.

    Also exposed as ``app.redbeat_conf`` when nothing set that yet, so code written
    for RedBeat's entry API (``app.redbeat_conf.schedule_key``) keeps working.
    """
    conf = getattr(app, _CONF_ATTR, None)
    if conf is None:
        conf = RedBeatConfig(app)
        setattr(app, _CONF_ATTR, conf)
        if getattr(app, "redbeat_conf", None) is None:
            app.redbeat_conf = conf
    return conf


def get_redis(app: Any) -> Any:
    """The shared Redis client for this app (built once; the CLI's connection layer).

    Does not ping: beat starts even while Redis is down and retries with backoff.
    """
    client = getattr(app, _CLIENT_ATTR, None)
    if client is None:
        conf = ensure_conf(app)
        client = conf.redis_settings().client()
        # Under Redis Cluster: one clear line now instead of CROSSSLOT at the first claim.
        check_cluster_prefix(client, conf.layout, extra_keys=[k for k in [conf.lock_key] if k])
        setattr(app, _CLIENT_ATTR, client)
    return client


__all__ = [
    "DEFAULT_LOCK_TIMEOUT",
    "DEFAULT_MAX_INTERVAL",
    "RedBeatConfig",
    "ensure_conf",
    "get_redis",
]

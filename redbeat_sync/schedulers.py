"""``redbeat_sync.schedulers``: every public name of ``redbeat.schedulers``.

A RedBeat user switches by replacing ``redbeat`` with ``redbeat_sync`` in imports;
the names keep their meaning (``get_redis(app=None)`` and ``ensure_conf`` use the
current app, the client lives on ``app.redbeat_redis``, the config on
``app.redbeat_conf``).  The implementations are redbeat-sync's own (``beat.*``);
the differences that are on purpose are listed in the README's "Migrating from
RedBeat".
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import redis
from redis.sentinel import MasterNotFoundError

from .beat.config import (
    CLIENT_ATTR,
    SENTINEL_ATTR,
    RedBeatConfig,
    ensure_conf,
    get_redis,
)
from .beat.scheduler import RedBeatScheduler, acquire_distributed_beat_lock
from .beat.scheduler_entry import RedBeatSchedulerEntry
from .decoder import RedBeatJSONDecoder, RedBeatJSONEncoder, to_timestamp
from .state.connection import REDBEAT_ONLY_OPTIONS

logger = logging.getLogger("celery.beat")

#: App attribute names RedBeat code reads and assigns.
REDBEAT_REDIS_KEY = CLIENT_ATTR
REDBEAT_SENTINEL_KEY = SENTINEL_ATTR
#: ``redbeat_redis_options`` keys that configure the scheduler, never the client.
REDBEAT_INTERNAL_OPTIONS = tuple(sorted(REDBEAT_ONLY_OPTIONS))
#: Logged (with name, error, definition) when a ``beat_schedule`` entry cannot be stored.
ADD_ENTRY_ERROR = "\nbeat_schedule entry %r could not be stored in Redis: %r (definition: %r)\n"
#: Lua: set the lock's time to live to ARGV[2] ms if KEYS[1] still holds our token
#: ARGV[1] (and has a TTL); 1 if done, else 0.  For code that extends a redis-py Lock
#: to a fixed timeout as RedBeat does; redbeat_sync's own lock does not need it.
LUA_EXTEND_TO_SCRIPT = """
if redis.call('get', KEYS[1]) ~= ARGV[1] then return 0 end
if redis.call('pttl', KEYS[1]) < 0 then return 0 end
redis.call('pexpire', KEYS[1], ARGV[2])
return 1
"""

_RETRIED = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, MasterNotFoundError)


class RetryingConnection:
    """A proxy for a Redis client that retries each call on a lost connection.

    ``retry_period``: seconds to keep trying (negative: forever).  Waits double from
    1 s up to ``RETRY_MAX_WAIT``.  Attributes that are not callables are returned as
    they are.  redbeat-sync itself does not wrap its clients in this: it turns
    ``retry_period`` into a redis-py ``Retry`` on the client (``state.retry``), which
    also covers pipelines, scripts and the lock.
    """

    RETRY_MAX_WAIT = 30

    def __init__(self, retry_period: float, wrapped_connection: Any) -> None:
        self.retry_period = retry_period
        self.wrapped_connection = wrapped_connection

    def __getattr__(self, item: str) -> Any:
        value = getattr(self.wrapped_connection, item)
        if not callable(value):
            return value
        return self._retrying(value)

    def _retrying(self, method: Callable[..., Any]) -> Callable[..., Any]:
        def call(*args: Any, **kwargs: Any) -> Any:
            deadline = time.monotonic() + self.retry_period if self.retry_period >= 0 else None
            wait = 1.0
            while True:
                try:
                    return method(*args, **kwargs)
                except _RETRIED:
                    if deadline is not None and time.monotonic() + wait > deadline:
                        raise
                    logger.warning("beat: Redis connection lost, retrying in %g s", wait)
                    time.sleep(wait)
                    wait = min(wait * 2, self.RETRY_MAX_WAIT)

        return call


__all__ = [
    "ADD_ENTRY_ERROR",
    "LUA_EXTEND_TO_SCRIPT",
    "REDBEAT_INTERNAL_OPTIONS",
    "REDBEAT_REDIS_KEY",
    "REDBEAT_SENTINEL_KEY",
    "RedBeatConfig",
    "RedBeatJSONDecoder",
    "RedBeatJSONEncoder",
    "RedBeatScheduler",
    "RedBeatSchedulerEntry",
    "RetryingConnection",
    "acquire_distributed_beat_lock",
    "ensure_conf",
    "get_redis",
    "logger",
    "to_timestamp",
]

"""The lines ``celery beat`` prints under "scheduler ->" (``Scheduler.info``).

Shows where the schedule lives (masked URL, prefix), the lock, and warnings found
at start.  Celery builds the scheduler lazily just for this banner, so the checks
are one short round trip and never raise: an unreachable Redis is a warning here,
beat itself retries.
"""

from __future__ import annotations

from typing import Any

import redis

from ..errors import UserError
from ..state.eviction import read_policy
from .config import DEFAULT_LOCK_TIMEOUT

#: A standby should take over within this many seconds of the leader's death.
TAKEOVER_TARGET = 10.0


def startup_warnings(scheduler: Any) -> list[str]:
    found: list[str] = []
    if scheduler.lock_key and scheduler.lock_timeout > TAKEOVER_TARGET:
        found.append(
            f"lock timeout {scheduler.lock_timeout:g}s: a standby takes over only that long "
            f"after the leader dies (default {DEFAULT_LOCK_TIMEOUT:g}s)"
        )
    try:
        policy = read_policy(scheduler.client) or ""  # every primary under Cluster
    except UserError as exc:  # no Redis configured, credentials refused: beat stops
        found.append(f"error: {exc}")
        return found
    except (redis.RedisError, OSError) as exc:
        if isinstance(exc, redis.ResponseError):  # CONFIG disabled (managed Redis)
            return found
        found.append(f"Redis unreachable at start ({exc}): beat retries until it is back")
        return found
    if policy.startswith("allkeys-"):
        found.append(
            f"maxmemory-policy is {policy}: Redis may evict schedule entries under memory "
            "pressure (they would silently stop running); use noeviction"
        )
    elif policy.startswith("volatile-"):
        found.append(
            f"maxmemory-policy is {policy}: Redis may evict the leader lock under memory "
            "pressure (runs stay fenced, but leadership would flap)"
        )
    return found


def banner_lines(scheduler: Any) -> list[str]:
    conf = scheduler.conf
    lines = [
        f"       . redis -> {conf.masked_url}",
        f"       . prefix -> {conf.key_prefix}",
    ]
    if scheduler.lock_key:
        renew = scheduler.lock_timeout / 3
        lines.append(
            f"       . lock -> `{scheduler.lock_key}` {scheduler.lock_timeout:g}s "
            f"(renewed every {renew:g}s)"
        )
    else:
        lines.append("       . lock -> disabled (redbeat_lock_key = None)")
    scheduler.warnings = startup_warnings(scheduler)
    lines.extend(
        f"       . {w}" if w.startswith("error: ") else f"       . warning: {w}"
        for w in scheduler.warnings
    )
    return lines

"""Redis's ``maxmemory-policy`` and what it means for RedBeat's keys.

Schedule entries have no TTL: an ``allkeys-*`` policy may delete them under memory
pressure, and they silently stop running.  Apply refuses such a Redis unless told
otherwise, beat may refuse to start on it, and beat's banner shows the policy.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import redis
from redis.cluster import RedisCluster
from redis.exceptions import RedisClusterException

from ..errors import UserError

EVICTING = "evicting"
VOLATILE = "volatile"
SAFE = "safe"
UNKNOWN = "unknown"


@dataclass(frozen=True)
class EvictionCheck:
    """Redis's ``maxmemory-policy`` and what it means for RedBeat's keys."""

    policy: str | None
    level: str  # EVICTING | VOLATILE | SAFE | UNKNOWN
    message: str

    @property
    def evicting(self) -> bool:
        return self.level == EVICTING


def classify_policy(policy: str | None) -> EvictionCheck:
    if policy is None:
        return EvictionCheck(
            None, UNKNOWN, "could not read maxmemory-policy (CONFIG GET not allowed)"
        )
    if policy.startswith("allkeys-"):
        return EvictionCheck(
            policy,
            EVICTING,
            f"Redis maxmemory-policy is {policy}: under memory pressure Redis deletes "
            "arbitrary keys, including schedule entries (they silently stop running); "
            "use noeviction (or a volatile-* policy) for the Redis that holds schedules",
        )
    if policy.startswith("volatile-"):
        return EvictionCheck(
            policy,
            VOLATILE,
            f"Redis maxmemory-policy is {policy}: schedule entries have no TTL and are "
            "never evicted, but the leader lock and the sync lock have one and may be "
            "evicted under memory pressure (beat leadership may then move)",
        )
    return EvictionCheck(policy, SAFE, f"Redis maxmemory-policy is {policy}")


def read_policy(client: Any) -> str | None:
    """``maxmemory-policy`` (the most dangerous one across cluster nodes); None if unknown."""
    try:
        if isinstance(client, RedisCluster):  # every primary: one evicting node is enough
            reply = client.config_get("maxmemory-policy", target_nodes=RedisCluster.PRIMARIES)
        else:
            reply = client.config_get("maxmemory-policy")
    except (redis.ResponseError, RedisClusterException):
        return None  # NOPERM, renamed/disabled CONFIG on managed services
    values: list[str] = []
    if isinstance(reply, Mapping):
        if "maxmemory-policy" in reply:
            values.append(str(reply["maxmemory-policy"]))
        else:  # a cluster client: one reply per node
            for sub in reply.values():
                if isinstance(sub, Mapping) and "maxmemory-policy" in sub:
                    values.append(str(sub["maxmemory-policy"]))
    if not values:
        return None
    rank = {EVICTING: 3, VOLATILE: 2, SAFE: 1, UNKNOWN: 0}
    return max(values, key=lambda p: rank[classify_policy(p).level])


def check_eviction(client: Any) -> EvictionCheck:
    return classify_policy(read_policy(client))


def check_eviction_for_beat(client: Any, *, refuse: bool) -> EvictionCheck | None:
    """Beat's check at start: None when Redis cannot be asked now (beat retries anyway);
    UserError on an ``allkeys-*`` policy when ``redbeat_sync_refuse_evicting_redis``."""
    try:
        found = check_eviction(client)
    except (redis.RedisError, OSError):
        return None
    if found.evicting and refuse:
        raise UserError(
            f"{found.message}. Refusing to start beat (redbeat_sync_refuse_evicting_redis is True)"
        )
    return found


def refuse_evicting(client: Any, *, allow: bool) -> EvictionCheck:
    """Apply's check: UserError on an ``allkeys-*`` policy unless ``allow``."""
    found = check_eviction(client)
    if found.evicting and not allow:
        raise UserError(
            f"{found.message}. Refusing to apply; pass --allow-evicting-redis to apply anyway"
        )
    return found


__all__ = [
    "EvictionCheck",
    "check_eviction",
    "check_eviction_for_beat",
    "classify_policy",
    "read_policy",
    "refuse_evicting",
]

"""``retry_period``: how long a Redis command keeps being retried on a lost connection.

RedBeat's ``redbeat_redis_options = {"retry_period": N}`` means "retry for up to N
seconds" (``-1``: forever, ``0``: never).  We express it as a redis-py ``Retry`` on
the client itself, so it covers every command the same way: plain commands,
pipelines, ``register_script`` calls (EVALSHA, and the EVAL after NOSCRIPT), the lock
calls.  Only connection-level failures are retried (``ConnectionError``,
``TimeoutError``; Sentinel's "no master found" and "previous master is now a
replica" are ConnectionErrors too), never a Redis error reply.

Why retrying our writes is safe (a retry may re-send a command whose first attempt
ran but whose reply was lost):

- apply's script is guarded per entry and marks each batch it wrote (see
  ``writer``): a re-sent batch that already landed is recognised and not redone;
- the beat claim script is a compare-and-set on ``meta``: a re-sent claim whose
  first attempt landed is refused, so that one run is skipped, never sent twice
  (at most once, like a beat that dies between claim and send);
- the leader lock's and the sync lock's ``SET NX`` check whether the value already
  in Redis is our own token;
- the rest is idempotent (HSET/ZADD of the same values, deletes) except the audit
  XADD, which may then record one apply twice.

Without ``retry_period`` redis-py's own default applies (a few quick retries within
about a second or two).
"""

from __future__ import annotations

import math
from typing import Any

from redis.backoff import ExponentialBackoff, NoBackoff
from redis.retry import Retry

from ..errors import UserError

#: Longest single wait between two attempts (RedBeat waits at most 30 s too).
MAX_WAIT = 30.0
#: Longest wait when retrying forever (``retry_period < 0``).
FOREVER_WAIT = 5.0
#: First wait; doubles on every further failure.
FIRST_WAIT = 0.05


def parse_retry_period(value: Any) -> float | None:
    """``retry_period`` as seconds (None: not set; negative: forever)."""
    if value is None or value == "":
        return None
    try:
        period = float(value)
    except (TypeError, ValueError):
        raise UserError(f"retry_period must be a number of seconds, not {value!r}") from None
    if math.isnan(period):
        raise UserError("retry_period must be a number of seconds, not NaN")
    return period


def attempts_for(period: float, *, first: float = FIRST_WAIT, cap: float = MAX_WAIT) -> int:
    """How many retries make the exponential waits add up to at least ``period``."""
    waited, retries = 0.0, 0
    while waited < period:
        retries += 1
        waited += min(cap, first * 2**retries)
    return retries


def build_retry(retry_period: Any) -> Retry | None:
    """The redis-py ``Retry`` for a ``retry_period`` (None: keep redis-py's default)."""
    period = parse_retry_period(retry_period)
    if period is None:
        return None
    if period == 0:
        return Retry(NoBackoff(), 0)
    if period < 0:
        return Retry(ExponentialBackoff(cap=FOREVER_WAIT, base=FIRST_WAIT), -1)
    # A Sentinel failover or a restart is over within seconds: keep polling often
    # (one connect attempt per second costs nothing) unless the period is long.
    cap = min(MAX_WAIT, max(1.0, period / 30))
    return Retry(ExponentialBackoff(cap=cap, base=FIRST_WAIT), attempts_for(period, cap=cap))


__all__ = ["attempts_for", "build_retry", "parse_retry_period"]

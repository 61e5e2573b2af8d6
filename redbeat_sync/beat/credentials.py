"""Refused credentials, told apart from outages (redis-py files both as ConnectionError).

A wrong password or an unknown/disabled ACL user is a configuration error no retry
fixes: beat stops at start with one line naming the masked URL and the user, and at
run time logs an *authentication failure* rather than "Redis unreachable".  A
missing password gets a plain sentence instead of Redis's ``NOAUTH``/``HELLO must be
called with the client already authenticated``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import redis

from ..errors import UserError
from ..redact import redact

if TYPE_CHECKING:
    from .config import RedBeatConfig


class RedisCredentialsRefused(UserError):
    """Redis refused the configured user/password (a configuration error, not an outage)."""


_AUTH_MISSING_MARKERS = ("NOAUTH", "HELLO must be called", "Authentication required")


def _password_missing(exc: BaseException) -> bool:
    return any(marker in str(exc) for marker in _AUTH_MISSING_MARKERS)


def is_credential_error(exc: BaseException) -> bool:
    """Whether ``exc`` means Redis refused (or wanted) credentials: a configuration
    error no retry fixes, unlike an outage (redis-py files both under ConnectionError)."""
    return (
        isinstance(exc, redis.exceptions.AuthenticationError)
        or "WRONGPASS" in str(exc)
        or _password_missing(exc)
    )


def credential_problem(exc: BaseException, conf: RedBeatConfig) -> str | None:
    """One line (masked URL and user) when ``exc`` is a credential error, else None."""
    if not is_credential_error(exc):
        return None
    where = f"Redis at {conf.masked_url} (user {conf.redis_user})"
    if _password_missing(exc):
        return (
            f"{where} requires a password and none was given: put it in "
            "redbeat_redis_url (redis://user:password@host:port/db) or redbeat_redis_options"
        )
    return f"{where} refused the credentials: wrong password, or unknown or disabled user"


def check_credentials(client: Any, conf: RedBeatConfig) -> None:
    """PING once at beat start: refused credentials raise ``RedisCredentialsRefused``;
    an unreachable Redis is left to beat's retries (it may come up later)."""
    try:
        client.ping()
    except (redis.RedisError, OSError) as exc:
        problem = credential_problem(exc, conf)
        if problem is not None:
            raise RedisCredentialsRefused(problem) from None


def describe_redis_failure(exc: BaseException, conf: RedBeatConfig) -> str:
    """How beat logs a Redis error at run time: credentials apart from outages."""
    problem = credential_problem(exc, conf)
    if problem is not None:
        return f"authentication failure: {problem} (not an outage: fix the credentials)"
    return f"Redis unavailable ({redact(str(exc))})"


__all__ = [
    "RedisCredentialsRefused",
    "check_credentials",
    "credential_problem",
    "describe_redis_failure",
    "is_credential_error",
]

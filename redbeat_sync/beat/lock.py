"""The beat leader lock: one sender per Redis, re-elected, renewed on its own timer.

Why it looks the way it does:

- The key is RedBeat's (``prefix:lock``) and it is taken with ``SET NX PX``: a
  celery-redbeat beat on the same Redis takes the same key the same way, so the two
  exclude each other during a migration.
- The value names the holder (JSON: host, pid, since, random id) so ``redbeat-sync
  show`` can say who leads; a celery-redbeat holder's value is a bare token.
- Renewal runs in a ``LockKeeper`` thread every ``timeout / 3`` seconds, never from
  the tick: a tick that sends thousands of tasks cannot outlive the lock.
- A standby keeps trying for as long as it runs, so a dead leader is replaced
  (RedBeat takes the lock only once at start).
- Leadership has a *local* deadline too: the last successful acquire/renew plus the
  timeout, measured from before the command was sent.  A leader whose renewals fail
  (Redis unreachable, the process stalled) stops dispatching at that deadline at the
  latest, whatever Redis says later.  Dispatch is also fenced in Redis itself (the
  claim script compares the lock value with our token), so even a leader frozen by
  SIGSTOP past its lock never sends a run a new leader already claimed.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import socket
import threading
import time
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

import redis

from ..state.layout import Layout
from .credentials import is_credential_error

logger = logging.getLogger("celery.beat")

# Renew only while the value is still ours; PEXPIRE sets the full timeout again.
RENEW_SCRIPT = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""

# Delete only our own lock (never a successor's).
RELEASE_SCRIPT = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""

#: Fraction of the timeout kept as safety margin on the local deadline (clock
#: drift between us and Redis, and the time a renewal reply takes to arrive).
SAFETY_FRACTION = 0.1


def make_token(now: datetime | None = None) -> str:
    """A lock value unique to this process and acquisition, readable by ``show``."""
    now = now or datetime.now(timezone.utc)
    return json.dumps(
        {
            "by": "redbeat-sync",
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "since": now.isoformat(timespec="seconds"),
            "id": secrets.token_hex(6),
        },
        separators=(",", ":"),
    )


class BeatLock:
    """One attempt at leadership: acquire, renew, release a token on one key.

    Plain Redis commands only; the ``LockKeeper`` owns the timing and the state.
    """

    def __init__(self, client: redis.Redis, key: str, timeout: float) -> None:
        self.client = client
        self.key = key
        self.timeout = float(timeout)
        self.token = make_token()
        self._renew = client.register_script(RENEW_SCRIPT)
        self._release = client.register_script(RELEASE_SCRIPT)

    @property
    def timeout_ms(self) -> int:
        return max(1, int(self.timeout * 1000))

    def acquire(self) -> bool:
        """Try once.  True if we hold the lock now.

        The value we held before may still be ours in Redis (a SET whose reply was
        lost, or a leader that stood down at its local deadline while Redis was slow
        but kept the key): then renewing it is the acquisition.  Otherwise a fresh
        value, so ``since`` says when this term began.
        """
        if self.renew():
            return True
        candidate = make_token()
        if self.client.set(self.key, candidate, nx=True, px=self.timeout_ms):
            self.token = candidate
            return True
        return False

    def renew(self) -> bool:
        """Extend to a full timeout if still ours.  False: somebody else holds it."""
        return bool(self._renew(keys=[self.key], args=[self.token, self.timeout_ms]))

    def release(self) -> bool:
        return bool(self._release(keys=[self.key], args=[self.token]))


class LockKeeper(threading.Thread):
    """Holds or chases the lock in the background; ``is_leader()`` is the answer.

    Logs once per change: leadership gained, lost, Redis unreachable, back.
    """

    def __init__(
        self,
        lock: BeatLock,
        *,
        renew_every: float | None = None,
        retry_every: float | None = None,
        on_change: Callable[[bool], None] | None = None,
    ) -> None:
        super().__init__(name="redbeat-sync-lock", daemon=True)
        self.lock = lock
        self.renew_every = renew_every or lock.timeout / 3
        # Standbys poll a little faster than they renew: takeover ~ timeout + this.
        self.retry_every = retry_every or min(1.0, lock.timeout / 6)
        self.on_change = on_change
        self.became_leader = threading.Event()
        self._halt = threading.Event()
        self._leader = False
        self.term = 0  # incremented each time leadership is gained
        self._valid_until = 0.0  # monotonic
        self._redis_down = False
        self._state_lock = threading.RLock()

    # --- queries (any thread) ---------------------------------------------------
    def is_leader(self) -> bool:
        if not self._leader:
            return False
        if time.monotonic() < self._valid_until:
            return True
        # Renewals failed until the lock may have expired in Redis: stand down now,
        # not at the next renewal attempt (and let waiters see it at once).
        self._set_leader(False, reason="could not renew it before it expired")
        return False

    def lease_valid(self) -> bool:
        """Whether the lease is certainly still ours now: cheap enough to ask before
        every single send (no lock, no Redis; the deadline is monotonic, so it keeps
        running while the process is stopped)."""
        return self._leader and time.monotonic() < self._valid_until

    @property
    def token(self) -> str:
        return self.lock.token

    # --- control ----------------------------------------------------------------
    def stop(self, release: bool = True) -> None:
        self._halt.set()
        if self.is_alive():
            self.join(timeout=self.lock.timeout)
        if release and self._leader:
            try:
                self.lock.release()
                logger.info("beat: Released leader lock %s", self.lock.key)
            except redis.RedisError as exc:
                logger.warning("beat: Could not release the leader lock: %s", exc)
        self._set_leader(False, quiet=True)

    def lose(self, reason: str) -> None:
        """Dispatch found the lock gone (fenced claim refused): stand down now."""
        if self._leader:
            self._set_leader(False, reason=reason)

    def run(self) -> None:
        while not self._halt.is_set():
            self.step()
            # A leader whose renewal just failed retries sooner: it may still renew
            # before the lock expires and so keep leading through a short outage.
            steady = self._leader and not self._redis_down
            self._halt.wait(self.renew_every if steady else self.retry_every)

    def step(self) -> None:
        """One renewal (leader) or acquisition attempt (standby)."""
        started = time.monotonic()
        try:
            ok = self.lock.renew() if self._leader else self.lock.acquire()
        except redis.RedisError as exc:
            self._redis_state(down=True, exc=exc)
            self.is_leader()  # stands down once the local deadline has passed
            return
        self._redis_state(down=False)
        if ok:
            margin = self.lock.timeout * SAFETY_FRACTION
            self._valid_until = started + self.lock.timeout - margin
            if not self._leader:
                self._set_leader(True)
        elif self._leader:
            self._set_leader(False, reason=self._lost_reason())

    def _lost_reason(self) -> str:
        # After an outage the lock has usually just expired: don't blame another beat.
        try:
            taken = self.lock.client.exists(self.lock.key)
        except redis.RedisError:
            taken = True
        return "another beat holds it now" if taken else "it expired before it could be renewed"

    def _set_leader(self, leader: bool, *, reason: str = "", quiet: bool = False) -> None:
        with self._state_lock:  # the lock thread and the tick may both get here
            if leader == self._leader:
                return
            self._leader = leader
            self._announce(leader, reason, quiet)
        if self.on_change is not None:
            self.on_change(leader)

    def _announce(self, leader: bool, reason: str, quiet: bool) -> None:
        if leader:
            self.term += 1
            self.became_leader.set()
            logger.info(
                "beat: Leadership gained: holding %s (timeout %ss, renewed every %.1fs)",
                self.lock.key,
                _fmt(self.lock.timeout),
                self.renew_every,
            )
        else:
            self.became_leader.clear()
            self._valid_until = 0.0
            if not quiet:
                logger.warning(
                    "beat: Leadership lost (%s): not sending anything, standing by", reason
                )

    def _redis_state(self, *, down: bool, exc: Exception | None = None) -> None:
        if down == self._redis_down:
            return
        self._redis_down = down
        if down and exc is not None and is_credential_error(exc):
            logger.error(
                "beat: Redis refused our credentials for the leader lock (authentication "
                "failure, not an outage: fix the password/user): %s (retrying)",
                exc,
            )
        elif down:
            logger.error("beat: Redis unreachable for the leader lock: %s (retrying)", exc)
        else:
            logger.info("beat: Redis reachable again for the leader lock")


def _fmt(seconds: float) -> str:
    return str(int(seconds)) if float(seconds).is_integer() else f"{seconds:g}"


def read_beat_lock(
    client: redis.Redis, layout: Layout, *, key: str | None = None
) -> dict[str, Any] | None:
    """Who holds the beat lock: ``{key, holder, host, pid, since, id, ttl}`` or None.

    ``holder`` is "redbeat-sync" or "celery-redbeat" (whose value is a bare token:
    host, pid and since are then None).  ``ttl`` is seconds left (None if no expiry).
    """
    key = key or layout.beat_lock_key
    with client.pipeline(transaction=False) as pipe:
        pipe.get(key)
        pipe.pttl(key)
        raw, pttl = pipe.execute()
    if raw is None:
        return None
    if isinstance(raw, bytes):
        raw = raw.decode("utf-8", "replace")
    ttl = pttl / 1000 if pttl is not None and pttl >= 0 else None
    info: dict[str, Any] = {
        "key": key,
        "holder": "celery-redbeat",
        "host": None,
        "pid": None,
        "since": None,
        "id": raw,
        "ttl": ttl,
    }
    try:
        value = json.loads(raw)
    except ValueError:
        return info
    if isinstance(value, dict) and value.get("by") == "redbeat-sync":
        info.update(
            holder="redbeat-sync",
            host=value.get("host"),
            pid=value.get("pid"),
            since=value.get("since"),
            id=value.get("id"),
        )
    return info


__all__ = ["BeatLock", "LockKeeper", "make_token", "read_beat_lock"]

"""The sync lock: one apply at a time per deployment (prefix).

A plain Redis key set with NX and a TTL, holding who took it, so a second apply can
say exactly who is in the way.  The TTL means a crashed apply frees the lock by
itself; a long apply calls ``refresh()`` between batches to keep it.  Release and
refresh only act while the stored id is still ours (compare-and-act in Lua), so an
apply whose lock expired can never delete or extend a lock someone else now holds.
"""

from __future__ import annotations

import getpass
import json
import os
import secrets
import shlex
import socket
import sys
import time
from datetime import datetime, timezone
from types import TracebackType
from typing import Any

import redis

from ..errors import UserError
from ..redact import redact
from .layout import Layout

DEFAULT_TTL = 600.0

# Delete / extend only when the stored lock id is the caller's.  The value is JSON;
# the id is compared after decoding so key order and spacing do not matter.
_RELEASE_IF_OURS = """
local raw = redis.call("GET", KEYS[1])
if not raw then return 0 end
local ok, value = pcall(cjson.decode, raw)
if not ok or type(value) ~= "table" or value["id"] ~= ARGV[1] then return 0 end
return redis.call("DEL", KEYS[1])
"""

_REFRESH_IF_OURS = """
local raw = redis.call("GET", KEYS[1])
if not raw then return 0 end
local ok, value = pcall(cjson.decode, raw)
if not ok or type(value) ~= "table" or value["id"] ~= ARGV[1] then return 0 end
return redis.call("PEXPIRE", KEYS[1], ARGV[2])
"""


def default_holder() -> str:
    """``user@host`` of this process (best effort: containers may have no user)."""
    try:
        user = getpass.getuser()
    except Exception:  # getpass raises different errors per platform
        user = os.environ.get("USER") or "unknown"
    return f"{user}@{socket.gethostname()}"


def _default_command() -> str:
    # The program only: its arguments may hold a URL with a password, a path, anything.
    return os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else "python"


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def read_sync_lock(client: redis.Redis, layout: Layout) -> dict[str, Any] | None:
    """The current holder's record, or None when the lock is free."""
    raw = client.get(layout.sync_lock_key)
    if raw is None:
        return None
    try:
        value = json.loads(_text(raw))
    except ValueError:
        value = None
    if not isinstance(value, dict):
        # Someone wrote the key by hand: still a held lock, show what is there.
        return {"id": "?", "holder": "?", "raw": redact(_text(raw))}
    if "command" in value:  # older versions stored the whole command line
        value["command"] = redact(str(value["command"]))
    ttl_ms = client.pttl(layout.sync_lock_key)
    if isinstance(ttl_ms, int) and ttl_ms >= 0:
        value["expires_in"] = ttl_ms / 1000
    return value


def holder_is_dead(current: dict[str, Any]) -> bool:
    """True when the holder ran on this host and its pid is gone (it cannot release)."""
    pid = current.get("pid")
    if current.get("host") != socket.gethostname() or not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:  # e.g. EPERM: it exists, owned by someone else
        return False
    return False


def force_unlock(client: redis.Redis, layout: Layout, lock_id: str) -> bool:
    """Delete the sync lock if its id is ``lock_id``; True when it was deleted."""
    script = client.register_script(_RELEASE_IF_OURS)
    return bool(script(keys=[layout.sync_lock_key], args=[lock_id], client=client))


class SyncLock:
    """``with SyncLock(client, layout, wait=30): ...`` or ``acquire()``/``release()``."""

    def __init__(
        self,
        client: redis.Redis,
        layout: Layout,
        *,
        holder: str | None = None,
        ttl: float = DEFAULT_TTL,
        wait: float = 0.0,
        command: str | None = None,
        target_flags: str | None = None,
    ) -> None:
        if ttl <= 0:
            raise ValueError("ttl must be positive")
        self.client = client
        self.layout = layout
        self.holder = holder or default_holder()
        self.ttl = ttl
        self.wait = wait
        # The CLI passes the subcommand and flag names, never their values (secrets).
        self.command = redact(command) if command is not None else _default_command()
        self.target_flags = target_flags or f"--key-prefix {shlex.quote(layout.prefix)}"
        self.lock_id = secrets.token_hex(4)  # short: users type it into force-unlock
        self.held = False
        self._release = client.register_script(_RELEASE_IF_OURS)
        self._refresh = client.register_script(_REFRESH_IF_OURS)

    @property
    def _ttl_ms(self) -> int:
        return max(1, int(self.ttl * 1000))

    def _value(self) -> str:
        return json.dumps(
            {
                "id": self.lock_id,
                "holder": self.holder,
                "host": socket.gethostname(),
                "pid": os.getpid(),
                "since": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                "command": self.command,
            }
        )

    def acquire(self, wait: float | None = None) -> None:
        """Take the lock, polling up to ``wait`` seconds; UserError naming the holder."""
        wait = self.wait if wait is None else wait
        started = time.monotonic()
        deadline = started + max(0.0, wait)
        pause = 0.02
        while True:
            if self.client.set(self.layout.sync_lock_key, self._value(), nx=True, px=self._ttl_ms):
                self.held = True
                return
            if self._holds_it():  # our SET landed, its reply was lost and it was retried
                self.held = True
                return
            now = time.monotonic()
            if now >= deadline:
                break
            time.sleep(min(pause, deadline - now))
            pause = min(pause * 2, 0.5)
        current = read_sync_lock(self.client, self.layout)
        if current is None:  # freed just now: one last try rather than a confusing error
            if self.client.set(self.layout.sync_lock_key, self._value(), nx=True, px=self._ttl_ms):
                self.held = True
                return
            current = read_sync_lock(self.client, self.layout) or {}
        raise UserError(self.describe_holder(current, waited=time.monotonic() - started))

    def _holds_it(self) -> bool:
        current = read_sync_lock(self.client, self.layout)
        return current is not None and current.get("id") == self.lock_id

    def unlock_command(self, lock_id: str) -> str:
        """The force-unlock command for this deployment, as one can paste it."""
        return f"redbeat-sync force-unlock {shlex.quote(str(lock_id))} {self.target_flags}"

    def describe_holder(self, current: dict[str, Any], *, waited: float) -> str:
        holder = current.get("holder", "?")
        host = current.get("host")
        if host and f"@{host}" not in str(holder):
            holder = f"{holder} on {host}"
        if current.get("pid"):
            holder = f"{holder} (pid {current['pid']})"
        lock_id = current.get("id", "?")
        dead = holder_is_dead(current)
        if dead:
            advice = (
                f"Its process (pid {current['pid']}) no longer runs on this host: that apply "
                f"died. Free the lock with: {self.unlock_command(lock_id)}"
            )
        else:
            advice = f"If that apply is dead: {self.unlock_command(lock_id)}"
        return (
            f"another apply holds the sync lock: {holder} since {current.get('since', '?')} "
            f"(lock id {lock_id}); waited {waited:.0f}s for it to be released "
            f"(--lock-timeout). {advice}"
        )

    def refresh(self) -> None:
        """Extend the TTL (call between batches); UserError if the lock was lost."""
        if not self._refresh(
            keys=[self.layout.sync_lock_key], args=[self.lock_id, self._ttl_ms], client=self.client
        ):
            self.held = False
            raise UserError(
                "lost the sync lock during apply (it expired or was force-unlocked); "
                "stopped. Run plan again to see what was written."
            )

    def release(self, *, even_if_unsure: bool = False) -> bool:
        """Free the lock if it is still ours; True when it was.

        ``even_if_unsure``: also when this object does not know it holds the lock (an
        acquire interrupted after sending SET NX); the id check keeps others' locks.
        """
        if not self.held and not even_if_unsure:
            return False
        self.held = False
        return bool(
            self._release(keys=[self.layout.sync_lock_key], args=[self.lock_id], client=self.client)
        )

    def __enter__(self) -> SyncLock:
        self.acquire()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()

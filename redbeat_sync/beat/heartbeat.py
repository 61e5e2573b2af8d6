"""Beat heartbeats: each beat (leader and standbys) says it is alive, in Redis and in
a file, so ``redbeat-sync health``, ``show`` and exec probes can tell a working beat
from a hung one.

In Redis, under the key prefix and never unbounded:

- ``prefix:sync:beat:<id>``: one JSON record per beat process (host, pid, version,
  role, last tick, due backlog, watchdog state), written with a TTL (``ttl_for``);
- ``prefix:sync:beats``: sorted set of beat ids by time of their last heartbeat, so a
  reader finds the records without SCAN.  Each write drops members older than the TTL
  and renews the set's own expiry: when every beat is gone, both disappear.

Written from the tick (so a beat whose lock thread lives but whose tick loop hangs
goes stale), at most once per ``WRITE_EVERY`` seconds.  A leader with nothing due
sleeps at most ``leader_quiet(lock_timeout)`` so its heartbeat stays fresh.

The file (setting ``redbeat_sync_heartbeat_file``) is touched on the same occasions,
with or without Redis: a probe without Redis access checks its age.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import secrets
import socket
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import redis

from .. import __version__
from ..state.layout import Layout

logger = logging.getLogger("celery.beat")
UTC = timezone.utc

#: Seconds between two heartbeats of one beat, at least (a 1 s entry ticks more often).
WRITE_EVERY = 1.0
#: Setting naming the file each tick touches.
FILE_SETTING = "redbeat_sync_heartbeat_file"


def ttl_for(lock_timeout: float) -> float:
    """How long a heartbeat record outlives its last write: long enough for ``health``
    to say "stale since T" (not "none") through any reasonable --max-lag."""
    return max(120.0, 10 * lock_timeout)


def leader_quiet(lock_timeout: float) -> float:
    """Longest a leader sleeps between ticks: its heartbeat must stay well inside the
    default --max-lag (the lock timeout plus a few seconds)."""
    return max(1.0, lock_timeout / 2)


def default_max_lag(lock_timeout: float) -> float:
    """``health``'s default --max-lag: the lock timeout (a failover) plus 5 s."""
    return lock_timeout + 5.0


def is_alive(record: dict[str, Any]) -> bool:
    """Has this beat ticked lately?  A record outlives its beat by up to its TTL
    (``ttl_for``, 120 s or more), so a killed beat's record stays for minutes; a live
    beat ticks at least every ``leader_quiet`` (a standby every second), well inside
    ``default_max_lag`` of its own lock timeout."""
    lock_timeout = float(record.get("lock_timeout") or 0.0)
    return float(record.get("age") or 0.0) <= default_max_lag(lock_timeout)


@dataclass
class BeatState:
    """What one beat reports about itself at a tick."""

    role: str  # "leader" or "standby"
    lock_id: str | None  # the id in the lock value this beat holds (leader only)
    lock_timeout: float
    sent: int
    due_backlog: int | None  # due entries in the schedule (leader only)
    stalled: bool
    stall_episodes: int
    last_overdue: float
    redis_down: bool = False


class Heartbeat:
    """Writes one beat's heartbeat; cheap to call at every tick (it throttles)."""

    def __init__(self, layout: Layout, *, file: str | os.PathLike[str] | None = None) -> None:
        self.layout = layout
        self.file = Path(file) if file else None
        self.id = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"
        self.started_at = datetime.now(UTC).isoformat(timespec="seconds")
        self._last = float("-inf")  # monotonic time of the last heartbeat
        self.last_tick = 0.0  # UNIX time of the last heartbeat (for /healthz)
        self.written = 0

    def due(self) -> bool:
        return time.monotonic() - self._last >= WRITE_EVERY

    def beat(self, client: redis.Redis | None, state: BeatState) -> None:
        """Touch the file and write the record (errors are logged, never raised: a
        heartbeat must not stop the tick; a stale heartbeat is the report)."""
        self._last = time.monotonic()
        self.last_tick = time.time()
        self.touch()
        if client is None or state.redis_down:
            return
        try:
            self.write(client, state)
        except (redis.RedisError, OSError) as exc:
            logger.debug("beat: heartbeat not written: %s", exc)

    def touch(self) -> None:
        if self.file is None:
            return
        try:
            self.file.touch()
            os.utime(self.file)  # touch() keeps an existing file's mtime on some systems
        except OSError as exc:
            logger.warning("beat: cannot touch the heartbeat file %s: %s", self.file, exc)

    def record(self, state: BeatState, now: float) -> dict[str, Any]:
        return {
            "id": self.id,
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "version": __version__,
            "role": state.role,
            "lock_id": state.lock_id,
            "lock_timeout": state.lock_timeout,
            "started_at": self.started_at,
            "last_tick": now,
            "sent": state.sent,
            "due_backlog": state.due_backlog,
            "watchdog": {
                "stalled": state.stalled,
                "stall_episodes": state.stall_episodes,
                "last_overdue": round(state.last_overdue, 3),
            },
        }

    def write(self, client: redis.Redis, state: BeatState) -> None:
        now = time.time()
        if state.role == "leader":
            state.due_backlog = int(client.zcount(self.layout.schedule_key, 0, now))
        ttl_ms = int(ttl_for(state.lock_timeout) * 1000)
        text = json.dumps(self.record(state, now), separators=(",", ":"))
        beats = self.layout.beats_key
        with client.pipeline(transaction=False) as pipe:
            pipe.set(self.layout.beat_key(self.id), text, px=ttl_ms)
            pipe.zadd(beats, {self.id: now})
            pipe.zremrangebyscore(beats, "-inf", now - ttl_ms / 1000)
            pipe.pexpire(beats, ttl_ms)
            pipe.execute()
        self.written += 1

    def remove(self, client: redis.Redis) -> None:
        """At a clean shutdown: this beat is gone, not stale."""
        with (
            contextlib.suppress(redis.RedisError, OSError),
            client.pipeline(transaction=False) as pipe,
        ):
            pipe.delete(self.layout.beat_key(self.id))
            pipe.zrem(self.layout.beats_key, self.id)
            pipe.execute()


def read_beats(
    client: redis.Redis, layout: Layout, *, lock_id: str | None = None, now: float | None = None
) -> list[dict[str, Any]]:
    """Every beat with a live heartbeat record, the lock holder first, then the
    other beats by freshness.  Each record gains ``age`` (seconds since its last
    tick), ``alive`` (``is_alive``: ticked lately, not just a record not yet
    expired) and ``leading`` (its lock id is the one in the lock now)."""
    now = time.time() if now is None else now
    ids = [_text(i) for i in client.zrange(layout.beats_key, 0, -1)]
    if not ids:
        return []
    raws = client.mget([layout.beat_key(i) for i in ids])
    beats = []
    for raw in raws:
        if raw is None:
            continue  # expired since the set was read
        try:
            record = json.loads(_text(raw))
        except ValueError:
            continue
        if not isinstance(record, dict):
            continue
        record["age"] = round(max(0.0, now - float(record.get("last_tick") or 0)), 3)
        record["alive"] = is_alive(record)
        record["leading"] = bool(lock_id) and record.get("lock_id") == lock_id
        beats.append(record)
    beats.sort(key=lambda r: (not r["leading"], r.get("role") != "leader", r["age"]))
    return beats


def beat_json(record: dict[str, Any]) -> dict[str, Any]:
    """A ``read_beats`` record for JSON output: ``last_tick`` as an ISO time, like
    every other time there (Redis keeps UNIX seconds, which ``age`` is computed from)."""
    out = dict(record)
    tick = record.get("last_tick")
    if isinstance(tick, int | float):
        out["last_tick"] = datetime.fromtimestamp(tick, UTC).isoformat(timespec="milliseconds")
    return out


def describe_beat(record: dict[str, Any]) -> str:
    """One line for ``show``: who, what role, how fresh."""
    role = record.get("role", "?")
    if record.get("leading"):
        role = "leader (holds the lock)"
    elif role == "leader":
        role = "leader? (not the lock holder now)"
    age = float(record.get("age", 0))
    ticked = f"last tick {age:.1f}s ago"
    if not record.get("alive", True):
        ticked = f"silent for {age:.0f}s (probably gone)"
    parts = [
        f"{record.get('host')} pid {record.get('pid')}",
        role,
        ticked,
        f"version {record.get('version')}",
    ]
    if record.get("due_backlog") is not None:
        parts.append(f"due backlog {record['due_backlog']}")
    watchdog = record.get("watchdog") or {}
    if watchdog.get("stalled"):
        parts.append(f"STALLED: runs overdue by {watchdog.get('last_overdue', 0):.1f}s")
    if watchdog.get("stall_episodes"):
        parts.append(f"stall episodes {watchdog['stall_episodes']}")
    return ", ".join(parts)


def _text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


__all__ = [
    "FILE_SETTING",
    "BeatState",
    "Heartbeat",
    "beat_json",
    "default_max_lag",
    "describe_beat",
    "is_alive",
    "leader_quiet",
    "read_beats",
    "ttl_for",
]

"""Pause and resume: an operational overlay on the reviewed schedule, not drift.

A pause lives in its own hash (``<prefix>:sync:paused``, field = entry name), never
in the entry's definition: ``plan``/``drift`` compare definitions, so a pause is
not a difference they try to undo, and ``apply`` (which rewrites definitions and
scores) leaves it alone.

``redbeat_sync.Scheduler`` reads the overlay with every entry it loads and checks
it again atomically in the claim script, so a pause written between the read and
the claim wins.  A paused entry is parked (score -1, or the ``until`` time so beat
wakes to resume it by itself).  celery-redbeat's own scheduler never reads this
hash: the parked score keeps it away from the entry only until something rewrites
the score (an ``apply`` that changes the entry, a ``save()``).

A value is JSON:

- paused: ``{"by", "since", "until" (ISO or null), "reason"}``;
- resumed: ``{"resumed_at": ISO, "catch_up": bool}``: a marker beat reads once,
  so that slots missed while paused are skipped (``catch_up`` false, the default:
  no burst on resume) or left to the entry's misfire policy (``catch_up`` true).
  A pause whose ``until`` has passed reads as resumed at ``until``.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import redis

from ..redact import redact
from ..values import stored_moment, stored_object
from .audit import append_record, make_record
from .layout import Layout

UTC = timezone.utc
#: Resume markers older than this are dropped by the next pause/resume call: beat
#: has long acted on them.
_MARKER_TTL = 7 * 24 * 3600.0


def paused_key(layout: Layout) -> str:
    return layout.prefix + ":sync:paused"


@dataclass(frozen=True)
class PauseState:
    """One entry's overlay as beat and the CLI read it."""

    paused: bool
    by: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    reason: str | None = None
    resumed_at: datetime | None = None  # slots before this were missed while paused
    catch_up: bool = False  # resumed with --catch-up: the entry's misfire policy decides

    def active(self, now: datetime) -> bool:
        return self.paused and (self.until is None or self.until > now)

    def skip_before(self, now: datetime) -> datetime | None:
        """Slots due before this instant were missed while paused and are skipped
        (None: nothing to skip)."""
        if self.catch_up:
            return None
        if self.paused:
            return self.until if self.until is not None and self.until <= now else None
        return self.resumed_at

    def describe(self) -> str:
        """``paused by W since T until U: reason`` (what plan, drift and show print)."""
        text = f"paused by {self.by or '?'}"
        if self.since is not None:
            text += f" since {_shown(self.since)}"
        text += f" until {_shown(self.until)}" if self.until is not None else " (no end)"
        return text + (f": {self.reason}" if self.reason else "")


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat()


def _shown(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds")


def parse(raw: str | bytes | None) -> PauseState | None:
    """The overlay of one entry from its stored value (None: none, or unreadable)."""
    data = stored_object(raw)
    if data is None:
        return None
    if "resumed_at" in data:
        return PauseState(
            False, resumed_at=stored_moment(data["resumed_at"]), catch_up=bool(data.get("catch_up"))
        )
    reason = data.get("reason")
    return PauseState(
        True,
        by=str(data.get("by") or "?"),
        since=stored_moment(data.get("since")),
        until=stored_moment(data.get("until")),
        reason=str(reason) if reason is not None else None,
    )


def read_pauses(
    client: redis.Redis, layout: Layout, names: Iterable[str] | None = None
) -> dict[str, PauseState]:
    """Active or expired pauses (resume markers left out), by entry name."""
    key = paused_key(layout)
    if names is None:
        raw = client.hgetall(key)
        items: list[tuple[str, Any]] = [(_text(k), v) for k, v in raw.items()]
    else:
        wanted = list(names)
        items = list(zip(wanted, client.hmget(key, wanted), strict=True)) if wanted else []
    out: dict[str, PauseState] = {}
    for name, value in items:
        state = parse(value)
        if state is not None and state.paused:
            out[name] = state
    return out


def count_paused(client: redis.Redis, layout: Layout, now: datetime | None = None) -> int:
    """How many entries are paused right now (resume markers and expired pauses not)."""
    moment = now or datetime.now(timezone.utc)
    return sum(1 for state in read_pauses(client, layout).values() if state.active(moment))


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _publish(client: redis.Redis, layout: Layout, names: Sequence[str]) -> None:
    # The change channel a running beat listens on: it re-checks these at once.
    client.publish(layout.changes_channel, json.dumps({"count": len(names), "names": list(names)}))


def _audit(
    client: redis.Redis, layout: Layout, action: str, names: Sequence[str], who: str,
    reason: str | None, **extra: Any,
) -> None:  # fmt: skip
    record = make_record(
        who=who, plan_digest="", counts={action: len(names)}, message=reason,
        action=action, changes={action: {"count": len(names), "names": sorted(names)[:100]}},
        **extra,
    )  # fmt: skip
    append_record(client, layout, record)


def pause(
    client: redis.Redis,
    layout: Layout,
    names: Sequence[str],
    *,
    who: str,
    reason: str,
    until: datetime | None = None,
    now: datetime | None = None,
) -> None:
    """Pause ``names`` (existing entries: the caller checks), audit, and wake beat."""
    now = now or datetime.now(UTC)
    reason = redact(reason)  # free text: a pasted URL must not carry its password along
    value = json.dumps(
        {"by": who, "since": _iso(now), "until": _iso(until) if until else None,
         "reason": reason, "host": socket.gethostname()}
    )  # fmt: skip
    key = paused_key(layout)
    with client.pipeline(transaction=False) as pipe:
        for chunk in _chunks(names):
            pipe.hset(key, mapping=dict.fromkeys(chunk, value))
            # Parked at once, for celery-redbeat's scheduler too (which never reads the
            # overlay); ours re-parks it whatever rewrites the score.
            score = until.timestamp() if until else -1
            pipe.zadd(layout.schedule_key, {layout.entry_key(n): score for n in chunk}, xx=True)
        pipe.execute()
    _audit(client, layout, "pause", names, who, reason, until=_iso(until) if until else None)
    _publish(client, layout, names)


def resume(
    client: redis.Redis,
    layout: Layout,
    names: Sequence[str],
    *,
    who: str,
    reason: str | None,
    catch_up: bool = False,
    now: datetime | None = None,
) -> None:
    """Resume ``names``: a marker tells beat which slots were missed while paused."""
    now = now or datetime.now(UTC)
    reason = redact(reason) if reason else reason
    value = json.dumps({"resumed_at": _iso(now), "catch_up": catch_up})
    key = paused_key(layout)
    with client.pipeline(transaction=False) as pipe:
        for chunk in _chunks(names):
            pipe.hset(key, mapping=dict.fromkeys(chunk, value))
            # Due now: beat decides the entry at once (skipping what was missed).
            pipe.zadd(
                layout.schedule_key, {layout.entry_key(n): int(now.timestamp()) for n in chunk},
                xx=True,
            )  # fmt: skip
        pipe.execute()
    _audit(client, layout, "resume", names, who, reason, catch_up=catch_up)
    _publish(client, layout, names)
    _drop_old_markers(client, layout, now)


def _drop_old_markers(client: redis.Redis, layout: Layout, now: datetime) -> None:
    key = paused_key(layout)
    stale = []
    for name, raw in client.hscan_iter(key, count=1000):
        state = parse(raw)
        resumed = state.resumed_at if state is not None and not state.paused else None
        if resumed is not None and (now - resumed).total_seconds() > _MARKER_TTL:
            stale.append(name)
    if stale:
        client.hdel(key, *stale)


def _chunks(names: Sequence[str], size: int = 1000) -> Iterable[Sequence[str]]:
    for start in range(0, len(names), size):
        yield names[start : start + size]


__all__ = ["PauseState", "parse", "pause", "paused_key", "read_pauses", "resume"]

"""Is beat working?  The read side of ``redbeat-sync health`` (and of ``show``'s beats).

Healthy means all of: a beat holds the leader lock; that beat's heartbeat is at most
``max_lag`` seconds old; its stall watchdog is quiet; no scheduled entry is overdue by
more than ``max_lag``.  The first condition that fails is the one reported.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from typing import Any

from ..state.layout import Layout
from .config import DEFAULT_LOCK_TIMEOUT
from .heartbeat import beat_json, default_max_lag, read_beats
from .lock import read_beat_lock
from .metrics import oldest_overdue

UTC = timezone.utc


@dataclass
class HealthReport:
    ok: bool
    problem: str | None
    max_lag: float
    lock: dict[str, Any] | None
    beats: list[dict[str, Any]] = field(default_factory=list)
    oldest_overdue: dict[str, Any] | None = None

    def line(self) -> str:
        """One line: OK and who leads, or which condition failed."""
        if not self.ok:
            return f"FAIL: {self.problem}"
        leader = self.beats[0]
        # A killed beat's record lingers until its TTL: count only standbys that tick.
        standbys = sum(1 for b in self.beats[1:] if b["alive"])
        return (
            f"OK: leader {_who(leader)} ticked {leader['age']:.1f}s ago, "
            f"{standbys} standby beat(s), nothing overdue by more than {self.max_lag:g}s"
        )

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["beats"] = [beat_json(b) for b in self.beats]
        return data


def _who(record: dict[str, Any]) -> str:
    return f"{record.get('host')} pid {record.get('pid')}"


def _iso(unix: float) -> str:
    return datetime.fromtimestamp(unix, UTC).isoformat(timespec="seconds")


def check_health(
    client: Any,
    layout: Layout,
    *,
    max_lag: float | None = None,
    lock_key: str | None = None,
    now: float | None = None,
) -> HealthReport:
    """Read the lock, the heartbeats and the schedule once, and judge.

    ``max_lag`` None: the leader's lock timeout (from its heartbeat) plus 5 s.
    """
    now = time.time() if now is None else now
    lock = read_beat_lock(client, layout, key=lock_key)
    beats = read_beats(client, layout, lock_id=lock["id"] if lock else None, now=now)
    leader = next((b for b in beats if b["leading"]), None)
    if max_lag is None:
        source = leader or (beats[0] if beats else None)
        timeout = float((source or {}).get("lock_timeout") or DEFAULT_LOCK_TIMEOUT)
        max_lag = default_max_lag(timeout)
    found = oldest_overdue(client, layout.schedule_key, now)
    overdue = None
    if found is not None:
        overdue = {"entry": layout.name_of(found[0]), "seconds": round(found[1], 3)}
    report = HealthReport(False, None, max_lag, lock, beats, overdue)
    report.problem = _problem(report, leader, lock_key or layout.beat_lock_key)
    report.ok = report.problem is None
    return report


def _problem(report: HealthReport, leader: dict[str, Any] | None, lock_key: str) -> str | None:
    lock, lag = report.lock, report.max_lag
    if lock is None:
        alive = sum(1 for b in report.beats if b["alive"])
        return f"no leader: nobody holds the beat lock {lock_key} ({alive} beat(s) alive)"
    if lock["holder"] != "redbeat-sync":
        return (
            f"the lock {lock_key} is held by celery-redbeat's scheduler, which writes no heartbeat"
        )
    if leader is None:
        return (
            f"no heartbeat from the leader {lock['host']} pid {lock['pid']} "
            f"(lock held since {lock['since']}): hung, or not redbeat_sync.Scheduler"
        )
    if leader["age"] > lag:
        return (
            f"stale heartbeat: leader {_who(leader)} last ticked at "
            f"{_iso(leader['last_tick'])} ({leader['age']:.1f}s ago, max lag {lag:g}s)"
        )
    watchdog = leader.get("watchdog") or {}
    if watchdog.get("stalled"):
        return (
            f"leader {_who(leader)} reports runs overdue by "
            f"{watchdog.get('last_overdue', 0):.1f}s while leading (stall watchdog)"
        )
    overdue = report.oldest_overdue
    if overdue is not None and overdue["seconds"] > lag:
        return f"entry {overdue['entry']} overdue by {overdue['seconds']:.1f}s (max lag {lag:g}s)"
    return None


__all__ = ["HealthReport", "check_health"]

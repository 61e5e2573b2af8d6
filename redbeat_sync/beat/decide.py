"""What to do with one entry at one instant: pure arithmetic over ``timing``.

Rules (the scheduler's, documented here once):

- A disabled entry is *parked*: score -1, never re-read by a tick.  Re-enabling it
  through ``save()`` or ``redbeat-sync apply`` writes a real score again (and beat
  re-checks the names an apply announces, in case the writer kept the old score).
- An exhausted entry (one-off ``at`` that ran, rrule past ``count``/``until``, past
  ``end_at``) is parked too.  Its hash stays as history (``last_run_at`` says when
  it ran); ``redbeat-sync apply`` or ``delete()`` removes it.
- ``last_run_at`` is the *slot* a run was for (its due time), not the time it was
  sent, so intervals never drift with dispatch lateness.
- Missed slots (beat down, failover) are coalesced: at most one run is sent for
  all the slots missed, for the latest of them, and ``covers_from`` names the
  first.  The entry's ``misfire`` policy decides whether that run is sent:
  ``catch_up`` (default, RedBeat's behaviour) always; ``skip`` only if it is at most
  ``grace`` seconds late (else the slots are recorded as skipped and the entry waits
  for its next slot); ``deadline`` only if at most ``entry.deadline`` seconds late.
- ``jitter`` delays each slot by a pseudo-random 0..jitter seconds derived from the
  entry name and slot, so every beat (and every re-read) agrees on it without
  storing anything, and the score already includes it.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Literal

from ..schedule import timing
from ..schedule.entry import Entry, Every, RunState

UTC = timezone.utc

#: Lateness up to which a ``skip`` entry's run still counts as on time.
DEFAULT_SKIP_GRACE = 5.0
#: Bound on slots walked to find the latest missed one (1 day of minutely cron).
_MAX_WALK = 2000

Kind = Literal["run", "skip", "wait", "park"]


@dataclass(frozen=True)
class Decision:
    kind: Kind
    score: int  # the entry's new score
    fire_at: datetime | None = None  # wait: when to look again (sub-second)
    slot: datetime | None = None  # run/skip: the (latest) slot handled
    covers_from: datetime | None = None  # run/skip: the first slot coalesced
    run: RunState | None = None  # run/skip: the new run history


def jitter_offset(entry: Entry, slot: datetime) -> float:
    """Deterministic 0..jitter seconds for this entry and slot."""
    if not entry.jitter:
        return 0.0
    digest = hashlib.sha1(f"{entry.name}\0{slot.timestamp():.6f}".encode()).digest()
    return entry.jitter * int.from_bytes(digest[:4], "big") / 2**32


def fire_time(entry: Entry, slot: datetime) -> datetime:
    return slot + timedelta(seconds=jitter_offset(entry, slot))


def _latest_slot(entry: Entry, first: datetime, now: datetime) -> datetime:
    """The last slot whose fire time is <= now, starting from the due slot ``first``."""
    schedule = entry.schedule
    if isinstance(schedule, Every) and schedule.seconds > 0:
        step = timedelta(seconds=schedule.seconds)
        k = max(0, math.floor((now - first) / step))
        slot = first + k * step
        if entry.end_at is not None:
            while slot > entry.end_at and k > 0:  # the window closed meanwhile
                k -= 1
                slot = first + k * step
        while k > 0 and fire_time(entry, slot) > now:
            k -= 1
            slot = first + k * step
        return slot
    slot = first
    for _ in range(_MAX_WALK):
        following = timing.next_fire_after(entry, slot)
        if following is None:
            break
        # UTC throughout: datetimes sharing a zone subtract and compare by wall time.
        following = following.astimezone(UTC)
        if fire_time(entry, following) > now:
            break
        slot = following
    return slot


def _next_score(entry: Entry, after_slot: datetime, now: datetime) -> tuple[int, datetime | None]:
    following = timing.next_due(entry, after_slot, now)
    if following is None:
        return -1, None
    fire = fire_time(entry, following.astimezone(UTC))
    return timing.score(fire), fire


def decide(
    entry: Entry, run: RunState, now: datetime, *, grace: float = DEFAULT_SKIP_GRACE
) -> Decision:
    now = now.astimezone(UTC)
    if not entry.enabled:
        return Decision("park", -1)
    due = timing.next_due(entry, run.last_run_at, now)
    if due is None:
        return Decision("park", -1)
    due = due.astimezone(UTC)
    fire = fire_time(entry, due)
    if fire > now:
        return Decision("wait", timing.score(fire), fire_at=fire)
    slot = _latest_slot(entry, due, now)
    lateness = (now - fire_time(entry, slot)).total_seconds()
    if entry.misfire == "skip":
        send = lateness <= grace
    elif entry.misfire == "deadline":
        send = lateness <= (entry.deadline if entry.deadline is not None else grace)
    else:
        send = True
    count = run.total_run_count + 1 if send else run.total_run_count
    new_run = RunState(last_run_at=slot, total_run_count=count)
    score, fire_next = _next_score(entry, slot, now)
    return Decision(
        "run" if send else "skip",
        score,
        fire_at=fire_next,
        slot=slot,
        covers_from=due,
        run=new_run,
    )


__all__ = ["DEFAULT_SKIP_GRACE", "Decision", "decide", "fire_time", "jitter_offset"]

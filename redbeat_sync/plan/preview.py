"""The next runs a plan shows: what beat will do, asked of beat's own decision.

The preview walks ``beat.decide.decide`` (the function redbeat_sync.Scheduler calls
for every due entry) forward from the plan's ``now``, starting from the run history
beat will have after apply: the stored ``meta`` for reschedules, adoptions and moves
(apply keeps it), ``last_run_at = now`` for a create (what apply's new ``meta``
says).  So a reschedule whose kept ``last_run_at`` leaves a slot already missed
shows that slot going out at once, "now (catch-up for 21:37:07)", and the runs
after it follow from that slot, as beat will send them, not from "now".

The times are when beat sends (jitter included), in the entry's own zone.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass
from datetime import datetime, timezone

from ..beat.decide import decide
from ..schedule.entry import Entry, RunState
from ..schedule.timing import zone as _zone

UTC = timezone.utc
#: Runs shown per entry.
NEXT_RUNS = 3


@dataclass(frozen=True)
class Preview:
    """The next runs beat will send for one entry.

    ``runs`` are send times in the entry's zone.  ``at_once_for`` is set when the
    first run goes out as soon as beat sees the entry (``runs[0]`` is the plan's
    ``now``): it is the slot that run is for, earlier than ``now`` for a catch-up.
    """

    runs: tuple[datetime, ...] = ()
    at_once_for: datetime | None = None


NOTHING = Preview()


def _timing_key(entry: Entry, run: RunState, now: datetime, n: int) -> Hashable | None:
    """What ``decide`` depends on, to share one walk between entries alike (100k creates
    share a few schedules); None when the entry's name matters (jitter)."""
    if entry.jitter:
        return None
    return (
        entry.schedule,
        entry.timezone,
        entry.start_at,
        entry.end_at,
        entry.enabled,
        entry.misfire,
        entry.deadline,
        run.last_run_at,
        now,
        n,
    )


#: Walks shared by entries alike, for one plan's ``now`` (cleared when it grows).
_SHARED: dict[Hashable, Preview] = {}
_SHARED_MAX = 4096


def preview_runs(entry: Entry, run: RunState, now: datetime, n: int = NEXT_RUNS) -> Preview:
    """The next ``n`` runs beat sends for ``entry`` with run history ``run``, after ``now``."""
    key = _timing_key(entry, run, now, n)
    if key is None:
        return _walk(entry, run, now, n)
    try:
        found = _SHARED.get(key)
    except TypeError:  # an unhashable schedule (not built by our loaders)
        return _walk(entry, run, now, n)
    if found is None:
        if len(_SHARED) >= _SHARED_MAX:
            _SHARED.clear()
        found = _SHARED[key] = _walk(entry, run, now, n)
    return found


def _walk(entry: Entry, run: RunState, now: datetime, n: int) -> Preview:
    now = now.astimezone(UTC)
    zone = entry.timezone
    runs: list[datetime] = []
    at_once_for: datetime | None = None
    moment = now
    # Each loop either records a run or moves ``moment`` to the next fire time;
    # skipped slots (misfire) cost one more: the bound only guards against a bug.
    for _ in range(4 * n + 4):
        if len(runs) >= n:
            break
        decision = decide(entry, run, moment)
        if decision.kind == "park":
            break
        if decision.kind == "wait":
            assert decision.fire_at is not None
            moment = decision.fire_at
            continue
        if decision.kind == "run":
            if not runs and moment == now:
                at_once_for = decision.slot
            runs.append(moment)
        assert decision.run is not None
        run = decision.run
        if decision.fire_at is None:
            break
        moment = max(moment, decision.fire_at)
    local = [t.astimezone(_zone(zone)) for t in runs]
    slot = at_once_for.astimezone(_zone(zone)) if at_once_for is not None else None
    return Preview(tuple(local), slot)

"""A warning for a jitter at least as long as the entry's ``every`` interval.

Each run waits a random part of ``jitter`` after its slot.  When that can exceed the
interval, a run can land after the next slot, so the entry runs far less often than
``every`` says (``jitter: 2h`` on ``every: 5m`` ran 1-2 h apart).  It is valid (a long
jitter spreads a fleet), so a warning, not an error.
"""

from __future__ import annotations

from ..schedule.durations import format_duration
from ..schedule.entry import Entry, Every


def jitter_warnings(entry: Entry) -> list[str]:
    """One warning when ``entry``'s jitter is at least its ``every`` interval, else none."""
    schedule = entry.schedule
    if not isinstance(schedule, Every) or entry.jitter < schedule.seconds:
        return []
    jitter, every = format_duration(entry.jitter), format_duration(schedule.seconds)
    return [
        f"jitter: {jitter} is not shorter than the interval (every: {every}): a run can be "
        f"delayed past the next one's slot, so runs come less often than every {every}. "
        "Fix: keep jitter below the interval"
    ]

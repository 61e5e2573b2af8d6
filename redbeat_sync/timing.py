"""When an entry fires: next fire times, next due time and the sorted-set score.

Shared by the planner (next 3 fire times, reschedules), the writer (scores) and the
beat scheduler (dispatch).  All inputs and outputs are timezone-aware datetimes.

CONTRACT (implemented by the state-layer work):

- ``next_fire_after(entry, after) -> datetime | None``: first fire time strictly
  after ``after``, honouring the entry's timezone (DST-correct, croniter for cron),
  start/end window; None when the schedule is exhausted.
- ``next_fire_times(entry, n=3, now=None) -> list[datetime]``: the next n fire times
  after now, expressed in the entry's own zone.
- ``next_due(entry, last_run_at, now) -> datetime | None``: when the entry is next
  due given its last run.  Never run (None) means due now for intervals/cron (as
  RedBeat), the first occurrence at or after dtstart for rrule (RedBeat #74 skipped
  it), ``when`` for one-off ``at``; None means no further run.
- ``score(due) -> int``: integer UNIX seconds, floored so it is never late; -1 for None.
"""

"""DST: cron in an entry's own IANA zone across both transitions, in two zones.

Beat is simulated tick by tick (it wakes at each returned fire time, a little late)
through ``decide`` - the rules the scheduler dispatches by - and once through the
real scheduler and claim script on Redis.  Policy (see redbeat_sync.schedule.timing): a
fixed-hour job runs once per local day (a skipped local time fires at the end of
the gap, a repeated one in its first pass); an hourly job follows real time.
"""

from __future__ import annotations

import itertools
from collections import Counter
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
import redis
from beat_app import broker_url_for, leading, make_app, queued

from redbeat_sync import Scheduler, SchedulerEntry
from redbeat_sync.beat.decide import decide
from redbeat_sync.beat.scheduler import SLOT_HEADER
from redbeat_sync.schedule.entry import Cron, Entry, RunState

UTC = timezone.utc
LATENCY = timedelta(milliseconds=200)

# (zone, spring-forward day, fall-back day) in 2026
ZONES = [
    ("Europe/Paris", date(2026, 3, 29), date(2026, 10, 25)),
    ("America/New_York", date(2026, 3, 8), date(2026, 11, 1)),
]


def simulate(entry: Entry, start: datetime, end: datetime) -> list[datetime]:
    """The slots beat runs between start and end, waking when told (+200 ms)."""
    run = RunState(start)
    now = start
    slots: list[datetime] = []
    while now < end:
        d = decide(entry, run, now)
        if d.kind == "run":
            assert d.slot is not None and d.run is not None
            slots.append(d.slot)
        if d.run is not None:
            run = d.run
        if d.fire_at is None:
            break
        now = max(now, d.fire_at) + LATENCY
    return slots


def local_days(slots: list[datetime], zone: str) -> Counter[date]:
    return Counter(s.astimezone(ZoneInfo(zone)).date() for s in slots)


def around(day: date, zone: str) -> tuple[datetime, datetime]:
    tz = ZoneInfo(zone)
    start = datetime(day.year, day.month, day.day, tzinfo=tz) - timedelta(days=2)
    return start.astimezone(UTC), (start + timedelta(days=5)).astimezone(UTC)


@pytest.mark.parametrize(("zone", "spring", "fall"), ZONES)
def test_daily_fixed_time_runs_once_per_local_day(zone: str, spring: date, fall: date) -> None:
    entry = Entry("daily", "t", Cron("30", "2"), timezone=zone)
    for day in (spring, fall):
        start, end = around(day, zone)
        slots = simulate(entry, start, end)
        assert len(slots) == len(set(slots))  # no slot twice
        per_day = local_days(slots, zone)
        assert all(n == 1 for n in per_day.values()), per_day
        assert len(per_day) == 5
        on_day = [
            s.astimezone(ZoneInfo(zone))
            for s in slots
            if s.astimezone(ZoneInfo(zone)).date() == day
        ]
        if day == spring:  # 02:30 does not exist: runs at the end of the gap
            assert (on_day[0].hour, on_day[0].minute) == (3, 0)
        else:  # 02:30 exists once on both fall-back days
            assert (on_day[0].hour, on_day[0].minute) == (2, 30)


@pytest.mark.parametrize(("zone", "spring", "fall"), ZONES)
def test_repeated_local_time_runs_only_in_its_first_pass(
    zone: str, spring: date, fall: date
) -> None:
    # the hour that is repeated at fall-back: 02:xx in Paris, 01:xx in New York
    repeated = "2" if zone == "Europe/Paris" else "1"
    entry = Entry("rep", "t", Cron("30", repeated), timezone=zone)
    start, end = around(fall, zone)
    slots = simulate(entry, start, end)
    on_day = [s for s in slots if s.astimezone(ZoneInfo(zone)).date() == fall]
    assert len(on_day) == 1
    assert on_day[0].astimezone(ZoneInfo(zone)).fold == 0


@pytest.mark.parametrize(("zone", "spring", "fall"), ZONES)
def test_hourly_follows_real_time_across_both_transitions(
    zone: str, spring: date, fall: date
) -> None:
    entry = Entry("hourly", "t", Cron("0", "*"), timezone=zone)
    for day, hours in ((spring, 23), (fall, 25)):
        start, end = around(day, zone)
        slots = simulate(entry, start, end)
        assert len(slots) == len(set(slots))
        gaps = {b - a for a, b in itertools.pairwise(slots)}
        assert gaps == {timedelta(hours=1)}  # never doubled, never lost
        assert local_days(slots, zone)[day] == hours


def test_through_the_real_scheduler_on_redis(redis_url: str) -> None:
    """Paris fall-back, daily 02:30 and hourly, dispatched by Scheduler + claim.lua.

    In 2027: entries save scores from the real clock, so the simulated days must
    lie ahead of it."""
    broker = redis.Redis.from_url(broker_url_for(redis_url), decode_responses=True)
    broker.flushdb()
    app = make_app(
        redis_url, broker_url_for(redis_url), beat_max_loop_interval=86400, result_expires=None
    )
    zone = "Europe/Paris"
    fall = date(2027, 10, 31)
    start, end = around(fall, zone)
    for name, cron in (("daily", Cron("30", "2")), ("hourly", Cron("0", "*"))):
        entry = Entry(name, "tests.beat_app.record", cron, args=[name], timezone=zone)
        SchedulerEntry.from_entry(entry, RunState(start), app=app).save()
    beat = Scheduler(app)
    beat.start()
    try:
        leading(beat)
        now = start
        for _ in range(500):
            if now >= end:
                break
            now = now + timedelta(seconds=beat.dispatch_once(now)) + LATENCY
        messages = queued(broker)
    finally:
        beat.close()
        broker.close()
    by_name: dict[str, list[str]] = {}
    for m in messages:
        by_name.setdefault(m["argsrepr"].strip("[]'\""), []).append(m[SLOT_HEADER])
    daily = [datetime.fromisoformat(s) for s in by_name["daily"]]
    hourly = [datetime.fromisoformat(s) for s in by_name["hourly"]]
    assert len(set(daily)) == len(daily) == 5
    assert len(set(hourly)) == len(hourly)
    assert local_days(hourly, zone)[fall] == 25

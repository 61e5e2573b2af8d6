"""Fire-time arithmetic: cron in a zone across DST, intervals, rrule, at, windows."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import celery
import pytest
from celery.schedules import crontab
from hypothesis import given, settings
from hypothesis import strategies as st

from redbeat_sync.schedule import timing
from redbeat_sync.schedule.entry import At, Cron, Entry, Every, RRule

#: Celery is the oracle here, and before 5.7 a wrong one: its crontab.remaining_delta
#: jumps to the next hour one second before a */7 minute, and its astronomical dusk is
#: hours off.  redbeat-sync does not use either; the floors run (Celery 5.5) skips these.
CELERY_57 = pytest.mark.skipif(
    tuple(int(part) for part in celery.__version__.split(".")[:2]) < (5, 7),
    reason="Celery < 5.7 computes this wrongly itself",
)

UTC = timezone.utc
PARIS = ZoneInfo("Europe/Paris")
NEW_YORK = ZoneInfo("America/New_York")


def entry(schedule, tz: str = "UTC", **kwargs) -> Entry:
    return Entry(name="e", task="t", schedule=schedule, timezone=tz, **kwargs)


def cron(expression: str, tz: str = "UTC", **kwargs) -> Entry:
    return entry(Cron.from_expression(expression), tz, **kwargs)


def local(dt: datetime) -> tuple[str, str]:
    """(wall time, UTC offset) — unambiguous across a fall-back."""
    return dt.strftime("%Y-%m-%d %H:%M"), dt.strftime("%z")


def times(e: Entry, n: int, now: datetime) -> list[tuple[str, str]]:
    return [local(t) for t in timing.next_fire_times(e, n, now)]


# --------------------------------------------------------------------------- cron + DST


def test_cron_runs_in_the_entry_zone_and_returns_that_zone():
    got = timing.next_fire_times(
        cron("0 9 * * *", "Europe/Paris"), 2, datetime(2025, 1, 6, tzinfo=UTC)
    )
    assert [t.isoformat() for t in got] == [
        "2025-01-06T09:00:00+01:00",
        "2025-01-07T09:00:00+01:00",
    ]
    assert all(t.tzinfo == PARIS for t in got)


def test_spring_forward_fixed_time_fires_at_end_of_gap_paris():
    # 2025-03-30: Paris clocks jump 02:00 -> 03:00; 02:30 does not exist that day.
    e = cron("30 2 * * *", "Europe/Paris")
    assert times(e, 3, datetime(2025, 3, 29, 12, tzinfo=PARIS)) == [
        ("2025-03-30 03:00", "+0200"),
        ("2025-03-31 02:30", "+0200"),
        ("2025-04-01 02:30", "+0200"),
    ]


def test_spring_forward_several_skipped_times_collapse_into_one_firing():
    e = cron("*/15 2 * * *", "Europe/Paris")
    assert times(e, 2, datetime(2025, 3, 30, 1, 0, tzinfo=PARIS)) == [
        ("2025-03-30 03:00", "+0200"),
        ("2025-03-31 02:00", "+0200"),
    ]


def test_spring_forward_periodic_job_follows_real_time():
    e = cron("*/30 * * * *", "Europe/Paris")
    assert times(e, 3, datetime(2025, 3, 30, 1, 10, tzinfo=PARIS)) == [
        ("2025-03-30 01:30", "+0100"),
        ("2025-03-30 03:00", "+0200"),
        ("2025-03-30 03:30", "+0200"),
    ]


def test_fall_back_fixed_time_fires_once_paris():
    # 2025-10-26: Paris clocks go 03:00 -> 02:00; 02:30 happens twice.
    e = cron("30 2 * * *", "Europe/Paris")
    assert times(e, 2, datetime(2025, 10, 25, 12, tzinfo=PARIS)) == [
        ("2025-10-26 02:30", "+0200"),
        ("2025-10-27 02:30", "+0100"),
    ]


def test_fall_back_fixed_time_fires_once_new_york_even_from_inside_second_pass():
    # 2025-11-02: New York 02:00 EDT -> 01:00 EST; 01:30 happens twice.
    e = cron("30 1 * * *", "America/New_York")
    assert times(e, 2, datetime(2025, 11, 1, 12, tzinfo=NEW_YORK)) == [
        ("2025-11-02 01:30", "-0400"),
        ("2025-11-03 01:30", "-0500"),
    ]
    second_pass = datetime(2025, 11, 2, 1, 10, fold=1, tzinfo=NEW_YORK)
    assert local(timing.next_fire_after(e, second_pass)) == ("2025-11-03 01:30", "-0500")


def test_fall_back_periodic_job_runs_in_both_passes_new_york():
    e = cron("*/30 * * * *", "America/New_York")
    assert times(e, 5, datetime(2025, 11, 2, 1, 10, tzinfo=NEW_YORK)) == [
        ("2025-11-02 01:30", "-0400"),
        ("2025-11-02 01:00", "-0500"),
        ("2025-11-02 01:30", "-0500"),
        ("2025-11-02 02:00", "-0500"),
        ("2025-11-02 02:30", "-0500"),
    ]


def test_spring_forward_new_york():
    e = cron("30 2 * * *", "America/New_York")
    assert times(e, 2, datetime(2025, 3, 8, 12, tzinfo=NEW_YORK)) == [
        ("2025-03-09 03:00", "-0400"),
        ("2025-03-10 02:30", "-0400"),
    ]


@pytest.mark.parametrize(
    "week_of", [datetime(2025, 3, 27, tzinfo=UTC), datetime(2025, 10, 23, tzinfo=UTC)]
)
def test_periodic_cron_is_evenly_spaced_through_a_dst_week(week_of: datetime):
    e = cron("*/20 * * * *", "Europe/Paris")
    fires = timing.next_fire_times(e, 3 * 24 * 7, week_of)
    gaps = {b.timestamp() - a.timestamp() for a, b in itertools.pairwise(fires)}
    assert gaps == {1200.0}  # real time: no hole at spring-forward, no double at fall-back


def test_day_of_month_and_day_of_week_both_restrict_like_celery():
    e = cron("0 0 13 * 5")  # Friday the 13th only (Celery ANDs; classic cron ORs)
    got = timing.next_fire_times(e, 2, datetime(2025, 1, 1, tzinfo=UTC))
    assert [t.date().isoformat() for t in got] == ["2025-06-13", "2026-02-13"]


@pytest.mark.parametrize(
    "expression",
    ["*/7 * * * *", "15 3 * * mon-fri", "0 */6 1,15 * *", "5 4 * 2 sun", "0 12 * * 0"],
)
@CELERY_57
def test_cron_agrees_with_celery_crontab_in_utc(expression: str):
    minute, hour, dom, month, dow = expression.split()
    celery = crontab(minute, hour, dow, dom, month)
    start = datetime(2025, 2, 3, 4, 5, tzinfo=UTC)
    e = cron(expression)
    for t in timing.next_fire_times(e, 5, start):
        # Celery: after a run at t - 1s, the next run is exactly t.
        last, delta, _now = celery.remaining_delta(t - timedelta(seconds=1))
        assert last + delta == t


# --------------------------------------------------------------------------- intervals


def test_every_due_after_last_run_and_now_when_never_run():
    e = entry(Every(90.0))
    now = datetime(2025, 5, 1, 12, tzinfo=UTC)
    assert timing.next_due(e, None, now) == now
    assert timing.next_due(e, now, now + timedelta(seconds=5)) == now + timedelta(seconds=90)


def test_every_across_dst_uses_elapsed_time():
    e = entry(Every(3600.0), "Europe/Paris")
    last = datetime(2025, 3, 30, 1, 30, tzinfo=PARIS)
    due = timing.next_due(e, last, last)
    assert due.timestamp() - last.timestamp() == 3600
    assert local(due) == ("2025-03-30 03:30", "+0200")


def test_every_fire_times_count_from_now():
    now = datetime(2025, 5, 1, 12, 0, 0, 700000, tzinfo=UTC)
    got = timing.next_fire_times(entry(Every(60.0)), 2, now)
    assert [t.isoformat() for t in got] == [
        "2025-05-01T12:01:00+00:00",
        "2025-05-01T12:02:00+00:00",
    ]


# --------------------------------------------------------------------------- rrule


def test_rrule_first_occurrence_at_dtstart_is_included():
    start = datetime(2025, 1, 1, 9, tzinfo=PARIS)
    e = entry(RRule("daily", dtstart=start, count=3), "Europe/Paris")
    assert timing.next_due(e, None, datetime(2024, 12, 31, tzinfo=UTC)) == start
    assert timing.next_fire_times(e, 5, datetime(2024, 12, 1, tzinfo=UTC)) == [
        start,
        start + timedelta(days=1),
        start + timedelta(days=2),
    ]


def test_rrule_count_exhaustion_gives_none():
    start = datetime(2025, 1, 1, 9, tzinfo=UTC)
    e = entry(RRule("daily", dtstart=start, count=2))
    assert timing.next_due(e, start, start) == start + timedelta(days=1)
    assert timing.next_due(e, start + timedelta(days=1), start) is None
    assert timing.score(timing.next_due(e, start + timedelta(days=1), start)) == -1


def test_rrule_until_exhaustion():
    start = datetime(2025, 1, 1, 9, tzinfo=UTC)
    e = entry(RRule("hourly", dtstart=start, until=start + timedelta(hours=2)))
    assert len(timing.next_fire_times(e, 10, start - timedelta(days=1))) == 3


def test_rrule_byhour_is_local_hour_across_dst():
    start = datetime(2025, 1, 6, 9, tzinfo=PARIS)
    e = entry(RRule("weekly", dtstart=start, byweekday=(0,), byhour=(9,)), "Europe/Paris")
    summer = timing.next_fire_after(e, datetime(2025, 7, 1, tzinfo=UTC))
    assert local(summer) == ("2025-07-07 09:00", "+0200")


# --------------------------------------------------------------------------- at + windows


def test_at_fires_once():
    when = datetime(2030, 1, 1, 8, tzinfo=UTC)
    e = entry(At(when))
    now = datetime(2029, 1, 1, tzinfo=UTC)
    assert timing.next_due(e, None, now) == when
    assert timing.next_due(e, when - timedelta(days=3), now) == when
    assert timing.next_due(e, when, now) is None
    assert timing.next_fire_times(e, 3, now) == [when]
    assert timing.next_fire_times(e, 3, when) == []


def test_start_window_delays_first_fire():
    start_at = datetime(2025, 6, 1, 10, 7, tzinfo=UTC)
    e = cron("*/15 * * * *", start_at=start_at)
    now = datetime(2025, 5, 1, tzinfo=UTC)
    assert timing.next_due(e, None, now) == datetime(2025, 6, 1, 10, 15, tzinfo=UTC)
    assert timing.next_fire_times(e, 1, now)[0] == datetime(2025, 6, 1, 10, 15, tzinfo=UTC)
    every = entry(Every(60.0), start_at=start_at)
    assert timing.next_due(every, None, now) == start_at


def test_end_window_stops_firing():
    end_at = datetime(2025, 6, 1, 10, 40, tzinfo=UTC)
    e = cron("*/15 * * * *", end_at=end_at)
    got = timing.next_fire_times(e, 10, datetime(2025, 6, 1, 10, tzinfo=UTC))
    assert [t.minute for t in got] == [15, 30]
    assert timing.next_due(e, datetime(2025, 6, 1, 10, 30, tzinfo=UTC), end_at) is None


# --------------------------------------------------------------------------- score + speed


def test_score_floors_and_minus_one_for_none():
    assert timing.score(None) == -1
    assert timing.score(datetime(2025, 1, 1, 0, 0, 0, 999999, tzinfo=UTC)) == 1735689600
    assert timing.score(datetime(2025, 1, 1, 1, 0, tzinfo=PARIS)) == 1735689600


def test_many_entries_sharing_expressions_are_fast():
    expressions = ["*/5 * * * *", "0 3 * * *", "30 8 * * mon-fri", "0 0 1 * *"]
    entries = [cron(expressions[i % 4], "Europe/Paris") for i in range(20_000)]
    now = datetime.now(UTC)
    timing._fire_times_cached.cache_clear()
    for e in entries:
        timing.next_fire_times(e, 3, now)
    # The walk is done once per (expression, zone), not per entry: 4, not 20,000 (the
    # time it saves is a figure: bench/bench_scale.py).
    computed = timing._fire_times_cached.cache_info()
    assert (computed.misses, computed.hits) == (4, 20_000 - 4)


# --------------------------------------------------------------------------- property: DST policy


def _reference_next(
    minutes: set[int], hours: set[int], periodic: bool, tz: ZoneInfo, after: datetime
) -> datetime:
    """Brute force over real minutes, written from the policy, not from the code."""
    u = after.astimezone(UTC).replace(second=0, microsecond=0) + timedelta(minutes=1)
    while True:
        wall = u.astimezone(tz)
        previous = (u - timedelta(minutes=1)).astimezone(tz)
        jumped = wall.utcoffset() - previous.utcoffset()
        if jumped > timedelta(0) and not periodic:
            # a gap just ended: fire if any skipped wall minute matched
            skipped = previous.replace(tzinfo=None) + timedelta(minutes=1)
            while skipped < wall.replace(tzinfo=None):
                if skipped.minute in minutes and skipped.hour in hours:
                    return u
                skipped += timedelta(minutes=1)
        if wall.minute in minutes and wall.hour in hours:
            repeated = wall.replace(fold=0).utcoffset() != wall.replace(fold=1).utcoffset()
            if periodic or not repeated or wall.fold == 0:
                return u
        u += timedelta(minutes=1)


MINUTE_FIELDS = {
    "0": {0},
    "30": {30},
    "*/20": {0, 20, 40},
    "5,50": {5, 50},
    "*/7": set(range(0, 60, 7)),
}
HOUR_FIELDS = {
    "*": set(range(24)),
    "2": {2},
    "1": {1},
    "0-3": {0, 1, 2, 3},
    "1,2,3": {1, 2, 3},
    "*/2": set(range(0, 24, 2)),
}
TRANSITIONS = {
    "Europe/Paris": [datetime(2025, 3, 30, 1, tzinfo=UTC), datetime(2025, 10, 26, 1, tzinfo=UTC)],
    "America/New_York": [datetime(2025, 3, 9, 7, tzinfo=UTC), datetime(2025, 11, 2, 6, tzinfo=UTC)],
    "Australia/Lord_Howe": [
        datetime(2025, 4, 5, 15, tzinfo=UTC),
        datetime(2025, 10, 4, 15, 30, tzinfo=UTC),
    ],
}


@settings(max_examples=60, deadline=None)
@given(
    minute=st.sampled_from(sorted(MINUTE_FIELDS)),
    hour=st.sampled_from(sorted(HOUR_FIELDS)),
    zone_name=st.sampled_from(sorted(TRANSITIONS)),
    which=st.integers(0, 1),
    offset_minutes=st.integers(-6 * 60, 6 * 60),
    second=st.integers(0, 59),
)
def test_cron_matches_brute_force_reference_around_transitions(
    minute, hour, zone_name, which, offset_minutes, second
):
    tz = ZoneInfo(zone_name)
    after = TRANSITIONS[zone_name][which] + timedelta(minutes=offset_minutes, seconds=second)
    e = cron(f"{minute} {hour} * * *", zone_name)
    got = timing.next_fire_after(e, after)
    periodic = hour.startswith("*")
    expected = _reference_next(MINUTE_FIELDS[minute], HOUR_FIELDS[hour], periodic, tz, after)
    # compare in UTC: Python's == is always False for a repeated local time vs. another zone
    assert got.astimezone(UTC) == expected, (local(got), local(expected.astimezone(tz)))


def test_relative_interval_rounds_like_celery():
    e = entry(Every(3600.0, relative=True))
    last = datetime(2025, 5, 1, 10, 17, 23, tzinfo=UTC)
    assert timing.next_due(e, last, last) == datetime(2025, 5, 1, 11, 0, tzinfo=UTC)
    daily = entry(Every(86400.0, relative=True), "Europe/Paris")
    due = timing.next_due(daily, datetime(2025, 5, 1, 10, 17, tzinfo=PARIS), last)
    assert local(due) == ("2025-05-02 00:00", "+0200")  # local midnight, as Celery does


def test_cron_that_names_no_date_never_fires():
    e = cron("0 0 30 2 *")
    now = datetime(2025, 1, 1, tzinfo=UTC)
    assert timing.next_fire_after(e, now) is None
    assert timing.next_fire_times(e, 3, now) == []
    assert timing.score(timing.next_due(e, now, now)) == -1


def test_cron_answer_is_the_same_anywhere_within_a_minute():
    e = cron("*/5 * * * *")
    for second in (0, 1, 59):
        after = datetime(2025, 5, 1, 10, 5, second, 999, tzinfo=UTC)
        assert timing.next_fire_after(e, after) == datetime(2025, 5, 1, 10, 10, tzinfo=UTC)
    just_before = datetime(2025, 5, 1, 10, 4, 59, 999999, tzinfo=UTC)
    assert timing.next_fire_after(e, just_before) == datetime(2025, 5, 1, 10, 5, tzinfo=UTC)


@settings(max_examples=80, deadline=None)
@given(
    freq=st.sampled_from(["weekly", "daily", "hourly", "minutely"]),
    interval=st.integers(1, 5),
    byweekday=st.none() | st.sets(st.integers(0, 6), min_size=1).map(lambda s: tuple(sorted(s))),
    byhour=st.none() | st.sets(st.integers(0, 23), min_size=1).map(lambda s: tuple(sorted(s))),
    start_minutes=st.integers(0, 365 * 24 * 60),
    ahead_minutes=st.integers(0, 40 * 24 * 60),
)
def test_rrule_fast_forward_matches_a_full_walk(
    freq, interval, byweekday, byhour, start_minutes, ahead_minutes
):
    """Skipping whole periods from dtstart must not change any later occurrence."""
    from dateutil import rrule as du

    dtstart = (datetime(2025, 1, 1, tzinfo=UTC) + timedelta(minutes=start_minutes)).astimezone(
        PARIS
    )
    rule = RRule(freq, interval=interval, dtstart=dtstart, byweekday=byweekday, byhour=byhour)
    after = dtstart.astimezone(UTC) + timedelta(minutes=ahead_minutes, seconds=7)
    got = timing.next_fire_after(entry(rule, "Europe/Paris"), after)
    try:
        full = du.rrule(
            ["weekly", "daily", "hourly", "minutely"].index(freq) + 2,
            dtstart=dtstart,
            interval=interval,
            byweekday=byweekday,
            byhour=byhour,
        ).after(after)
    except ValueError:  # by-rules that select nothing (e.g. every 2 h from 1:00, byhour 0)
        full = None
    assert (got and got.astimezone(UTC)) == (full and full.astimezone(UTC))


def test_minutely_rrule_started_long_ago_is_fast():
    rule = RRule("minutely", interval=7, dtstart=datetime(2015, 1, 1, tzinfo=UTC))
    e = entry(rule)
    after = datetime(2025, 6, 1, 12, 0, 30, tzinfo=UTC)
    got = timing.next_fire_after(e, after)
    # dateutil walks from the rule's dtstart: the rule it is given starts within two
    # periods of the question, not ten years of minutes before it (bench_scale times it).
    walked = str(timing._rrule_for(rule, UTC, after)).splitlines()[0]
    assert walked.startswith("DTSTART:"), walked
    walk_start = datetime.strptime(walked[len("DTSTART:") :], "%Y%m%dT%H%M%S")
    assert timedelta(0) <= after.replace(tzinfo=None) - walk_start <= timedelta(minutes=14)
    minutes = (got - datetime(2015, 1, 1, tzinfo=UTC)).total_seconds() / 60
    assert minutes % 7 == 0 and got > datetime(2025, 6, 1, 12, 0, 30, tzinfo=UTC)


def test_rrule_with_a_meant_fixed_offset_is_read_in_that_offset():
    """A RedBeat rule with dtstart 09:00+05:30 in a UTC beat fires at 09:00+05:30."""
    ist = timezone(timedelta(hours=5, minutes=30))
    rule = RRule("daily", dtstart=datetime(2025, 1, 1, 9, tzinfo=ist), byhour=(9,), byminute=(0,))
    got = timing.next_fire_after(entry(rule, "UTC"), datetime(2025, 7, 1, tzinfo=UTC))
    assert got == datetime(2025, 7, 1, 3, 30, tzinfo=UTC)
    assert got.tzinfo == ZoneInfo("UTC")  # expressed in the entry's zone


def test_rrule_offset_equal_to_the_zone_is_the_zone_dst_included():
    winter = timezone(timedelta(hours=1))  # Paris in January, as RedBeat stores it
    rule = RRule("daily", dtstart=datetime(2025, 1, 1, 9, tzinfo=winter), byhour=(9,))
    got = timing.next_fire_after(entry(rule, "Europe/Paris"), datetime(2025, 7, 1, tzinfo=UTC))
    assert local(got) == ("2025-07-01 09:00", "+0200")


def test_equal_rules_with_different_offsets_are_not_confused_by_caches():
    start = datetime(2025, 1, 1, 3, 30, tzinfo=UTC)
    in_utc = RRule("daily", dtstart=start, byhour=(9,))
    in_ist = RRule(
        "daily", dtstart=start.astimezone(timezone(timedelta(hours=5, minutes=30))), byhour=(9,)
    )
    assert in_utc == in_ist  # datetimes compare as instants...
    after = datetime(2025, 3, 1, tzinfo=UTC)
    first = timing.next_fire_after(entry(in_utc), after)
    second = timing.next_fire_after(entry(in_ist), after)
    assert (first.hour, second.hour) == (9, 3)  # ...but read by-hours in their own offset
    assert timing.next_fire_times(entry(in_ist), 1, after)[0].hour == 3


def test_an_interval_past_the_last_datetime_means_no_further_run() -> None:
    """A stored interval no file may hold (RedBeat stores any float): no OverflowError."""
    from redbeat_sync.schedule.timing import next_due, next_fire_after

    huge = Entry(name="huge", task="a.b", schedule=Every(1e15))
    now = datetime(2026, 1, 1, tzinfo=timezone.utc)
    assert next_due(huge, now - timedelta(seconds=1), now) is None
    assert next_fire_after(huge, now) is None

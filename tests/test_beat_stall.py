"""Beat never sleeps past the earliest score, whatever the clock did (issue 8, item 1).

The scheduler is driven with a controlled clock (``dispatch_once(now=...)``, whose
return value is the sleep beat would take) against a real Redis and a real Redis
broker queue: a "pause" (SIGSTOP, a long GC, an overloaded machine) is a jump of the
clock between two passes.  Nothing sleeps for real.

The stall this guards against: scores are whole seconds; a run for slot S claimed at
or after floor(S + interval) gets a new score that is already due, and beat used to
look only for scores *after* the pass started, so it slept ``beat_max_loop_interval``
(300 s) while holding the lock.
"""

from __future__ import annotations

import functools
import itertools
import logging
import math
from collections.abc import Callable
from datetime import datetime, timedelta, timezone

import pytest
import redis
from beat_app import TASK, MakeScheduler, queued
from celery.schedules import schedule
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from redbeat_sync import Scheduler, SchedulerEntry
from redbeat_sync.beat.scheduler import SLOT_HEADER
from redbeat_sync.state.layout import Layout

UTC = timezone.utc
LAYOUT = Layout()
#: Simulated passes never take time, so a send is exactly on time; this only absorbs
#: float rounding and the 1 ms a "go again at once" pass is given in the simulation.
SLACK = 0.05
MAX_LOOP = 300.0  # beat_max_loop_interval: the length of the old stall


@pytest.fixture
def make_beat(make_scheduler: MakeScheduler) -> Callable[..., Scheduler]:
    """A leading scheduler whose ``beat_max_loop_interval`` is the old stall's length."""
    return functools.partial(make_scheduler, beat_max_loop_interval=MAX_LOOP)


def add_every(beat: Scheduler, name: str, seconds: float, last_run_at: float) -> None:
    entry = SchedulerEntry(
        name, TASK, schedule(timedelta(seconds=seconds)), args=[name], app=beat.app
    )
    entry.last_run_at = datetime.fromtimestamp(last_run_at, UTC)
    entry.save()
    # save() scores from the real clock; this beat lives on the simulated one
    beat.client.zadd(LAYOUT.schedule_key, {entry.key: math.floor(last_run_at + seconds)})


def simulate(
    beat: Scheduler,
    broker: redis.Redis,
    start: float,
    end: float,
    pause: tuple[float, float] | None = None,
) -> list[tuple[float, str, float]]:
    """Run beat's loop on a simulated clock from ``start`` to ``end``: each pass at
    the time the previous one asked to wake, or at the pause's end if the process was
    frozen then.  Returns (sim time sent, entry name, slot) per task sent."""
    sent: list[tuple[float, str, float]] = []
    seen = len(queued(broker))
    t = start
    for _ in range(5000):
        if t >= end:
            return sent
        if pause is not None and pause[0] <= t < pause[1]:
            t = pause[1]  # frozen: the wake happens when the process runs again
        wait = beat.dispatch_once(datetime.fromtimestamp(t, UTC))
        messages = queued(broker)
        for message in messages[seen:]:
            slot = datetime.fromisoformat(message[SLOT_HEADER]).timestamp()
            sent.append((t, message["argsrepr"].strip("[]'\""), slot))
        seen = len(messages)
        t += max(wait, 0.001)
    raise AssertionError("beat never slept: 5000 passes")


def assert_timely(
    sends: list[tuple[float, str, float]],
    name: str,
    interval: float,
    first_fire: float,
    end: float,
    pause: tuple[float, float] | None,
) -> None:
    """Every slot is served as soon as the process can run: a slot fires at its time,
    or at the end of a pause that covered it; nothing is left waiting past that."""
    mine = [(at, slot) for at, who, slot in sends if who == name]
    resumed = pause[1] if pause else -math.inf
    stopped = pause[0] if pause else math.inf
    fire = first_fire
    index = 0
    while fire + SLACK < end:
        # when this slot can be sent at the earliest: its fire time, or the resume
        expected = max(fire, resumed) if stopped <= fire else fire
        covering = [(at, slot) for at, slot in mine[index:] if slot >= fire - 1e-6]
        assert covering, f"{name}: slot {fire:.3f} never sent (sends {mine}, pause {pause})"
        at, slot = covering[0]
        assert at <= expected + SLACK, (
            f"{name}: slot {fire:.3f} sent at {at:.3f}, due {expected:.3f} "
            f"({at - expected:.2f}s late; pause {pause}; sends {mine})"
        )
        index = mine.index((at, slot)) + 1
        fire = slot + interval  # the next slot after the one that ran


# --------------------------------------------------------------------------- (a)
PHASES = (0.05, 0.3, 0.6, 0.95)
#: Where the process is frozen and resumed, relative to the slot S = N + f it is
#: frozen 0.1 s before: every tenth of a second up to two intervals after, plus the
#: edges that matter (N + 1 and N + 1 + f, where the claimed score is already due).
RESUMES = sorted({round(x * 0.1, 2) for x in range(0, 22)})


@pytest.mark.parametrize("phase", PHASES)
def test_no_stall_for_any_pause_point_of_a_slot(make_beat, broker, phase: float) -> None:
    beat = make_beat()
    base = math.floor(datetime.now(UTC).timestamp()) - 1000
    for number, resume_offset in enumerate(
        sorted({*RESUMES, 1 - phase, 1 - phase + 0.001, 1.0, 1 - phase - 0.001})
    ):
        name = f"p{phase}-{number}"
        # slots at base + k + phase; a fresh entry per pause point, one beat for all
        origin = base + number * 100 + phase
        add_every(beat, name, 1.0, origin)
        slot = origin + 3
        pause = (slot - 0.1, slot + resume_offset)
        end = slot + 6
        sends = simulate(beat, broker, origin + 0.5, end, pause)
        assert_timely(sends, name, 1.0, origin + 1, end, pause)


def test_run_claimed_after_its_score_second_does_not_stall(make_beat, broker) -> None:
    """The issue's exact case: frozen 0.1 s before N + f, resumed between N + 1 and
    N + 1 + f.  The old code returned 300 s here (the run's new score N + 1 was not
    after the pass's start, and only waiting entries gave a sub-second wake)."""
    beat = make_beat()
    n = math.floor(datetime.now(UTC).timestamp()) - 500
    f = 0.6
    add_every(beat, "late-claim", 1.0, n - 1 + f)
    assert beat.dispatch_once(datetime.fromtimestamp(n + f - 0.1, UTC)) == pytest.approx(0.1)
    resumed = n + 1 + f / 2
    wait = beat.dispatch_once(datetime.fromtimestamp(resumed, UTC))
    assert [m[SLOT_HEADER] for m in queued(broker)] == [
        datetime.fromtimestamp(n + f, UTC).isoformat()
    ]
    assert wait == pytest.approx(n + 1 + f - resumed)  # wake exactly at the next slot
    beat.dispatch_once(datetime.fromtimestamp(resumed + wait, UTC))
    assert len(queued(broker)) == 2


# --------------------------------------------------------------------------- (b)
@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    phases=[Phase.explicit, Phase.reuse, Phase.generate],  # shrinking real Redis runs is slow
)
@given(
    intervals=st.lists(st.sampled_from([0.5, 1.0, 1.5, 2.0, 3.0, 7.5]), min_size=1, max_size=6),
    phases=st.lists(st.floats(0.0, 0.999), min_size=6, max_size=6),
    pause_at=st.floats(0.0, 3.0),
    pause_for=st.floats(0.0, 4.0),
    batch_size=st.integers(1, 4),
)
def test_property_next_run_within_interval_of_when_it_could_run(
    make_beat, broker, intervals, phases, pause_at, pause_for, batch_size
) -> None:
    beat = _BEAT.get(id(make_beat)) or _BEAT.setdefault(id(make_beat), make_beat())
    assert beat.dispatcher is not None
    beat.dispatcher.batch_size = batch_size
    example = next(_EXAMPLES)
    _clear_entries(beat)
    base = math.floor(datetime.now(UTC).timestamp()) - 100_000 + example * 100
    names = []
    for i, interval in enumerate(intervals):
        name = f"h{example}-{i}"
        add_every(beat, name, interval, base + phases[i])
        names.append((name, interval, base + phases[i] + interval))
    start = base + 0.5
    pause = (start + pause_at, start + pause_at + pause_for)
    end = pause[1] + 2 * max(intervals) + 1
    sends = simulate(beat, broker, start, end, pause)
    for name, interval, first_fire in names:
        assert_timely(sends, name, interval, first_fire, end, pause)
    # "the next run is sent within interval + slack": consecutive sends of an entry
    # are never further apart than its interval, except across the pause itself
    for name, interval, _ in names:
        times = [at for at, who, _slot in sends if who == name]
        for a, b in itertools.pairwise(times):
            if not (a <= pause[1] <= b):
                assert b - a <= interval + SLACK, (name, a, b, pause)


_EXAMPLES = itertools.count()
_BEAT: dict[int, Scheduler] = {}  # one leader for all examples (a second one would stand by)


def _clear_entries(beat: Scheduler) -> None:
    client = beat.client
    members = client.zrange(LAYOUT.schedule_key, 0, -1)
    if members:
        client.delete(*members)
        client.zrem(LAYOUT.schedule_key, *members)


# --------------------------------------------------------------------------- watchdog
def test_watchdog_reports_an_overdue_episode_once(make_beat, broker, caplog) -> None:
    beat = make_beat()
    t0 = math.floor(datetime.now(UTC).timestamp()) - 300 + 0.5
    add_every(beat, "watched", 1.0, t0 - 1)
    caplog.set_level(logging.INFO, logger="celery.beat")
    beat.dispatch_once(datetime.fromtimestamp(t0, UTC))  # term starts, on time
    assert beat.stall_episodes == 0
    caplog.clear()
    late = t0 + 10  # the earliest score (t0 + 1) overdue by ~8 s
    beat.dispatch_once(datetime.fromtimestamp(late, UTC))
    beat.dispatch_once(datetime.fromtimestamp(late + 4.6, UTC))  # same episode
    assert beat.stall_episodes == 1
    assert beat.last_overdue == pytest.approx(3.1, abs=0.01)
    warnings = [r for r in caplog.records if "overdue" in r.getMessage()]
    assert [r.levelno for r in warnings] == [logging.WARNING]
    beat.dispatch_once(datetime.fromtimestamp(late + 5, UTC))  # on time again: episode over
    beat.dispatch_once(datetime.fromtimestamp(late + 15, UTC))
    assert beat.stall_episodes == 2
    assert len(queued(broker)) == 5  # and each time it dispatched


def test_watchdog_ignores_what_was_missed_before_this_term(make_beat, broker) -> None:
    beat = make_beat()
    now = datetime.now(UTC).timestamp()
    add_every(beat, "old", 1.0, now - 3600)  # an hour without a leader
    beat.dispatch_once(datetime.fromtimestamp(now, UTC))
    assert beat.stall_episodes == 0
    assert len(queued(broker)) == 1


def test_watchdog_ignores_an_early_score_whose_entry_is_not_due(
    make_beat, broker, redis_url: str, caplog
) -> None:
    """celery-redbeat's own save() scores an entry early by the age of its last run:
    beat reads it, finds its run not due yet, and waits.  That is no stall (the
    watchdog used to warn "Runs overdue by ...s while leading" here)."""
    import redbeat.schedulers
    from celery import Celery

    beat = make_beat()
    now = datetime.now(UTC).timestamp()
    beat.dispatch_once(datetime.fromtimestamp(now, UTC))  # the term starts
    other = Celery("redbeat_app", set_as_current=False)
    other.conf.update(redbeat_redis_url=redis_url, timezone="UTC")
    other.redbeat_conf = redbeat.schedulers.RedBeatConfig(other)
    saved = redbeat.schedulers.RedBeatSchedulerEntry(
        "early", TASK, schedule(timedelta(seconds=60)), args=["early"], app=other,
        last_run_at=datetime.fromtimestamp(now - 50, UTC),
    )  # fmt: skip
    saved.save()
    score = beat.client.zscore(LAYOUT.schedule_key, saved.key)
    assert score < now - 30  # early: the run is due at now + 10
    caplog.set_level(logging.INFO, logger="celery.beat")
    beat.dispatch_once(datetime.fromtimestamp(now + 8, UTC))
    assert (beat.stall_episodes, beat.last_overdue) == (0, 0.0)
    assert not [r for r in caplog.records if "overdue" in r.getMessage()]
    assert queued(broker) == []  # nothing due yet
    beat.dispatch_once(datetime.fromtimestamp(now + 10.5, UTC))
    assert len(queued(broker)) == 1 and beat.stall_episodes == 0  # sent on time

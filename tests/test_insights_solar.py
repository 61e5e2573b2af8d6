"""Solar schedules: spec, dump, codec (stored inert), timing vs Celery's solar, beat."""

from __future__ import annotations

import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import celery
import pytest
from beat_app import leading
from celery import Celery
from celery.schedules import solar as celery_solar
from plan_helpers import spec, state

from redbeat_sync.beat.decide import decide
from redbeat_sync.errors import ProblemsFound
from redbeat_sync.fileformat.dump import dump_entries
from redbeat_sync.fileformat.loader import load_text
from redbeat_sync.plan.compare import compute_plan
from redbeat_sync.plan.render_text import render_text
from redbeat_sync.schedule import timing
from redbeat_sync.schedule.describe import describe_schedule
from redbeat_sync.schedule.entry import Entry, RunState, Solar, scheduler_only_features
from redbeat_sync.schedule.vocabulary import SOLAR_EVENTS
from redbeat_sync.state import codec

#: Celery is the oracle here, and before 5.7 a wrong one: its crontab.remaining_delta
#: jumps to the next hour one second before a */7 minute, and its astronomical dusk is
#: hours off.  redbeat-sync does not use either; the floors run (Celery 5.5) skips these.
CELERY_57 = pytest.mark.skipif(
    tuple(int(part) for part in celery.__version__.split(".")[:2]) < (5, 7),
    reason="Celery < 5.7 computes this wrongly itself",
)

UTC = timezone.utc
NOW = datetime(2026, 11, 24, 22, 0, tzinfo=UTC)
PARIS = (48.8566, 2.3522)

SOLAR_YAML = """version: 1
entries:
  lights-on:
    task: home.lights_on
    timezone: Europe/Paris
    schedule: {solar: {event: sunset, lat: 48.8566, lon: 2.3522}}
"""


def solar_entry(event: str = "sunset", lat: float = PARIS[0], lon: float = PARIS[1]) -> Entry:
    return Entry("lights-on", "home.lights_on", Solar(event, lat, lon), timezone="Europe/Paris")


def test_spec_loads_and_dumps_round_trip() -> None:
    (item,) = load_text(SOLAR_YAML).entries
    assert item.entry.schedule == Solar("sunset", *PARIS)
    text = dump_entries([item.entry])
    (again,) = load_text(text).entries
    assert again.entry.to_canonical() == item.entry.to_canonical()
    assert describe_schedule(item.entry.schedule) == "solar sunset at 48.8566, 2.3522"


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ("{event: moonrise, lat: 1, lon: 2}", "sunrise"),
        ("{event: sunset, lat: 91, lon: 2}", "lat"),
        ("{event: sunset, lat: 1, lon: -181}", "lon"),
        ("{event: sunset, lat: '1', lon: 2}", "lat"),
        ("{event: sunset, lat: 1}", "lon"),
    ],
)
def test_spec_rejects_bad_solar(body: str, needle: str) -> None:
    text = SOLAR_YAML.replace("{event: sunset, lat: 48.8566, lon: 2.3522}", body)
    with pytest.raises(ProblemsFound) as caught:
        load_text(text)
    assert needle in caught.value.format()


@CELERY_57
@pytest.mark.parametrize("event", SOLAR_EVENTS)
def test_next_times_match_celery_solar(event: str) -> None:
    app = Celery("solar-test", set_as_current=False)
    app.conf.timezone = "UTC"
    entry = solar_entry(event)
    cursor = NOW
    for found in timing.next_fire_times(entry, 3, NOW):
        theirs = celery_solar(event, *PARIS, app=app, nowfun=lambda at=cursor: at)
        expected = cursor + theirs.remaining_estimate(cursor)
        assert abs((found - expected).total_seconds()) < 1, (event, found, expected)
        cursor = found.astimezone(UTC)
    app.close()


def test_polar_night_skips_to_the_first_sunrise() -> None:
    svalbard = Entry("s", "t", Solar("sunrise", 78.22, 15.65))
    (first,) = timing.next_fire_times(svalbard, 1, NOW)
    assert first.month == 2  # no sunrise from late October to mid-February


def test_stored_inert_with_the_real_schedule_in_extra() -> None:
    entry = solar_entry()
    assert scheduler_only_features(entry, "Europe/Paris") == ["solar schedule"]
    encoded = codec.encode_entry(entry, beat_timezone="Europe/Paris")
    assert '"enabled": false' in encoded.definition  # RedBeat never fires it
    assert encoded.requires_scheduler == ("solar schedule",)
    decoded, marked = codec.decode_entry(
        entry.name, encoded.definition, encoded.extra, beat_timezone="Europe/Paris"
    )
    assert decoded == entry and marked


def test_bad_solar_in_extra_is_a_decode_error() -> None:
    encoded = codec.encode_entry(solar_entry())
    broken = (encoded.extra or "").replace('"sunset"', '"moonset"')
    with pytest.raises(codec.DecodeError):
        codec.decode_entry("lights-on", encoded.definition, broken)


def test_plan_lists_next_times_and_the_scheduler_requirement() -> None:
    plan = compute_plan(spec(solar_entry()), state(), now=NOW)
    text = render_text(plan)
    assert "solar sunset at 48.8566, 2.3522" in text
    assert "requires redbeat_sync.Scheduler: solar schedule" in text
    assert "next: 2026-11-25 17:00" in text  # sunset in Paris, CET


def test_beat_decide_fires_a_solar_entry() -> None:
    entry = solar_entry()
    (sunset,) = timing.next_fire_times(entry, 1, NOW)
    waiting = decide(entry, RunState(NOW), NOW + timedelta(hours=1))
    assert waiting.kind == "wait"
    assert waiting.fire_at is not None and abs(waiting.fire_at - sunset) < timedelta(seconds=1)
    fired = decide(entry, RunState(NOW), sunset + timedelta(seconds=1))
    assert fired.kind == "run" and fired.slot is not None
    assert abs(fired.slot - sunset) < timedelta(seconds=1)


_BLOCK_EPHEM = "import sys; sys.modules['ephem'] = None\n"


def test_missing_ephem_is_a_clear_problem(tmp_path: Path) -> None:
    file = tmp_path / "solar.yaml"
    file.write_text(SOLAR_YAML)
    script = (
        _BLOCK_EPHEM
        + "from redbeat_sync.cli import main\n"
        + f"main(['validate', {str(file)!r}])\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 1
    assert "solar schedules need the optional dependency: pip install 'redbeat-sync[solar]'" in (
        result.stderr
    )
    assert "Traceback" not in result.stderr


def test_missing_ephem_timing_gives_no_run_instead_of_crashing() -> None:
    script = (
        _BLOCK_EPHEM
        + "from datetime import datetime, timezone\n"
        + "from redbeat_sync.schedule import timing\n"
        + "from redbeat_sync.schedule.entry import Entry, Solar\n"
        + "e = Entry('x', 't', Solar('sunset', 48.0, 2.0))\n"
        + "print(timing.next_fire_times(e, 3, datetime(2026, 1, 1, tzinfo=timezone.utc)))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_celery_solar_in_beat_schedule_maps_to_solar() -> None:
    from redbeat_sync.fileformat.from_celery import schedule_from_celery

    app = Celery("solar-map", set_as_current=False)
    assert schedule_from_celery(celery_solar("dusk_civil", 10, 20, app=app)) == Solar(
        "dusk_civil", 10.0, 20.0
    )
    app.close()


def test_real_scheduler_sends_a_solar_entry_at_sunset(redis_url: str, redis_client) -> None:  # type: ignore[no-untyped-def]
    import redis
    from beat_app import broker_url_for, make_app, queued

    from redbeat_sync import Scheduler
    from redbeat_sync.beat.scheduler import SLOT_HEADER
    from redbeat_sync.state.layout import Layout
    from redbeat_sync.state.stored import Put
    from redbeat_sync.state.writer import write

    broker = redis.Redis.from_url(broker_url_for(redis_url), decode_responses=True)
    broker.flushdb()
    entry = Entry("lights-on", "tests.beat_app.record", Solar("sunset", *PARIS))
    write(redis_client, Layout(), [Put(entry, None)], now=NOW)
    (sunset,) = timing.next_fire_times(entry, 1, NOW)
    beat = Scheduler(make_app(redis_url, broker_url_for(redis_url)))
    try:
        beat.start()
        leading(beat)

        def sent() -> list[dict]:  # type: ignore[type-arg]
            return [m for m in queued(broker) if m["task"] == entry.task]

        beat.dispatch_once(sunset - timedelta(minutes=1))
        assert sent() == []
        beat.dispatch_once(sunset + timedelta(seconds=2))
        (message,) = sent()
        slot = datetime.fromisoformat(message[SLOT_HEADER])
        assert abs(slot - sunset) < timedelta(seconds=1)
    finally:
        beat.close()
        broker.close()

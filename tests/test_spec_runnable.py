"""Everything ``validate`` accepts, beat can run (issue 8 §4).

The reproductions from the issue are validation errors with a place and a reason;
Celery's options are checked by type; schedules that never fire are refused; and a
property test drives generated files through validate -> apply into a real Redis ->
celery-redbeat's own loader and a real ``redbeat_sync.Scheduler`` sending every due
run through Celery's ``apply_async`` to a real Redis broker.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import redis
import yaml
from apply_helpers import apply_files
from beat_app import broker_url_for, leading, make_app
from celery import Celery
from click.testing import CliRunner
from hypothesis import HealthCheck, Phase, assume, given, settings
from hypothesis import strategies as st
from redbeat.schedulers import RedBeatSchedulerEntry

from redbeat_sync import Scheduler
from redbeat_sync.cli import main
from redbeat_sync.errors import ProblemsFound
from redbeat_sync.fileformat.loader import Spec, load_text
from redbeat_sync.schedule.entry import Cron, Every, RRule
from redbeat_sync.state.layout import Layout

UTC = timezone.utc
PREFIX = "rs-run:"
BACKEND_CLEANUP = "celery.backend_cleanup"
LAYOUT = Layout(PREFIX)


def problems(text: str) -> list[str]:
    try:
        load_text(text, "s.yaml")
    except ProblemsFound as found:
        return [p.format() for p in found.problems]
    return []


def entry_problems(body: str) -> list[str]:
    return problems(f"version: 1\nentries:\n  e: {{task: a.b, {body}}}\n")


# --------------------------------------------------------------------------- the reproductions


REPRODUCTIONS = {
    "options: {expires: soon}": "options.expires: expected a number of seconds or an ISO 8601",
    'options: {expires: "2026-13-45"}': "options.expires: expected a number of seconds or an ISO",
    f"options: {{expires: {2**80}}}": "options.expires: expected at most 100 years",
    "jitter: 99999999999999999999d": "jitter: expected at most 100 years",
    "schedule: {every: 99999999999999999999d}": "every: expected at most 100 years",
    # Celery 5.7+ explains it itself; before, Celery accepts it and our check says why
    'schedule: {cron: "0 0 30 2 *"}': "cron: this cron",
}


@pytest.mark.parametrize(("body", "message"), list(REPRODUCTIONS.items()))
def test_issue_reproductions_are_validation_errors(tmp_path: Path, body: str, message: str) -> None:
    schedule = "" if "schedule:" in body else "schedule: {every: 5m}, "
    path = tmp_path / "beat.yaml"
    path.write_text(f"version: 1\nentries:\n  e: {{task: a.b, {schedule}{body}}}\n")
    result = CliRunner().invoke(main, ["validate", str(path)])
    assert result.exit_code == 1, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output
    assert f"{path}:3:" in result.output
    assert message in result.output


def test_every_and_jitter_at_the_bound_are_valid() -> None:
    assert entry_problems("schedule: {every: 36525d}, jitter: 36525d") == []


def test_an_interval_under_a_millisecond_is_refused() -> None:
    [problem] = entry_problems("schedule: {every: 0.0000001}")
    assert problem.endswith("expected a duration of at least 1 ms (0.001), got 1e-07")


def test_zero_and_negative_intervals_get_the_same_message() -> None:
    [zero] = entry_problems("schedule: {every: 0}")
    [negative] = entry_problems("schedule: {every: -5}")
    assert zero.endswith("expected a duration greater than zero, got 0")
    assert negative.endswith("expected a duration greater than zero, got -5")


# --------------------------------------------------------------------------- options


GOOD_OPTIONS = [
    "{queue: reports, routing_key: r.k, exchange: ex}",
    "{priority: 0}",
    "{priority: 255}",
    "{expires: 60}",
    "{expires: 2.5}",
    "{expires: 2030-01-01T00:00:00}",
    "{expires: 2030-01-01T00:00:00+02:00}",
    '{expires: "2030-01-01T00:00:00Z"}',
    "{expires: null, queue: null}",  # null cancels a value from defaults.options
    "{countdown: 0}",
    "{countdown: 30}",
    "{headers: {trace: on, n: 1}}",
    "{time_limit: 60, soft_time_limit: 50.5}",
    "{retry: false}",
    "{retry_policy: {max_retries: 3, interval_start: 0, interval_step: 0.2, interval_max: 1}}",
    "{retry_policy: {max_retries: null}}",
    "{serializer: json, compression: zlib}",
    "{my_app_option: {anything: [1, 2]}}",  # keys Celery does not define pass through
]

BAD_OPTIONS = {
    "{queue: 5}": "options.queue: expected text",
    "{routing_key: [a]}": "options.routing_key: expected text",
    "{priority: 256}": "options.priority: expected a whole number from 0 to 255",
    "{priority: -1}": "options.priority: expected a whole number from 0 to 255",
    "{priority: high}": "options.priority: expected a whole number from 0 to 255",
    "{priority: 1.5}": "options.priority: expected a whole number from 0 to 255",
    "{expires: -1}": "options.expires: expected a number of seconds of zero or more",
    "{expires: true}": "options.expires: expected a number of seconds or an ISO 8601",
    "{eta: 2030-01-01T00:00:00}": "options.eta: eta is one fixed instant",
    "{countdown: -5}": "options.countdown: expected a number of seconds of zero or more",
    "{countdown: 1e100}": "options.countdown: expected a number of seconds",
    "{countdown: 3155760001}": "options.countdown: expected at most 100 years",
    "{headers: x}": "options.headers: expected a mapping",
    "{time_limit: 0}": "options.time_limit: expected a number of seconds greater than zero",
    "{soft_time_limit: soon}": "options.soft_time_limit: expected a number of seconds",
    "{retry: maybe}": "options.retry: expected true or false",
    "{retry_policy: 3}": "options.retry_policy: expected a mapping",
    "{retry_policy: {tries: 3}}": "options.retry_policy: unknown retry_policy key 'tries'",
    "{retry_policy: {max_retries: -1}}": "max_retries: expected a whole number from 0",
    "{retry_policy: {interval_max: -1}}": "interval_max: expected a number of seconds of zero",
    "{serializer: nope}": "options.serializer: unknown serializer 'nope'; expected one of",
    "{compression: rar}": "options.compression: unknown compression 'rar'; expected one of",
}


@pytest.mark.parametrize("options", GOOD_OPTIONS)
def test_celery_options_accepted(options: str) -> None:
    assert entry_problems(f"schedule: {{every: 5m}}, options: {options}") == []


@pytest.mark.parametrize(("options", "message"), list(BAD_OPTIONS.items()))
def test_celery_options_refused_by_type(options: str, message: str) -> None:
    [problem] = entry_problems(f"schedule: {{every: 5m}}, options: {options}")
    assert message in problem


def test_options_in_defaults_are_checked_too() -> None:
    [problem] = problems(
        "version: 1\ndefaults: {options: {priority: 900}}\n"
        "entries:\n  e: {task: a.b, schedule: {every: 5m}}\n"
    )
    assert problem.startswith("s.yaml:2:") and "defaults.options.priority" in problem


def test_options_are_kept_as_written() -> None:
    """Checking must not change what Celery receives (1 stays 1, text stays text)."""
    [item] = load_text(
        "version: 1\nentries:\n  e: {task: a.b, schedule: {every: 5m}, options: "
        '{expires: 60, countdown: 1.5, queue: q, headers: {a: 1}, x: "2030-01-01"}}\n'
    ).entries
    assert item.entry.options == {
        "expires": 60,
        "countdown": 1.5,
        "queue": "q",
        "headers": {"a": 1},
        "x": "2030-01-01",
    }
    assert type(item.entry.options["expires"]) is int


# --------------------------------------------------------------------------- never fires


NEVER = {
    # "never fires" with Celery's reason (5.7+), else "would never fire" with ours
    'cron: "0 0 30 2 *"': "never fire",
    'cron: "0 0 31 4 *"': "never fire",
    'cron: "0 0 31 4,6,9,11 *"': "never fire",
    "rrule: {freq: yearly, bymonth: 2, bymonthday: 30}": "would never fire",
    "rrule: {freq: secondly, bymonth: 4, bymonthday: 31}": "would never fire",
    "rrule: {freq: yearly, interval: 4, bymonth: 2, bymonthday: 29, dtstart: 2001-01-01}": (
        "no date-time within 100 years of its dtstart"
    ),
    "rrule: {freq: hourly, interval: 2, byhour: 3, dtstart: 2030-01-01T00:00:00}": "never fire",
    "rrule: {freq: hourly, bysecond: [1, 2], bysetpos: 3}": "bysetpos: one hour of this rule",
    "rrule: {freq: yearly, interval: 101}": "at most every 100 periods (100 years)",
    "rrule: {freq: daily, count: 99999999999}": "at most 2147483647",
    "rrule: {freq: yearly, byeaster: 300}": "expected whole numbers from -80 to 249",
}


@pytest.mark.parametrize(("schedule", "message"), list(NEVER.items()))
def test_schedules_that_never_fire_are_refused(schedule: str, message: str) -> None:
    [problem] = entry_problems(f"schedule: {{{schedule}}}")
    assert message in problem


@pytest.mark.parametrize(
    "schedule",
    [
        'cron: "0 0 29 2 *"',  # leap years only
        'cron: "0 0 31 * *"',
        'cron: "0 0 31 4,5 *"',
        "rrule: {freq: yearly, bymonth: 2, bymonthday: 29}",
        "rrule: {freq: monthly, bymonthday: -1, bysetpos: -1}",
        "rrule: {freq: monthly, byweekday: [mo, tu, we, th, fr], bysetpos: -1}",
        "rrule: {freq: weekly, byweekday: mo, until: 2020-02-01, dtstart: 2020-01-01}",
        "rrule: {freq: yearly, byeaster: [-80, 0, 249]}",
    ],
)
def test_rare_but_real_schedules_stay_valid(schedule: str) -> None:
    assert entry_problems(f"schedule: {{{schedule}}}") == []


def test_a_rule_that_can_never_fire_is_refused() -> None:
    """dateutil alone walks ~10 s to year 9999 before saying "no occurrence"; how long
    the refusal takes is measured in bench/bench_scale.py."""
    found = entry_problems("schedule: {rrule: {freq: secondly, bymonth: 2, bymonthday: 30}}")
    assert any("would never fire" in problem for problem in found), found


# --------------------------------------------------------------------------- property


ZONES = ["UTC", "Europe/Paris", "America/New_York", "Asia/Kolkata", "Australia/Lord_Howe"]
MOMENTS = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2200, 1, 1)).map(
    lambda d: d.replace(microsecond=0).isoformat()
)
# Mostly plausible values, and one branch in four at or past an edge: the test is
# about the boundary between what validate accepts and what beat can run.
EDGES = [-1, 0, 1e-7, 0.0009, 0.001, 3_155_760_000, 3_155_760_001, 2**80, 1e300]
NUMBERS = st.one_of(
    st.integers(1, 255),
    st.integers(0, 10**6),
    st.floats(0.001, 1e6, allow_nan=False),
    st.sampled_from(EDGES),
)
DURATIONS = st.one_of(
    NUMBERS, st.sampled_from(["1s", "30s", "5m", "1h30m", "1d", "36525d", "36526d", "0s"])
)
CRON_FIELDS = [
    st.sampled_from(["*", "0", "*/15", "5,35", "0-10/5", "59"]),
    st.sampled_from(["*", "0", "3", "*/6", "9-17", "23"]),
    st.sampled_from(["*", "1", "15", "28", "29", "30", "31", "1-7", "*/10"]),
    st.sampled_from(["*", "1", "2", "4", "jan,jul", "2-3", "*/3", "11"]),
    st.sampled_from(["*", "mon", "mon-fri", "0", "6", "sat,sun"]),
]
CRONS = st.tuples(*CRON_FIELDS).map(" ".join)
BY = st.one_of(st.integers(-400, 400), st.lists(st.integers(-400, 400), min_size=1, max_size=3))
RRULES = st.fixed_dictionaries(
    {"freq": st.sampled_from(["yearly", "monthly", "weekly", "daily", "hourly", "minutely"])},
    optional={
        "interval": st.integers(1, 500),
        "dtstart": MOMENTS,
        "count": st.integers(1, 10),
        "bymonth": BY,
        "bymonthday": BY,
        "byweekday": st.sampled_from(["mo", ["tu", "fr"], "su"]),
        "byhour": BY,
        "byminute": BY,
        "bysetpos": BY,
        "byeaster": BY,
    },
)
SCHEDULES = st.one_of(
    CRONS.map(lambda c: {"cron": c}),
    DURATIONS.map(lambda d: {"every": d}),
    st.builds(lambda d, r: {"every": d, "relative": r}, DURATIONS, st.booleans()),
    RRULES.map(lambda r: {"rrule": r}),
    MOMENTS.map(lambda m: {"at": m}),
)
OPTION_VALUES = st.one_of(
    NUMBERS,
    NUMBERS,
    MOMENTS,
    st.sampled_from(["soon", "2026-13-45", "q", "json", "zlib", "nope", True, False, None]),
    st.dictionaries(st.sampled_from(["a", "max_retries", "interval_max"]), NUMBERS, max_size=2),
)
OPTION_NAMES = [
    "queue", "routing_key", "exchange", "priority", "expires", "countdown", "headers",
    "time_limit", "soft_time_limit", "retry", "retry_policy", "serializer", "compression",
    "my_option",
]  # fmt: skip
OPTIONS = st.dictionaries(st.sampled_from(OPTION_NAMES), OPTION_VALUES, max_size=4)
ENTRIES = st.fixed_dictionaries(
    {"task": st.just("tests.runnable.task"), "schedule": SCHEDULES},
    optional={
        "args": st.lists(st.one_of(st.integers(), st.text(max_size=5)), max_size=2),
        "kwargs": st.dictionaries(st.sampled_from(["a", "b"]), st.integers(), max_size=2),
        "options": OPTIONS,
        "timezone": st.sampled_from(ZONES),
        "jitter": DURATIONS,
        "misfire": st.sampled_from(["catch_up", "skip"]),
        "start_at": MOMENTS,
        "end_at": MOMENTS,
        "enabled": st.booleans(),
    },
)
FILES = st.dictionaries(
    st.from_regex(r"[a-z][a-z0-9-]{0,8}", fullmatch=True), ENTRIES, min_size=1, max_size=3
).map(lambda entries: {"version": 1, "entries": entries})


class RecordingScheduler(Scheduler):
    """The real scheduler; what reached ``apply_async`` and how it ended is noted."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.sent: list[str] = []
        self.failed: list[tuple[str, BaseException]] = []

    def apply_async(self, entry: Any, producer: Any = None, advance: bool = True, **kw: Any) -> Any:
        try:
            result = super().apply_async(entry, producer=producer, advance=advance, **kw)
        except BaseException as exc:
            self.failed.append((entry.name, exc))
            raise
        self.sent.append(entry.name)
        return result


class ErrorLog(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def runtime(redis_url: str) -> Iterator[tuple[redis.Redis, str]]:
    client = redis.Redis.from_url(redis_url)
    yield client, redis_url
    client.close()


def valid_spec(document: dict[str, Any]) -> Spec | None:
    try:
        return load_text(yaml.safe_dump(document), "generated.yaml")
    except ProblemsFound:
        return None


def redbeat_loads(app: Celery, spec: Spec) -> None:
    """celery-redbeat's own loader reads every entry it can express, and can run it."""
    for item in spec.entries:
        entry = item.entry
        if not isinstance(entry.schedule, (Cron, Every, RRule)):
            continue  # at/solar: RedBeat has no such schedule (the plan says so)
        loaded = RedBeatSchedulerEntry.from_key(PREFIX + entry.name, app=app)
        loaded.is_due()  # what RedBeat's tick asks of each entry


@settings(
    max_examples=25,
    deadline=None,
    # Each example runs a real scheduler: shrinking a failure took minutes, and the
    # unshrunk example (printed) already shows the problem.
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
    ],
)
@given(FILES, st.sampled_from([timedelta(seconds=1), timedelta(days=2), timedelta(days=400)]))
def test_what_validate_accepts_beat_sends(
    runtime: tuple[redis.Redis, str], document: dict[str, Any], ahead: timedelta
) -> None:
    spec = valid_spec(document)
    assume(spec is not None)
    assert spec is not None
    client, redis_url = runtime
    client.flushdb()
    broker = redis.Redis.from_url(broker_url_for(redis_url, db=2))
    broker.flushdb()
    apply_files(client, LAYOUT, spec, allow_mass_delete=True, who="property-test")

    app = make_app(redis_url, broker_url_for(redis_url, db=2), redbeat_key_prefix=PREFIX)
    redbeat_loads(app, spec)
    errors = ErrorLog()
    logging.getLogger().addHandler(errors)
    beat = RecordingScheduler(app)
    try:
        beat.start()
        leading(beat)
        now = datetime.now(UTC) + ahead
        for _ in range(3):  # a full batch asks for another pass at once
            if beat.dispatch_once(now) > 0:
                break
    finally:
        beat.close()
        logging.getLogger().removeHandler(errors)
        broker.close()
        app.close()
    assert beat.failed == []
    assert [r.getMessage() for r in errors.records] == []
    # Celery's own static backend_cleanup is sent too (issue 8 §5c: left alone).
    assert set(beat.sent) <= {item.entry.name for item in spec.entries} | {BACKEND_CLEANUP}
    # Entries that were due a moment ago were really sent: the property is not empty.
    for item in spec.entries:
        entry = item.entry
        if (
            entry.enabled
            and isinstance(entry.schedule, Every)
            and entry.misfire == "catch_up"
            and entry.schedule.seconds + entry.jitter < ahead.total_seconds()
            and not entry.start_at
            and not entry.end_at
        ):
            assert entry.name in beat.sent


# --------------------------------------------------------------------------- small promises


def test_a_text_of_digits_is_not_an_epoch() -> None:
    [problem] = entry_problems('schedule: {at: "1700000000"}')
    assert "schedule.at: expected an ISO 8601 date-time" in problem


@pytest.mark.parametrize(
    ("zone", "suggestion"),
    [
        ("Europe/Pariss", "Europe/Paris"),
        ("europe/paris", "Europe/Paris"),
        ("Paris", "Europe/Paris"),
    ],
)
def test_unknown_zone_gets_a_did_you_mean(zone: str, suggestion: str) -> None:
    [problem] = entry_problems(f"schedule: {{every: 5m}}, timezone: {zone}")
    assert f"unknown time zone '{zone}'; did you mean '{suggestion}'?" in problem


def test_no_guess_for_offset_like_zones() -> None:
    """Etc/GMT+2 is UTC-2: suggesting it for "GMT+2" would mislead."""
    [problem] = entry_problems("schedule: {every: 5m}, timezone: GMT+2")
    assert "did you mean" not in problem


def test_null_cancels_an_option_from_defaults() -> None:
    [item] = load_text(
        "version: 1\ndefaults: {options: {expires: 60, queue: q}}\n"
        "entries:\n  e: {task: a.b, schedule: {every: 5m}, options: {expires: null}}\n"
    ).entries
    assert item.entry.options == {"expires": None, "queue": "q"}

"""Export format, and the round trip: load(dump(entry)) has the same canonical form."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from redbeat_sync.fileformat.dump import dump_entries
from redbeat_sync.fileformat.loader import load_text
from redbeat_sync.fileformat.options import OptionsModel
from redbeat_sync.schedule import timing
from redbeat_sync.schedule.entry import At, Cron, Entry, Every, RRule
from redbeat_sync.schedule.vocabulary import RRULE_FREQUENCIES


def round_trip(entries: list[Entry]) -> list[Entry]:
    return [item.entry for item in load_text(dump_entries(entries)).entries]


def test_dump_writes_only_what_differs_from_defaults() -> None:
    text = dump_entries(
        [
            Entry("b", "ops.tasks.ping", Every(30.0)),
            Entry(
                "a report: été",
                "reports.tasks.nightly",
                Cron.from_expression("0 3 * * mon-fri"),
                args=[1, "a"],
                options={"queue": "reports", "expires": datetime(2030, 1, 1, tzinfo=timezone.utc)},
                timezone="Europe/Paris",
                jitter=5400,
                misfire="deadline",
                deadline=600,
                enabled=False,
            ),
        ],
        schema_ref="../schemas/redbeat-sync.schema.json",
    )
    assert text == (
        "# yaml-language-server: $schema=../schemas/redbeat-sync.schema.json\n"
        "version: 1\n"
        "entries:\n"
        '  "a report: été":\n'
        "    task: reports.tasks.nightly\n"
        '    schedule: {cron: "0 3 * * mon-fri"}\n'
        "    args: [1, a]\n"
        "    options:\n"
        "      queue: reports\n"
        "      expires: 2030-01-01T00:00:00+00:00\n"
        "    enabled: false\n"
        "    timezone: Europe/Paris\n"
        "    jitter: 1h30m\n"
        "    misfire: deadline\n"
        "    deadline: 10m\n"
        "  b:\n"
        "    task: ops.tasks.ping\n"
        "    schedule: {every: 30s}\n"
    )


def test_dump_without_header_and_empty() -> None:
    assert dump_entries([]) == "version: 1\nentries: {}\n"
    assert load_text(dump_entries([])).entries == []


def test_rrule_and_at_round_trip() -> None:
    paris = ZoneInfo("Europe/Paris")
    entries = [
        Entry(
            "r",
            "a.b",
            RRule(
                "monthly",
                interval=2,
                dtstart=datetime(2025, 1, 1, 9, tzinfo=paris),
                count=4,
                wkst=6,
                byweekday=(0, 4),
                bysetpos=(-1,),
            ),
        ),
        # An offset with seconds (Paris before 1911) cannot be a YAML timestamp: UTC it is.
        Entry("old", "a.b", At(datetime(1900, 1, 1, tzinfo=paris))),
    ]
    back = round_trip(entries)
    assert [e.to_canonical() for e in back] == [e.to_canonical() for e in reversed(entries)]


# --------------------------------------------------------------------------- hypothesis

ZONES = ["UTC", "Europe/Paris", "America/New_York", "Asia/Kolkata", "Australia/Lord_Howe"]
TZINFOS = st.sampled_from(
    [timezone.utc, timezone(timedelta(hours=5, minutes=30)), timezone(timedelta(hours=-7))]
    + [ZoneInfo(z) for z in ZONES]
)
AWARE = st.datetimes(
    min_value=datetime(1970, 1, 2), max_value=datetime(2100, 1, 1), timezones=TZINFOS
)
NAME_CHARS = st.characters(blacklist_categories=("Cc", "Cs"), blacklist_characters="\u2028\u2029")
NAMES = st.text(NAME_CHARS, min_size=1, max_size=30).filter(lambda n: not n.startswith(":"))
IDENT = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,8}", fullmatch=True)
TASKS = st.lists(IDENT, min_size=1, max_size=4).map(".".join)
TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=20)
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False, allow_infinity=False),
    TEXT,
    AWARE,
)
JSON = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXT, inner, max_size=3),
    max_leaves=8,
)
# Celery's own option names are checked by type (tests/test_spec_options.py).
OPTION_NAMES = TEXT.filter(lambda k: k not in OptionsModel.model_fields)
CRONS = st.sampled_from(
    ["0 3 * * mon-fri", "*/5 * * * *", "0 0 1 jan,jul *", "15,45 9-17 * * 1-5", "0 12 */2 * SUN"]
)
DURATIONS = st.one_of(st.integers(1, 10**7).map(float), st.floats(0.001, 1e7, allow_nan=False))


def by(low: int, high: int, zero: bool = True) -> Any:
    values = st.integers(low, high).filter(lambda v: zero or v != 0)
    return st.none() | st.lists(values, min_size=1, max_size=4).map(lambda v: tuple(sorted(set(v))))


@st.composite
def rrules(draw: Any) -> RRule:
    dtstart = draw(st.none() | AWARE)
    until = draw(st.none() | AWARE)
    if dtstart and until and until < dtstart:
        dtstart, until = until, dtstart
    count = None if until else draw(st.none() | st.integers(1, 1000))
    # A few by-parts at a time: piling up all ten mostly gives rules that never fire,
    # which the loader refuses (tests/test_spec_runnable.py covers those).
    parts = draw(st.sets(st.sampled_from(RRule.BY_FIELDS), max_size=3))
    rule = RRule(
        freq=draw(st.sampled_from(RRULE_FREQUENCIES)),
        interval=draw(st.integers(1, 100)),
        dtstart=dtstart,
        until=until,
        count=count,
        wkst=draw(st.none() | st.integers(0, 6)),
        bysetpos=draw(by(-1, 1, zero=False)),  # the first/last always exist
        bymonth=draw(by(1, 12)),
        bymonthday=draw(by(-31, 31, zero=False)),
        byyearday=draw(by(-366, 366, zero=False)),
        byeaster=draw(by(-80, 249)),
        byweekno=draw(by(-53, 53, zero=False)),
        byweekday=draw(by(0, 6)),
        byhour=draw(by(0, 23)),
        byminute=draw(by(0, 59)),
        bysecond=draw(by(0, 59)),
    )
    rule = replace(rule, **{f: None for f in RRule.BY_FIELDS if f not in parts})
    # From where validate looks (dtstart, else now): a rule with a long interval can fire
    # from one start and never from another, and validate refuses what never fires.
    start = rule.dtstart or datetime.now(timezone.utc)
    assume(timing.rrule_first_between(rule, "UTC", start, start + timedelta(days=36525)))
    return rule


SCHEDULES = st.one_of(
    CRONS.map(Cron.from_expression),
    st.builds(Every, DURATIONS, st.booleans()),
    rrules(),
    AWARE.map(At),
)


@st.composite
def entries(draw: Any) -> Entry:
    start_at = draw(st.none() | AWARE)
    end_at = draw(st.none() | AWARE)
    # Compare instants: datetimes sharing a zone compare by wall clock, ignoring fold.
    if start_at and end_at and end_at.timestamp() <= start_at.timestamp():
        end_at = datetime.fromtimestamp(start_at.timestamp() + 1, timezone.utc)
    misfire = draw(st.sampled_from(["catch_up", "skip", "deadline"]))
    return Entry(
        name=draw(NAMES),
        task=draw(TASKS),
        schedule=draw(SCHEDULES),
        args=draw(st.lists(JSON, max_size=3)),
        kwargs=draw(st.dictionaries(TEXT, JSON, max_size=3)),
        options=draw(st.dictionaries(OPTION_NAMES, JSON, max_size=3)),
        enabled=draw(st.booleans()),
        timezone=draw(st.sampled_from(ZONES)),
        description=draw(st.none() | TEXT),
        labels=draw(st.dictionaries(TEXT, TEXT, max_size=3)),
        start_at=start_at,
        end_at=end_at,
        jitter=draw(st.just(0.0) | DURATIONS),
        misfire=misfire,
        deadline=draw(DURATIONS) if misfire == "deadline" else None,
    )


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(entries())
def test_round_trip_of_any_entry(entry: Entry) -> None:
    [back] = round_trip([entry])
    assert back.to_canonical() == entry.to_canonical()


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(entries(), max_size=6, unique_by=lambda e: e.name))
def test_round_trip_of_many_entries_sorted_by_name(many: list[Entry]) -> None:
    back = round_trip(many)
    expected = sorted(many, key=lambda e: e.name)
    assert [e.to_canonical() for e in back] == [e.to_canonical() for e in expected]


TRICKY_TEXT = [
    "a\n\nb\n", "  lead", "\u2028x", "x\x85y", "trail  ", "\n", "\n\n", "a\n  b\n\n\n c",
    "\t\tx\n\ty", "#x", " # y", "- a", "key: v", "\ufeffbom", "é\u2029\n\u2028", "\x00\x07",
    "\r\n", "a\rb", "\\\\x", "*/5 * * * *", "<<", "yes", "0o17", "1:30", "2024-01-01",
    "a" * 300 + " " + "b" * 300, " ".join(["word"] * 80) + "\n" + " ".join(["w"] * 90),
]  # fmt: skip


def test_tricky_strings_round_trip() -> None:
    entries = [
        Entry(f"n{i:02}", "a.b", Every(1.0), args=[t], kwargs={t: t}, description=t, labels={t: t})
        for i, t in enumerate(TRICKY_TEXT)
    ]
    assert [e.to_canonical() for e in round_trip(entries)] == [e.to_canonical() for e in entries]

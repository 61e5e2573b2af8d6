"""RedBeat JSON <-> Entry: round trips, RedBeat's variants, inert entries, garbage."""

from __future__ import annotations

import contextlib
import json
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from redbeat_sync.schedule.entry import At, Cron, Entry, Every, RRule, RunState
from redbeat_sync.state import codec
from redbeat_sync.state.codec import DecodeError, decode_entry, encode_entry

UTC = timezone.utc
PARIS = ZoneInfo("Europe/Paris")

ROUND_TRIP = [
    Entry(name="every", task="app.tasks.ping", schedule=Every(90.0)),
    Entry(name="relative", task="t", schedule=Every(0.5, relative=True), args=[1, "x"]),
    Entry(
        name="cron-full",
        task="t",
        schedule=Cron("*/5", "8-18", "1,15", "*", "mon-fri"),
        kwargs={"a": {"b": [1, 2]}},
        options={"queue": "q", "expires": datetime(2025, 1, 2, 3, 4, 5, 6, tzinfo=PARIS)},
        description="five-minutely",
        labels={"team": "data"},
        jitter=3.5,
        misfire="deadline",
        deadline=60.0,
    ),
    Entry(
        name="rrule",
        task="t",
        schedule=RRule(
            "monthly",
            interval=2,
            dtstart=datetime(2025, 1, 1, 9, tzinfo=PARIS),
            until=datetime(2026, 1, 1, tzinfo=UTC),
            wkst=0,
            bysetpos=(-1,),
            byweekday=(0, 4),
            byhour=(9, 17),
            byminute=(0,),
        ),
        timezone="Europe/Paris",
    ),
    Entry(name="rrule-count", task="t", schedule=RRule("secondly", count=3, bysecond=(0, 30))),
    Entry(name="disabled", task="t", schedule=Every(10.0), enabled=False),
    # not RedBeat-expressible: stored inert, real schedule in the extra field
    Entry(name="at", task="t", schedule=At(datetime(2030, 5, 1, 12, tzinfo=UTC))),
    Entry(
        name="cron-zone",
        task="t",
        schedule=Cron.from_expression("0 9 * * *"),
        timezone="Europe/Paris",
    ),
    Entry(
        name="window",
        task="t",
        schedule=Every(60.0),
        start_at=datetime(2025, 1, 1, tzinfo=UTC),
        end_at=datetime(2026, 1, 1, tzinfo=UTC),
        enabled=False,
    ),
]


@pytest.mark.parametrize("entry", ROUND_TRIP, ids=lambda e: e.name)
def test_round_trip(entry: Entry):
    encoded = encode_entry(entry)
    decoded, marked = decode_entry(entry.name, encoded.definition, encoded.extra)
    assert marked
    assert decoded.to_canonical() == entry.to_canonical()
    assert decoded == entry
    definition = json.loads(encoded.definition)
    assert list(definition) == ["name", "task", "args", "kwargs", "options", "schedule", "enabled"]


@pytest.mark.parametrize("name", ["at", "cron-zone", "window"])
def test_scheduler_only_entries_are_inert_for_redbeat(name: str):
    entry = next(e for e in ROUND_TRIP if e.name == name)
    encoded = encode_entry(entry)
    assert encoded.requires_scheduler
    definition = json.loads(encoded.definition)
    assert definition["enabled"] is False
    assert definition["schedule"]["__type__"] in {"interval", "crontab"}
    extra = json.loads(encoded.extra)
    assert extra["enabled"] is entry.enabled
    assert extra["schedule"] == entry.schedule.to_canonical()


def test_redbeat_expressible_entry_has_no_overrides_in_extra():
    encoded = encode_entry(ROUND_TRIP[0])
    extra = json.loads(encoded.extra)
    assert "schedule" not in extra and "enabled" not in extra
    assert extra["v"] == 1 and extra["managed"] is True
    assert extra["definition_sha1"] == codec.sha1(encoded.definition)
    assert encoded.requires_scheduler == ()


def test_cron_in_beat_zone_is_plain_redbeat():
    entry = Entry(
        name="c", task="t", schedule=Cron.from_expression("0 9 * * *"), timezone="Europe/Paris"
    )
    encoded = encode_entry(entry, beat_timezone="Europe/Paris")
    assert json.loads(encoded.definition)["enabled"] is True
    assert encoded.requires_scheduler == ()


def test_unmanaged_plain_entry_has_no_extra_field():
    encoded = encode_entry(ROUND_TRIP[0], managed=False)
    assert encoded.extra is None
    decoded, marked = decode_entry("every", encoded.definition, None)
    assert decoded == ROUND_TRIP[0] and not marked
    at = encode_entry(ROUND_TRIP[6], managed=False)  # must keep its real schedule
    assert json.loads(at.extra)["managed"] is False
    assert decode_entry("at", at.definition, at.extra) == (ROUND_TRIP[6], False)


def test_resaved_definition_wins_over_extra_overrides_but_keeps_zone_and_labels():
    entry = Entry(
        name="c",
        task="t",
        schedule=Cron.from_expression("0 9 * * *"),
        timezone="Europe/Paris",
        labels={"k": "v"},
    )
    encoded = encode_entry(entry)
    # someone re-saved it through RedBeat with another schedule and enabled it
    definition = json.loads(encoded.definition)
    definition["schedule"]["hour"] = "10"
    definition["enabled"] = True
    decoded, marked = decode_entry("c", json.dumps(definition), encoded.extra)
    assert decoded.schedule == Cron.from_expression("0 10 * * *")
    assert decoded.enabled is True
    assert (decoded.timezone, decoded.labels, marked) == ("Europe/Paris", {"k": "v"}, True)


# --------------------------------------------------------------------------- RedBeat's variants


def definition(schedule, **overrides) -> str:
    body = {"name": "n", "task": "t", "args": None, "kwargs": None, "options": None}
    body.update(schedule=schedule, enabled=True)
    body.update(overrides)
    return json.dumps(body)


def test_redbeat_nulls_and_beat_zone():
    raw = definition({"__type__": "interval", "every": 5, "relative": False})
    entry, marked = decode_entry("n", raw, None, beat_timezone="Asia/Tokyo")
    assert (entry.args, entry.kwargs, entry.options) == ([], {}, {})
    assert entry.timezone == "Asia/Tokyo" and entry.description is None and entry.labels == {}
    assert entry.schedule == Every(5.0) and not marked


def test_crontab_ints_become_strings():
    raw = definition(
        {
            "__type__": "crontab",
            "minute": 0,
            "hour": [8, 20],
            "day_of_week": "mon",
            "day_of_month": "*",
            "month_of_year": 1,
        }
    )
    assert decode_entry("n", raw, None)[0].schedule == Cron("0", "8,20", "*", "1", "mon")


def test_rrule_variants():
    raw = definition(
        {
            "__type__": "rrule",
            "freq": "WEEKLY",
            "interval": None,
            "wkst": {"__type__": "weekday", "wkday": 6},
            "count": None,
            "byweekday": {"__type__": "weekday", "wkday": 2},
            "byhour": 9,
            "dtstart": 1735722000,
            "dtstart_tz": 60.0,
            "until": 1767258000,
            "until_tz": -300.0,
        }
    )
    rule = decode_entry("n", raw, None)[0].schedule
    assert rule == RRule(
        "weekly",
        dtstart=datetime(2025, 1, 1, 10, tzinfo=timezone(timedelta(hours=1))),
        until=datetime(2026, 1, 1, 9, tzinfo=UTC),
        wkst=6,
        byweekday=(2,),
        byhour=(9,),
    )
    assert rule.dtstart.utcoffset() == timedelta(hours=1)
    assert rule.until.utcoffset() == timedelta(hours=-5)
    ints = definition({"__type__": "rrule", "freq": 3, "byweekday": [4, 0, 4]})
    assert decode_entry("n", ints, None)[0].schedule == RRule("daily", byweekday=(0, 4))


def test_datetimes_in_options_and_args_become_aware():
    def dt(zone):
        return {"__type__": "datetime", "year": 2025, "month": 7, "day": 1, "hour": 12}, zone

    naive, _ = dt("UTC")
    naive["timezone"] = "UTC"
    named = {**naive, "timezone": "Europe/Paris"}
    offset = {**naive, "timezone": 19800.0}
    raw = definition(
        {"__type__": "interval", "every": 5, "relative": False},
        options={"expires": named, "eta": offset},
        args=[naive],
    )
    entry = decode_entry("n", raw, None)[0]
    assert entry.args == [datetime(2025, 7, 1, 12, tzinfo=UTC)]
    assert entry.options["expires"] == datetime(2025, 7, 1, 10, tzinfo=UTC)
    assert entry.options["expires"].tzinfo == PARIS
    assert entry.options["eta"] == datetime(2025, 7, 1, 6, 30, tzinfo=UTC)


def test_datetime_encoding_zones():
    assert codec.encode_datetime(datetime(2025, 1, 1))["timezone"] == "UTC"
    assert codec.encode_datetime(datetime(2025, 1, 1, tzinfo=UTC))["timezone"] == "UTC"
    assert codec.encode_datetime(datetime(2025, 1, 1, tzinfo=PARIS))["timezone"] == "Europe/Paris"
    fixed = datetime(2025, 1, 1, tzinfo=timezone(timedelta(hours=-3)))
    assert codec.encode_datetime(fixed)["timezone"] == -10800.0


def test_disabled_and_missing_enabled():
    raw = json.loads(definition({"__type__": "interval", "every": 5, "relative": False}))
    raw["enabled"] = False
    assert decode_entry("n", json.dumps(raw), None)[0].enabled is False
    del raw["enabled"]
    assert decode_entry("n", json.dumps(raw), None)[0].enabled is True


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("{not json", "not valid JSON"),
        ("[1]", "not a JSON object"),
        (definition({"__type__": "solar", "event": "dawn"}), "unknown schedule type 'solar'"),
        (definition({"every": 5}), "not a typed object"),
        (definition({"__type__": "interval", "every": -1, "relative": False}), "every"),
        (definition({"__type__": "rrule", "freq": 9}), "freq"),
        (definition({"__type__": "interval", "every": 5}, name="other"), "'other'"),
        (definition({"__type__": "interval", "every": 5}, task=None), "task"),
        (definition({"__type__": "interval", "every": 5}, args={"a": 1}), "args"),
    ],
)
def test_garbage_raises_decode_error(raw: str, message: str):
    with pytest.raises(DecodeError, match=message):
        decode_entry("n", raw, None)


def test_bad_extra_field_raises_decode_error():
    raw = definition({"__type__": "interval", "every": 5, "relative": False})
    with pytest.raises(DecodeError, match="redbeat_sync field"):
        decode_entry("n", raw, "{")
    with pytest.raises(DecodeError, match="version"):
        decode_entry("n", raw, '{"v": 99}')


# --------------------------------------------------------------------------- meta


def test_meta_round_trip_and_missing():
    run = RunState(datetime(2025, 3, 4, 5, 6, 7, 8000, tzinfo=PARIS), 42)
    assert codec.decode_meta(codec.encode_meta(run)) == run
    assert codec.decode_meta(None) == RunState(None, 0)
    assert codec.decode_meta("") == RunState(None, 0)
    created = json.dumps({"last_run_at": codec.encode_datetime(datetime(2025, 1, 1, tzinfo=UTC))})
    assert codec.decode_meta(created) == RunState(datetime(2025, 1, 1, tzinfo=UTC), 0)
    with pytest.raises(DecodeError):
        codec.decode_meta('{"last_run_at": 5}')


@pytest.mark.parametrize(
    ("patch", "message"),
    [
        ({"timezone": "Mars/Olympus"}, "unknown time zone"),
        ({"misfire": "sometimes"}, "misfire"),
        ({"labels": {"a": 1}}, "labels"),
        ({"jitter": "lots"}, "jitter"),
        ({"start_at": "yesterday"}, "redbeat_sync field"),
    ],
)
def test_bad_values_in_extra_field_are_decode_errors(patch: dict, message: str):
    encoded = encode_entry(ROUND_TRIP[0])
    extra = {**json.loads(encoded.extra), **patch}
    with pytest.raises(DecodeError, match=message):
        decode_entry("every", encoded.definition, json.dumps(extra))


def test_rrule_offsets_are_those_of_the_zone_the_rule_is_read_in():
    ist = timezone(timedelta(hours=5, minutes=30))
    meant = Entry(
        name="r", task="t", schedule=RRule("daily", dtstart=datetime(2025, 1, 1, 9, tzinfo=ist))
    )
    body = json.loads(encode_entry(meant).definition)["schedule"]
    assert (body["dtstart"], body["dtstart_tz"]) == (1735702200, 330.0)
    zoned = Entry(
        name="r",
        task="t",
        schedule=RRule("daily", dtstart=datetime(2025, 7, 1, 9, tzinfo=PARIS)),
        timezone="Europe/Paris",
    )
    body = json.loads(encode_entry(zoned).definition)["schedule"]
    assert body["dtstart_tz"] == 120.0
    decoded = decode_entry("r", encode_entry(zoned).definition, encode_entry(zoned).extra)[0]
    assert decoded.schedule.dtstart.utcoffset() == timedelta(hours=2)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
schedule_like = st.fixed_dictionaries(
    {"__type__": st.sampled_from(["interval", "crontab", "rrule", "datetime", "weekday"])},
    optional={
        k: json_values
        for k in ("every", "relative", "minute", "hour", "freq", "interval", "dtstart",
                  "dtstart_tz", "byweekday", "bysetpos", "count", "wkst", "until", "until_tz",
                  "year", "timezone")
    },
)  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(
    schedule=schedule_like | json_values,
    args=json_values,
    kwargs=json_values,
    options=json_values,
    enabled=json_values,
    extra=st.none() | json_values.map(json.dumps),
    meta=st.none() | json_values.map(json.dumps),
)
def test_any_stored_json_decodes_or_raises_decode_error(
    schedule, args, kwargs, options, enabled, extra, meta
):
    raw = json.dumps(
        {"name": "n", "task": "t", "args": args, "kwargs": kwargs, "options": options}
        | {"schedule": schedule, "enabled": enabled}
    )
    try:
        entry, _marked = decode_entry("n", raw, extra)
    except DecodeError:
        pass
    else:
        encode_entry(entry)  # whatever decodes must encode again
    with contextlib.suppress(DecodeError):
        codec.decode_meta(meta)


def test_crontab_that_cannot_run_is_a_decode_error():
    bad = definition(
        {"__type__": "crontab", "minute": 0, "hour": 25, "day_of_week": "*", "day_of_month": "*"}
        | {"month_of_year": "*"}
    )
    with pytest.raises(DecodeError, match="not a valid cron"):
        decode_entry("n", bad, None)


# --------------------------------------------------------------------------- property: round trip

ZONES = ["UTC", "Europe/Paris", "America/New_York", "Asia/Kolkata"]
aware_datetimes = st.builds(
    lambda naive, tz: naive.replace(tzinfo=tz),
    st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1)),
    st.sampled_from(
        [UTC, PARIS, ZoneInfo("America/New_York"), timezone(timedelta(hours=5, minutes=30))]
    ),
)
whole_second_datetimes = aware_datetimes.map(lambda d: d.replace(microsecond=0))
int_tuples = st.none() | st.sets(st.integers(1, 12), min_size=1, max_size=3).map(
    lambda s: tuple(sorted(s))
)
schedules = st.one_of(
    st.builds(Every, st.floats(0.001, 1e7), st.booleans()),
    st.sampled_from(["*/5 * * * *", "0 9 * * mon-fri", "30 2 1,15 * *", "0 0 * jan,jul sun"]).map(
        Cron.from_expression
    ),
    st.builds(
        RRule,
        freq=st.sampled_from(["yearly", "monthly", "weekly", "daily", "hourly"]),
        interval=st.integers(1, 5),
        dtstart=st.none() | whole_second_datetimes,
        until=st.none() | whole_second_datetimes,
        count=st.none() | st.integers(1, 50),
        wkst=st.none() | st.integers(0, 6),
        bymonth=int_tuples,
        byweekday=st.none()
        | st.sets(st.integers(0, 6), min_size=1).map(lambda s: tuple(sorted(s))),
        byhour=int_tuples,
    ),
    st.builds(At, aware_datetimes),
)
plain_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=6),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=8,
)
entries = st.builds(
    Entry,
    name=st.just("e"),
    task=st.text(min_size=1, max_size=10),
    schedule=schedules,
    args=st.lists(plain_json | aware_datetimes, max_size=3),
    kwargs=st.dictionaries(st.text(max_size=5), plain_json | aware_datetimes, max_size=3),
    options=st.dictionaries(
        st.sampled_from(["queue", "expires", "priority"]), plain_json | aware_datetimes
    ),
    enabled=st.booleans(),
    timezone=st.sampled_from(ZONES),
    description=st.none() | st.text(max_size=20),
    labels=st.dictionaries(st.text(max_size=5), st.text(max_size=5), max_size=3),
    start_at=st.none() | aware_datetimes,
    end_at=st.none() | aware_datetimes,
    jitter=st.floats(0, 100),
    misfire=st.sampled_from(["catch_up", "skip", "deadline"]),
    deadline=st.none() | st.floats(0, 1e5),
)


@settings(max_examples=200, deadline=None)
@given(entry=entries, beat_timezone=st.sampled_from(ZONES), managed=st.booleans())
def test_every_entry_round_trips(entry: Entry, beat_timezone: str, managed: bool):
    encoded = encode_entry(entry, beat_timezone=beat_timezone, managed=managed)
    decoded, marked = decode_entry(
        entry.name, encoded.definition, encoded.extra, beat_timezone=beat_timezone
    )
    assert decoded.to_canonical() == entry.to_canonical()
    assert marked is managed
    definition = json.loads(encoded.definition)
    assert definition["enabled"] is (entry.enabled and not encoded.requires_scheduler)


def test_ambiguous_wall_time_in_options_keeps_its_instant() -> None:
    """01:30 on the fall-back night in Paris happens twice: fold=1 must survive."""
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from redbeat_sync.state.codec import decode_datetime, encode_datetime

    paris = ZoneInfo("Europe/Paris")
    for fold in (0, 1):
        moment = datetime(2026, 10, 25, 2, 30, tzinfo=paris, fold=fold)
        back = decode_datetime(encode_datetime(moment))
        # (== across zones is always False for a fold-dependent time: compare instants)
        assert back.timestamp() == moment.timestamp()
        assert back.utcoffset() == moment.utcoffset()
    plain = datetime(2026, 7, 1, 12, 0, tzinfo=paris)
    assert encode_datetime(plain)["timezone"] == "Europe/Paris"

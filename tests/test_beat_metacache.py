"""MetaCodec gives exactly what codec.encode_meta / decode_meta give, only cheaper; and
codec.encode_meta (head and count spliced) is json.dumps of RedBeat's meta dict."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from redbeat_sync.beat.metacache import MetaCodec
from redbeat_sync.schedule.entry import RunState
from redbeat_sync.state import codec
from redbeat_sync.values import encode_datetime

UTC = timezone.utc
PARIS = ZoneInfo("Europe/Paris")
SLOT = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)

slots = st.one_of(
    st.none(),
    st.datetimes(
        min_value=datetime(1990, 1, 1),
        max_value=datetime(2100, 1, 1),
        timezones=st.sampled_from([UTC, PARIS, timezone(timedelta(hours=5, minutes=30))]),
    ),
)


@given(slots, st.integers(min_value=0, max_value=10**12))
def test_encode_is_byte_identical(last: datetime | None, count: int) -> None:
    metas = MetaCodec()
    run = RunState(last, count)
    assert metas.encode(run) == codec.encode_meta(run)
    assert metas.encode(run) == codec.encode_meta(run)  # from the cache this time


@given(slots, st.integers(min_value=0, max_value=10**12) | st.booleans())
def test_encode_meta_is_json_of_the_meta_dict(last: datetime | None, count: int) -> None:
    run = RunState(last, count)
    last_json = encode_datetime(last) if last is not None else None
    want = json.dumps({"last_run_at": last_json, "total_run_count": count})
    assert codec.encode_meta(run) == want
    assert codec.split_meta(want) == (
        None if type(count) is bool else (codec.meta_head(last), count)
    )


def test_equal_instants_in_other_zones_keep_their_own_text() -> None:
    metas = MetaCodec()
    utc_text = metas.encode(RunState(SLOT, 1))
    paris = SLOT.astimezone(PARIS)
    assert paris == SLOT  # same instant: a cache keyed on the datetime alone would mix them
    assert metas.encode(RunState(paris, 1)) == codec.encode_meta(RunState(paris, 1))
    assert metas.encode(RunState(paris, 1)) != utc_text


@given(slots, st.integers(min_value=0, max_value=10**12))
def test_decode_matches_codec(last: datetime | None, count: int) -> None:
    metas = MetaCodec()
    raw = codec.encode_meta(RunState(last, count))
    for _ in range(2):
        got = metas.decode(raw)
        want = codec.decode_meta(raw)
        assert got == want
        assert got.last_run_at is None or got.last_run_at.tzinfo == want.last_run_at.tzinfo


@pytest.mark.parametrize(
    "raw",
    [
        None,
        "",
        '{"total_run_count": 3, "last_run_at": null}',  # other member order
        '{"last_run_at": null, "total_run_count": 3, "total_run_count": 5}',  # last wins
        '{"last_run_at": null, "total_run_count": 0}',
        '{"last_run_at": {"__type__": "datetime", "year": 2026, "month": 1, "day": 2,'
        ' "timezone": "UTC"}, "total_run_count": 12}',
    ],
)
def test_decode_other_valid_texts(raw: str | None) -> None:
    assert MetaCodec().decode(raw) == codec.decode_meta(raw)


@pytest.mark.parametrize(
    "raw",
    [
        '{"last_run_at": null, "total_run_count": 007}',  # leading zero: not JSON
        '{"last_run_at": null, "total_run_count": -1}',
        '{"last_run_at": null, "total_run_count": 1.5}',
        '{"last_run_at": null, "total_run_count": \u0661}',  # a non-ASCII digit
        '{"last_run_at": "x", "total_run_count": 1}',
        '{"last_run_at": {"__type__": "datetime", "total_run_count": 1}',
        '{"last_run_at": nul, "total_run_count": 1}',
        '{"last_run_at": "a, \\"total_run_count\\": 2}',
    ],
)
def test_decode_refuses_what_codec_refuses(raw: str) -> None:
    metas = MetaCodec()
    try:
        want = codec.decode_meta(raw)
    except codec.DecodeError:
        with pytest.raises(codec.DecodeError):
            metas.decode(raw)
    else:
        assert metas.decode(raw) == want

"""Durations: what the files accept and how export writes them back."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from redbeat_sync.schedule.durations import MAX_DURATION_SECONDS, format_duration, parse_duration


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("30s", 30),
        ("5m", 300),
        ("2h", 7200),
        ("1d", 86400),
        ("1w", 604800),
        ("1h30m", 5400),
        ("1d2h3m4s", 93784),
        ("1.5h", 5400),
        (" 10m ", 600),
        ("90", 90),
        (90, 90),
        (2.5, 2.5),
        (0, 0),
    ],
)
def test_parse_accepts_human_and_numbers(text: str | int | float, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ("", "expected a duration"),
        ("5 minutes", "expected a duration"),
        ("30m1h", "largest to smallest"),
        ("1h1h", "largest to smallest"),
        ("-5s", "expected a duration"),
        (-1, "zero or more"),
        (True, "boolean"),
        (float("inf"), "at most 100 years"),
        (float("nan"), "number of seconds"),
        ("99999999999999999999d", "at most 100 years"),
        (10**400, "at most 100 years"),
        (3_155_760_001, "at most 100 years"),
        ([1], "got list"),
    ],
)
def test_parse_rejects_with_a_message(value: object, fragment: str) -> None:
    with pytest.raises(ValueError, match=fragment):
        parse_duration(value)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(5400, "1h30m"), (30, "30s"), (86400, "1d"), (90061, "1d1h1m1s"), (0, "0s"), (1.5, 1.5)],
)
def test_format_is_human_when_exact(seconds: float, text: str | float) -> None:
    assert format_duration(seconds) == text


def test_the_bound_itself_is_accepted() -> None:
    assert parse_duration("36525d") == MAX_DURATION_SECONDS


@pytest.mark.parametrize("value", [0, -5, "-5s", "0s", -0.5, "-0"])
def test_zero_and_negative_get_one_message_where_zero_is_refused(value: object) -> None:
    """`every: -5` and `every: 0` are the same mistake: one message for both."""
    with pytest.raises(ValueError, match=r"^expected a duration greater than zero, got "):
        parse_duration(value, positive=True)  # type: ignore[arg-type]


@given(st.one_of(st.integers(0, 3_155_760_000), st.floats(0, 1e9, allow_nan=False)))
def test_format_then_parse_is_identity(seconds: float) -> None:
    assert parse_duration(format_duration(seconds)) == seconds

"""Durations: what the files accept and how export writes them back."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from redbeat_sync.spec.durations import format_duration, parse_duration


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
        (float("inf"), "finite"),
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


@given(st.one_of(st.integers(0, 10**12), st.floats(0, 1e9, allow_nan=False)))
def test_format_then_parse_is_identity(seconds: float) -> None:
    assert parse_duration(format_duration(seconds)) == seconds

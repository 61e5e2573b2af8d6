"""Human durations: ``30s``, ``5m``, ``2h``, ``1d``, ``1w``, ``1h30m`` or a number of seconds.

``parse_duration`` is what the schedule files accept; ``format_duration`` is its
inverse for ``export`` (exact values come back human-style, the rest as numbers).
"""

from __future__ import annotations

import math
import re

UNIT_SECONDS = {"w": 604_800, "d": 86_400, "h": 3_600, "m": 60, "s": 1}
_UNIT_ORDER = "wdhms"

_PART = re.compile(r"(\d+(?:\.\d+)?)\s*([wdhms])")
_WHOLE = re.compile(r"(?:\d+(?:\.\d+)?\s*[wdhms]\s*)+")
_NUMBER = re.compile(r"\d+(?:\.\d+)?")

# Above this a float no longer holds every whole second exactly; write it as a number.
_MAX_EXACT_SECONDS = 2**52

DURATION_HELP = "a duration such as 30s, 5m, 2h, 1d, 1h30m, or a number of seconds"

#: The longest duration anything in a schedule may have (interval, jitter, deadline,
#: option seconds).  The runtime adds these to "now" as datetimes (which end at year
#: 9999) and Celery turns some into timedeltas: 100 years keeps every sum far inside
#: both, and is longer than any schedule means.
MAX_DURATION_SECONDS = 100 * 365.25 * 86_400
MAX_DURATION_TEXT = "100 years"
#: The shortest duration where zero is refused (an interval): the runtime counts in
#: timedeltas, whose microseconds make anything much shorter a zero step.
MIN_POSITIVE_SECONDS = 0.001
TOO_LONG = f"at most {MAX_DURATION_TEXT} ({MAX_DURATION_SECONDS:.0f} seconds)"


def parse_duration(value: str | int | float, *, positive: bool = False) -> float:
    """Seconds in ``value``; raises ValueError with a message meant for the user.

    ``positive`` refuses zero (and anything under 1 ms) too; a negative value gets
    the same message then, so ``every: -5`` and ``every: 0`` are told the same thing.
    """
    if isinstance(value, bool):  # bool is an int: `every: yes` is a mistake, not 1 second
        raise ValueError(f"expected {DURATION_HELP}, got a boolean")
    if isinstance(value, (int, float)):
        seconds = _as_float(value)
    elif isinstance(value, str):
        seconds = _parse_text(value.strip())
    else:
        raise ValueError(f"expected {DURATION_HELP}, got {type(value).__name__}")
    if math.isnan(seconds):
        raise ValueError(f"expected a number of seconds, got {shown(value)}")
    if positive and MIN_POSITIVE_SECONDS > seconds > 0:
        raise ValueError(f"expected a duration of at least 1 ms (0.001), got {shown(value)}")
    check_bounds(seconds, value, positive=positive, noun="a duration")
    return seconds


def _as_float(value: int | float) -> float:
    """``value`` as a float; whole numbers too large for one become infinities."""
    if isinstance(value, int) and abs(value) > 2**1000:
        return math.inf if value > 0 else -math.inf
    return float(value)


def check_bounds(seconds: float, value: object, *, positive: bool, noun: str) -> None:
    """The bounds every duration and every seconds option share: more than zero when
    ``positive``, never negative, at most 100 years (``value`` is what the user wrote)."""
    if positive and seconds <= 0:
        raise ValueError(f"expected {noun} greater than zero, got {shown(value)}")
    if seconds < 0:
        raise ValueError(f"expected {noun} of zero or more, got {shown(value)}")
    if seconds > MAX_DURATION_SECONDS:
        raise ValueError(f"expected {TOO_LONG}, got {shown(value)}")


def shown(value: object) -> str:
    """``value`` as a message quotes it: its repr, cut at 40 characters."""
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _parse_text(text: str) -> float:
    if text.startswith("-") and (_NUMBER.fullmatch(text[1:]) or _WHOLE.fullmatch(text[1:])):
        return -_parse_text(text[1:]) or 0.0  # "-5s": a sign problem, not a format one
    if _NUMBER.fullmatch(text):
        return float(text)
    if not _WHOLE.fullmatch(text):
        raise ValueError(f"expected {DURATION_HELP}, got {text!r}")
    total = 0.0
    last_rank = -1
    for number, unit in _PART.findall(text):
        rank = _UNIT_ORDER.index(unit)
        if rank <= last_rank:
            raise ValueError(
                f"expected units from largest to smallest, each once (like 1h30m), got {text!r}"
            )
        last_rank = rank
        total += float(number) * UNIT_SECONDS[unit]
    return total  # huge digit strings give inf, refused as too long


def format_duration(seconds: float) -> str | float:
    """``5400`` -> ``"1h30m"``; a value with a fraction of a second stays a number."""
    if not math.isfinite(seconds) or seconds < 0:
        return float(seconds)
    if seconds != int(seconds) or seconds > _MAX_EXACT_SECONDS:
        return float(seconds)
    rest = int(seconds)
    if rest == 0:
        return "0s"
    parts: list[str] = []
    # Weeks are accepted but not written: "14d" reads better than "2w" next to cron jobs.
    for unit in "dhms":
        size = UNIT_SECONDS[unit]
        count, rest = divmod(rest, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts)

"""Cron fields read exactly as Celery's ``crontab`` reads them, without importing Celery.

RedBeat runs crontabs with Celery's parser, so what a field means (and whether it means
anything) is Celery's call.  validate, plan and the insights only need the sets of
values a field matches; importing ``celery.schedules`` for that costs more than the
rest of validate together (issue 11).  This module reads fields the same way; the
differential test (tests/test_schedule_cron.py) holds it to Celery's parser on
generated input, accept/refuse included.

Celery's reading of one field:

- comma-separated pieces; an empty piece is refused (``1,,2``, a trailing comma);
- a piece is ``*``, ``*/STEP``, ``A-B``, ``A-B/STEP`` or one value ``A``;
- ``A-B`` with B before A wraps past the field's end: ``fri-mon`` is 5, 6, 0, 1;
- a step keeps every STEP-th value of the expanded piece, starting with its first
  (``1-10/3``: 1, 4, 7, 10); STEP is a whole number of at least 1;
- a value is a whole number as Python's ``int()`` reads it, or a name by its first
  three letters in any case: a month (jan = 1) or else a weekday (sun = 0), in any
  field, months first, so ``mar`` is 3 even in the day-of-week field;
- every value must lie in the field's bounds; day of week is 0-6 with 0 = Sunday
  (7 is refused, unlike classic cron);
- Celery matches a piece's shape against its start only: once ``A-B``, ``A-B/STEP`` or
  ``*/STEP`` is read, the rest of the piece is ignored (``1-5-9`` is ``1-5``, ``*/5/2``
  is ``*/5``).  A, B and STEP are runs of word characters (letters, digits, ``_``).

The whole crontab is also refused when no day of the month occurs in any month given
(``30 2``: February has no 30th, Celery counts February as 29 days).

``celery_names`` writes a field as Celery reads it, in the files' spelling (names of
three letters, lower case): for crontabs from Celery or RedBeat's store, and to tell a
file's author when Celery would read less than what is written.

``CronSets`` walks those sets to the next matching wall-clock minute: fire times follow
Celery's reading by construction, so what validate accepts is what the times are
computed from (schedule/timing.py maps wall times to instants across DST).
"""

from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import lru_cache

from .vocabulary import CRON_DAY_NAMES, CRON_FIELDS, CRON_MONTH_NAMES

#: Celery's month and weekday numbering (day of week: 0 = Sunday).
_MONTHS = {name: number for number, name in enumerate(CRON_MONTH_NAMES, start=1)}
_WEEKDAYS = {name: number for number, name in enumerate(CRON_DAY_NAMES)}
#: The most days each month can have (February: 29, leap years count).
_MONTH_DAYS = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


class CronFieldError(ValueError):
    """A cron field (or a whole crontab) Celery's crontab refuses."""


class CronNeverMatches(CronFieldError):
    """A crontab that names no date (February 30th): Celery 5.7+ refuses it, older
    Celery builds one that never fires."""


@dataclass(frozen=True)
class CronField:
    """The bounds of one field: values ``low`` .. ``low + size - 1``."""

    low: int
    size: int

    @property
    def high(self) -> int:
        return self.low + self.size - 1

    def every(self) -> list[int]:
        return list(range(self.low, self.low + self.size))


MINUTE = CronField(0, 60)
HOUR = CronField(0, 24)
DAY_OF_MONTH = CronField(1, 31)
MONTH = CronField(1, 12)
DAY_OF_WEEK = CronField(0, 7)
#: In the order a 5-field expression writes them.
FIELDS = (MINUTE, HOUR, DAY_OF_MONTH, MONTH, DAY_OF_WEEK)
#: Each field by its name in the vocabulary (``"day_of_week"`` ...).
FIELDS_BY_NAME: dict[str, CronField] = dict(zip(CRON_FIELDS, FIELDS, strict=True))


def parse_field(text: str, field: CronField) -> frozenset[int]:
    """The values ``text`` matches in ``field``; CronFieldError when Celery refuses it."""
    values: set[int] = set()
    for piece in text.split(","):
        values.update(_piece(piece, field))
    return frozenset(values)


def parse_fields(
    minute: str, hour: str, day_of_month: str, month: str, day_of_week: str
) -> tuple[frozenset[int], ...]:
    """All five fields (expression order), refused as Celery's ``crontab()`` refuses them."""
    texts = (minute, hour, day_of_month, month, day_of_week)
    sets = tuple(parse_field(text, field) for text, field in zip(texts, FIELDS, strict=True))
    days, months = sets[2], sets[3]
    if not any(day <= _MONTH_DAYS[number - 1] for number in months for day in days):
        raise CronNeverMatches(
            f"no month in {month!r} has a day {day_of_month!r} (a crontab must name a date)"
        )
    return sets


def celery_names(text: str, field: CronField) -> str:
    """``text`` written as Celery reads it: parsing the result gives what ``text`` gives.

    Celery reads a name by its first three letters in any case (``'monday'``,
    ``'SUNDAY'``, ``'fri-'``), and celery-redbeat stores the field as given; the
    schedule files know only the three-letter names.  A name of the field's own kind
    becomes its lower-case abbreviation (``'Tuesday,thursday'`` -> ``'tue,thu'``); a
    name of the other kind becomes the number Celery reads for it (months first:
    ``'march'`` as a day of week is ``'3'``).  What Celery ignores after ``*/STEP``,
    ``A-B`` or ``A-B/STEP`` is dropped (``'*/1-9'`` -> ``'*/1'``).  A word that is no
    name is left for the parser to refuse.
    """
    return ",".join(_named_piece(piece, field) for piece in text.split(","))


def _named_piece(piece: str, field: CronField) -> str:
    # The shapes _piece reads: '*...' holds no value; 'A-B...' has two; else one value,
    # of which Celery reads all (so a name's tail, '!' in 'mon!', goes with it).  What
    # Celery ignores after '*/STEP', 'A-B' or 'A-B/STEP' is dropped.
    if not piece or piece[0] == "*":
        return _read(piece)
    ends = _range_ends(piece)
    if ends is None:
        return _named_value(piece, field)
    low_end, high_end = ends
    low = _named_value(piece[:low_end], field)
    high = _named_value(piece[low_end + 1 : high_end], field)
    return f"{low}-{high}{_read(piece)[high_end:]}"


def _range_ends(piece: str) -> tuple[int, int] | None:
    """Where ``A`` and ``B`` end when ``piece`` starts with ``A-B`` (runs of word
    characters), else None."""
    low_end = _word_end(piece, 0)
    if 0 < low_end < len(piece) and piece[low_end] == "-":
        high_end = _word_end(piece, low_end + 1)
        if high_end > low_end + 1:
            return low_end, high_end
    return None


def _read(piece: str) -> str:
    """The start of ``piece`` Celery reads: after ``*/STEP``, ``A-B`` or ``A-B/STEP`` it
    ignores the rest; any other piece is read whole (and may be refused)."""
    if piece[:2] == "*/":
        return _read_part(piece, 1)
    ends = None if piece[:1] == "*" else _range_ends(piece)
    return piece if ends is None else _read_part(piece, ends[1])


def _read_part(piece: str, end: int) -> str:
    """``piece`` up to ``end`` and the ``/STEP`` Celery reads there, if any."""
    if piece[end : end + 1] == "/":
        return piece[: _word_end(piece, end + 1)]
    return piece[:end]


def _named_value(text: str, field: CronField) -> str:
    if text[0] == "-":
        return text
    try:
        int(text)
    except ValueError:
        key = text[:3].lower()
        number = _MONTHS.get(key, _WEEKDAYS.get(key))
        if number is None:
            return text
        own = _MONTHS if field == MONTH else _WEEKDAYS if field == DAY_OF_WEEK else {}
        return key if own.get(key) == number else str(number)
    return text


def _piece(piece: str, field: CronField) -> list[int]:
    if not piece:
        raise CronFieldError("an empty item: a comma at the start or the end, or two in a row")
    if piece[0] == "*":
        # Celery's '^\*$' pattern: '$' also matches before one final newline.
        if piece in ("*", "*\n"):
            return field.every()
        if piece[1] == "/":
            return _stepped(field.every(), piece, 2)
    else:
        ends = _range_ends(piece)
        if ends is not None:
            low_end, high_end = ends
            low = _value(piece[:low_end], field)
            high = _value(piece[low_end + 1 : high_end], field)
            values = _span(low, high, field)
            if piece[high_end : high_end + 1] == "/":
                return _stepped(values, piece, high_end + 1)
            return values
    return [_value(piece, field)]


def _word_end(text: str, start: int) -> int:
    """Where the run of word characters (regex ``\\w``) starting at ``start`` ends."""
    end = start
    while end < len(text) and (text[end].isalnum() or text[end] == "_"):
        end += 1
    return end


def _span(low: int, high: int, field: CronField) -> list[int]:
    if high >= low:
        return list(range(low, high + 1))
    return list(range(low, field.high + 1)) + list(range(field.low, high + 1))


def _stepped(values: list[int], piece: str, start: int) -> list[int]:
    end = _word_end(piece, start)
    if end == start:
        raise CronFieldError(f"{piece!r}: a step after '/' is missing")
    try:
        step = int(piece[start:end])
    except ValueError:
        raise CronFieldError(f"{piece!r}: the step must be a whole number") from None
    if step < 1:
        raise CronFieldError(f"{piece!r}: the step must be at least 1")
    return values[::step]


def _value(text: str, field: CronField) -> int:
    if text[0] == "-":
        raise CronFieldError(f"{text!r}: negative values are not allowed")
    try:
        number = int(text)
    except ValueError:
        key = text[:3].lower()
        if key in _MONTHS:
            number = _MONTHS[key]
        elif key in _WEEKDAYS:
            number = _WEEKDAYS[key]
        else:
            raise CronFieldError(
                f"{text!r} is neither a number nor a month or weekday name"
            ) from None
    if not field.low <= number <= field.high:
        hint = " (Sunday is 0 or sun)" if field == DAY_OF_WEEK and number == 7 else ""
        raise CronFieldError(f"{number} is outside {field.low}-{field.high}{hint}")
    return number


#: Days searched for a match: every date recurs on every weekday within 28 years
#: (February 29th included), so a crontab ``parse_fields`` accepts matches sooner.
_SEARCH_DAYS = 366 * 29
_ONE_DAY = timedelta(days=1)


@dataclass(frozen=True)
class CronSets:
    """A crontab expanded to the values each field matches, as Celery reads it.

    ``day_of_week`` uses Celery's numbering: 0 = Sunday ... 6 = Saturday.  Minutes and
    hours are sorted: the walk to the next match searches them.
    """

    minute: tuple[int, ...]
    hour: tuple[int, ...]
    day_of_month: frozenset[int]
    month_of_year: frozenset[int]
    day_of_week: frozenset[int]

    @classmethod
    def from_fields(
        cls, minute: str, hour: str, day_of_month: str, month: str, day_of_week: str
    ) -> CronSets:
        """CronFieldError (CronNeverMatches for no date) as Celery's ``crontab()`` refuses."""
        minutes, hours, days, months, weekdays = parse_fields(
            minute, hour, day_of_month, month, day_of_week
        )
        return cls(tuple(sorted(minutes)), tuple(sorted(hours)), days, months, weekdays)

    def matches_day(self, day: date) -> bool:
        """Celery ANDs day-of-month and day-of-week (classic cron ORs them)."""
        return (
            day.month in self.month_of_year
            and day.day in self.day_of_month
            and day.isoweekday() % 7 in self.day_of_week
        )

    @property
    def runs_per_day(self) -> int:
        return len(self.minute) * len(self.hour)

    @property
    def every_day(self) -> bool:
        return (
            len(self.day_of_month) == 31
            and len(self.month_of_year) == 12
            and len(self.day_of_week) == 7
        )

    @property
    def both_days_restricted(self) -> bool:
        """Day of month and day of week are both restricted: both must match a day."""
        return len(self.day_of_month) < 31 and len(self.day_of_week) < 7

    @property
    def weekly(self) -> bool:
        """Only the weekday is restricted: a whole number of runs each week."""
        return len(self.day_of_month) == 31 and len(self.month_of_year) == 12

    def next_after(self, wall: datetime) -> datetime:
        """The first matching minute strictly after the naive wall time ``wall``."""
        start = wall.replace(second=0, microsecond=0, tzinfo=None) + timedelta(minutes=1)
        day, hour, minute = start.date(), start.hour, start.minute
        for _ in range(_SEARCH_DAYS):
            if day.month not in self.month_of_year:
                day = _first_of_next_month(day)
                hour = minute = 0
                continue
            if self.matches_day(day):
                found = self._first_time_from(hour, minute)
                if found is not None:
                    return datetime.combine(day, found)
            day += _ONE_DAY
            hour = minute = 0
        raise CronNeverMatches(f"no date matches within {_SEARCH_DAYS // 366} years")

    def _first_time_from(self, hour: int, minute: int) -> time | None:
        """The first matching time of day at or after ``hour:minute``, or None."""
        for index in range(bisect_left(self.hour, hour), len(self.hour)):
            matched_hour = self.hour[index]
            at = bisect_left(self.minute, minute if matched_hour == hour else 0)
            if at < len(self.minute):
                return time(matched_hour, self.minute[at])
        return None


@lru_cache(maxsize=8192)
def cron_sets(expression: str) -> CronSets:
    """``expression`` (five fields) expanded as Celery's crontab reads it."""
    parts = expression.split()
    if len(parts) != len(FIELDS):
        raise CronFieldError(f"expected {len(FIELDS)} fields (m h dom mon dow), got {len(parts)}")
    return CronSets.from_fields(*parts)


def _first_of_next_month(day: date) -> date:
    return date(day.year + 1, 1, 1) if day.month == 12 else date(day.year, day.month + 1, 1)

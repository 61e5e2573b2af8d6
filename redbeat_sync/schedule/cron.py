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

``celery_names`` writes a field's names as croniter and the files read them (three
letters, lower case), for crontabs that come from Celery or from RedBeat's store.
"""

from __future__ import annotations

from dataclasses import dataclass

from .vocabulary import CRON_DAY_NAMES, CRON_FIELDS, CRON_MONTH_NAMES

#: Celery's month and weekday numbering (day of week: 0 = Sunday).
_MONTHS = {name: number for number, name in enumerate(CRON_MONTH_NAMES, start=1)}
_WEEKDAYS = {name: number for number, name in enumerate(CRON_DAY_NAMES)}
#: The most days each month can have (February: 29, leap years count).
_MONTH_DAYS = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


class CronFieldError(ValueError):
    """A cron field (or a whole crontab) Celery's crontab refuses."""


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
        raise CronFieldError(
            f"no month in {month!r} has a day {day_of_month!r} (a crontab must name a date)"
        )
    return sets


def celery_names(text: str, field: CronField) -> str:
    """``text`` with each name written the way Celery reads it; numbers and the rest kept.

    Celery reads a name by its first three letters in any case (``'monday'``,
    ``'SUNDAY'``, ``'january'``), and celery-redbeat stores the field as given; croniter
    (our timing) and the schedule files know only the three-letter names.  A name of the
    field's own kind becomes its lower-case abbreviation (``'Tuesday,thursday'`` ->
    ``'tue,thu'``); a name of the other kind becomes the number Celery reads for it
    (months first: ``'march'`` as a day of week is ``'3'``).  A word that is no name is
    left for the parser to refuse.  Parsing the result gives what ``text`` gives.
    """
    if not any(char.isalpha() for char in text):
        return text  # the common case: digits and * , / -
    return ",".join(_named_piece(piece, field) for piece in text.split(","))


def _named_piece(piece: str, field: CronField) -> str:
    # The shapes _piece reads: '*...' holds no value; 'A-B...' has two; else one value,
    # of which Celery reads all (so a name's tail, '!' in 'mon!', goes with it).
    if not piece or piece[0] == "*":
        return piece
    low_end = _word_end(piece, 0)
    if 0 < low_end < len(piece) and piece[low_end] == "-":
        high_end = _word_end(piece, low_end + 1)
        if high_end > low_end + 1:
            low = _named_value(piece[:low_end], field)
            high = _named_value(piece[low_end + 1 : high_end], field)
            return f"{low}-{high}{piece[high_end:]}"
    return _named_value(piece, field)


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
        raise CronFieldError("empty item between commas")
    if piece[0] == "*":
        # Celery's '^\*$' pattern: '$' also matches before one final newline.
        if piece in ("*", "*\n"):
            return field.every()
        if piece[1] == "/":
            return _stepped(field.every(), piece, 2)
    else:
        low_end = _word_end(piece, 0)
        if 0 < low_end < len(piece) and piece[low_end] == "-":
            high_end = _word_end(piece, low_end + 1)
            if high_end > low_end + 1:
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
        raise CronFieldError(f"{number} is outside {field.low}-{field.high}")
    return number

"""``schedule/cron.py`` reads cron fields exactly as Celery's ``crontab`` does.

Differential: generated field texts (well-formed, odd and junk, names in any case)
go through our parser and Celery's ``crontab_parser``; both must give the same set, or
both refuse.  The same for whole crontabs against ``crontab()``, which also refuses a
day of the month no month has.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

import pytest
from celery.schedules import crontab, crontab_parser
from hypothesis import example, given, settings
from hypothesis import strategies as st

from redbeat_sync.schedule import cron

#: (ours, Celery's parser) per field, in expression order.
PARSERS = [
    (cron.MINUTE, crontab_parser(60)),
    (cron.HOUR, crontab_parser(24)),
    (cron.DAY_OF_MONTH, crontab_parser(31, 1)),
    (cron.MONTH, crontab_parser(12, 1)),
    (cron.DAY_OF_WEEK, crontab_parser(7)),
]
FIELD_IDS = ["minute", "hour", "day_of_month", "month", "day_of_week"]

MONTHS = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
DAYS = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"]
LONG_NAMES = ["january", "March", "monday", "SUNDAY", "Thursday", "septembre", "decx", "fri_"]


def _cased(name: str) -> st.SearchStrategy[str]:
    return st.sampled_from([name, name.upper(), name.title(), name[:1] + name[1:].upper()])


NUMBERS = st.one_of(
    st.integers(0, 64).map(str),
    st.sampled_from(["00", "07", "+5", "-1", "1_0", "٣", "²", "9" * 30, " 5", "5 "]),
)
NAMES = st.one_of(
    st.sampled_from(MONTHS + DAYS).flatmap(_cased),
    st.sampled_from([*LONG_NAMES, "foo", "ma", "x", "_"]),
)
VALUES = st.one_of(NUMBERS, NUMBERS, NAMES)
STEPS = st.one_of(
    st.integers(0, 70).map(str), st.sampled_from(["", "x", "02", "1_5", "-1", "٢", "5x"])
)
SUFFIXES = st.sampled_from(["", "", "", "-9", "/2", "/", "-", "x", "*", "/3/2", "\n", " "])


@st.composite
def pieces(draw: Any) -> str:
    shape = draw(st.sampled_from(["value", "range", "range_step", "star", "star_step", "junk"]))
    if shape == "value":
        text = draw(VALUES)
    elif shape == "range":
        text = f"{draw(VALUES)}-{draw(VALUES)}"
    elif shape == "range_step":
        text = f"{draw(VALUES)}-{draw(VALUES)}/{draw(STEPS)}"
    elif shape == "star":
        text = "*"
    elif shape == "star_step":
        text = f"*/{draw(STEPS)}"
    else:
        text = draw(st.text(alphabet="0123456789*/-,_ \nmonJANfriSatx٣", max_size=8))
    return text + draw(SUFFIXES)


FIELDS = st.lists(pieces(), min_size=1, max_size=4).map(",".join)


def celery_field(parser: Any, text: str) -> frozenset[int] | None:
    try:
        return frozenset(parser.parse(text))
    except Exception:  # ParseException, ValueError: Celery refuses it
        return None


def our_field(field: cron.CronField, text: str) -> frozenset[int] | None:
    try:
        return cron.parse_field(text, field)
    except cron.CronFieldError:
        return None


@pytest.mark.parametrize(("field", "parser"), PARSERS, ids=FIELD_IDS)
@settings(max_examples=600, deadline=None)
@given(text=FIELDS)
@example(text="*\n")
@example(text="1-5-9")
@example(text="fri-mon")
@example(text="7")
@example(text="1,,2")
@example(text="*/0")
def test_a_field_reads_as_celery_reads_it(field: cron.CronField, parser: Any, text: str) -> None:
    assert our_field(field, text) == celery_field(parser, text)


@pytest.mark.parametrize(("field", "parser"), PARSERS, ids=FIELD_IDS)
@settings(max_examples=300, deadline=None)
@given(text=st.text(max_size=12))
def test_any_text_reads_as_celery_reads_it(field: cron.CronField, parser: Any, text: str) -> None:
    assert our_field(field, text) == celery_field(parser, text)


@pytest.mark.parametrize(("field", "parser"), PARSERS, ids=FIELD_IDS)
@settings(max_examples=400, deadline=None)
@given(text=FIELDS)
@example(text="monday")
@example(text="Tuesday,THURSDAY")
@example(text="january-March/2")
@example(text="mon-")
@example(text="jan,1-5 /x")  # Celery ignores what follows A-B: so does the rewrite
def test_names_rewritten_read_as_celery_reads_the_original(
    field: cron.CronField, parser: Any, text: str
) -> None:
    """``celery_names`` keeps Celery's reading and leaves only three-letter names, lower
    case, of the field's own kind (what the files read)."""
    named = cron.celery_names(text, field)
    assert our_field(field, named) == celery_field(parser, text)
    assert cron.celery_names(named, field) == named  # what validate suggests is final
    if our_field(field, named) is not None and field in (cron.MONTH, cron.DAY_OF_WEEK):
        own = MONTHS if field == cron.MONTH else DAYS
        words = re.findall(r"[^\W\d_]+", named)  # letters only
        assert all(word in own for word in words), named


def test_celery_names_examples() -> None:
    assert cron.celery_names("monday", cron.DAY_OF_WEEK) == "mon"
    assert cron.celery_names("tuesday,Thursday", cron.DAY_OF_WEEK) == "tue,thu"
    assert cron.celery_names("SUNDAY-friday/2", cron.DAY_OF_WEEK) == "sun-fri/2"
    assert cron.celery_names("january", cron.MONTH) == "jan"
    assert cron.celery_names("march", cron.DAY_OF_WEEK) == "3"  # months are looked up first
    assert cron.celery_names("*/5,7", cron.MINUTE) == "*/5,7"
    assert cron.celery_names("foo", cron.DAY_OF_WEEK) == "foo"  # refused later


def celery_crontab(*fields: str) -> tuple[frozenset[int], ...] | None:
    minute, hour, day_of_month, month, day_of_week = fields
    try:
        made = crontab(minute, hour, day_of_week, day_of_month, month)
    except Exception:  # Celery refuses the crontab
        return None
    values = (made.minute, made.hour, made.day_of_month, made.month_of_year, made.day_of_week)
    return tuple(frozenset(v) for v in values)


#: Whether the installed Celery refuses a crontab such as ``30 2`` (February 30th).
CELERY_REFUSES_IMPOSSIBLE_DATES = celery_crontab("0", "0", "30", "2", "*") is None

SIMPLE = st.one_of(FIELDS, st.sampled_from(["*", "1", "29", "30", "31", "2", "4,6", "2-3"]))


@settings(max_examples=400, deadline=None)
@given(fields=st.tuples(SIMPLE, SIMPLE, SIMPLE, SIMPLE, SIMPLE))
@example(fields=("0", "0", "30", "2", "*"))
@example(fields=("0", "0", "31", "4,6,9,11", "*"))
@example(fields=("0", "0", "29", "feb", "mon"))
def test_a_crontab_reads_as_celery_reads_it(fields: tuple[str, str, str, str, str]) -> None:
    minute, hour, day_of_month, month, day_of_week = fields
    theirs = celery_crontab(minute, hour, day_of_month, month, day_of_week)
    try:
        ours: tuple[frozenset[int], ...] | None = cron.parse_fields(*fields)
    except cron.CronFieldError as exc:
        if "has a day" in str(exc) and not CELERY_REFUSES_IMPOSSIBLE_DATES:
            # Older Celery (5.5) builds a crontab that names no real date (it never
            # fires); we refuse it whichever Celery is installed.
            assert theirs is not None
            return
        ours = None
    assert ours == theirs


def test_celery_numbering_and_wrap_around() -> None:
    assert cron.parse_field("fri-mon", cron.DAY_OF_WEEK) == {5, 6, 0, 1}
    assert cron.parse_field("sun", cron.DAY_OF_WEEK) == {0}
    assert cron.parse_field("mar", cron.DAY_OF_WEEK) == {3}  # months are looked up first
    assert cron.parse_field("22-2/2", cron.HOUR) == {22, 0, 2}
    with pytest.raises(cron.CronFieldError):
        cron.parse_field("7", cron.DAY_OF_WEEK)
    with pytest.raises(cron.CronFieldError, match="has a day"):
        cron.parse_fields("0", "0", "30", "2", "*")


def _isoweekday_to_cron(moment: datetime) -> int:
    return moment.isoweekday() % 7  # cron counts from Sunday = 0


@settings(max_examples=500, deadline=None)
@given(fields=st.tuples(SIMPLE, SIMPLE, SIMPLE, SIMPLE, SIMPLE))
@example(fields=("0", "22-2/2", "*", "*", "*"))
@example(fields=("0", "0", "29", "feb", "mon"))
@example(fields=("5-5", "*", "*", "*", "fri-mon"))
@example(fields=("0", "0", "31", "dec-feb", "*"))
def test_what_validate_accepts_the_fire_times_follow_as_celery_reads_it(
    fields: tuple[str, str, str, str, str],
) -> None:
    """validate decides a cron with our reading of Celery's crontab alone; the fire times
    (croniter, for plan, show and beat's next run) must then exist and fall on Celery's
    sets, or validate would accept what the runtime cannot run."""
    from redbeat_sync.fileformat.models import cron_problem
    from redbeat_sync.schedule import timing

    expression = " ".join(fields)
    if "\n" in expression or cron_problem(expression) is not None:
        return
    sets = cron.parse_fields(*expression.split())
    for moment in timing._cron_walk(expression, datetime(2024, 1, 1), 4):
        fields_of_moment = (
            moment.minute, moment.hour, moment.day, moment.month, _isoweekday_to_cron(moment)
        )  # fmt: skip
        assert all(value in allowed for value, allowed in zip(fields_of_moment, sets, strict=True))


#: Shapes both Celery and croniter read alike (croniter reads ``5-5`` as ``*`` and
#: refuses some texts Celery reads, such as ``*/1-9``): the differential's domain.
PLAIN = st.one_of(
    st.just("*"),
    st.integers(0, 59).map(str),
    st.tuples(st.integers(0, 20), st.integers(21, 59)).map(lambda r: f"{r[0]}-{r[1]}"),
    st.integers(1, 30).map(lambda step: f"*/{step}"),
    st.lists(st.integers(0, 59), min_size=2, max_size=4).map(lambda v: ",".join(map(str, v))),
)


def _within(field: cron.CronField) -> st.SearchStrategy[str]:
    return PLAIN.filter(lambda text: our_field(field, text) is not None)


@settings(max_examples=300, deadline=None)
@given(
    fields=st.tuples(*(_within(field) for field in cron.FIELDS)),
    start=st.datetimes(datetime(2000, 1, 1), datetime(2090, 1, 1)),
)
@example(fields=("0", "0", "29", "2", "1"), start=datetime(2000, 1, 1))  # 2016-02-29
@example(fields=("59", "23", "31", "12", "*"), start=datetime(2023, 12, 31, 23, 59))
def test_fire_times_agree_with_croniter(fields: tuple[str, ...], start: datetime) -> None:
    """The walk over Celery's sets gives croniter's times wherever both read alike."""
    from croniter import croniter

    from redbeat_sync.schedule import timing

    expression = " ".join(fields)
    try:
        cron.parse_fields(*fields)
    except cron.CronFieldError:
        return
    theirs = croniter(expression, start, day_or=False)
    expected = [theirs.get_next(datetime) for _ in range(6)]
    assert timing._cron_walk(expression, start, 6) == expected

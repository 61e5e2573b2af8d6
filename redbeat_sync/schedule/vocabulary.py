"""The words of schedules, each spelled once: event names, frequencies, policies, days.

Each closed set is a ``Literal`` type (what mypy and pydantic check) and a tuple
derived from it with ``get_args`` (what runtime code iterates, indexes and shows),
so the two can never disagree.  Where a tuple's index means something (a dateutil
constant, a weekday number) the comment says which numbering it is.

Two weekday numberings meet in this package, so the names say which:

- ``WEEKDAY_NAMES``/``weekday_number``: 0=Monday .. 6=Sunday, as dateutil's rrule,
  Python's ``datetime.weekday()`` and RedBeat's stored ``wkday`` count;
- ``CRON_DAY_NAMES``: 0=Sunday .. 6=Saturday, as cron and Celery's crontab
  ``day_of_week`` count (7 is Sunday again there).
"""

from __future__ import annotations

from typing import Final, Literal, get_args

#: The zone of an entry that names none (and of beat, unless configured).
DEFAULT_TIMEZONE: Final = "UTC"

# --------------------------------------------------------------------------- schedules

ScheduleKind = Literal["cron", "every", "rrule", "at", "solar"]
#: The schedule kinds, in the order the file format and its messages list them.
SCHEDULE_KINDS: tuple[ScheduleKind, ...] = get_args(ScheduleKind)

SolarEvent = Literal[
    "sunrise", "sunset", "solar_noon",
    "dawn_astronomical", "dawn_nautical", "dawn_civil",
    "dusk_astronomical", "dusk_nautical", "dusk_civil",
]  # fmt: skip
#: Celery's solar event names.
SOLAR_EVENTS: tuple[SolarEvent, ...] = get_args(SolarEvent)

RRuleFrequency = Literal["yearly", "monthly", "weekly", "daily", "hourly", "minutely", "secondly"]
#: Index = dateutil's frequency constant (YEARLY=0 ... SECONDLY=6), as RedBeat stores it.
RRULE_FREQUENCIES: tuple[RRuleFrequency, ...] = get_args(RRuleFrequency)

# --------------------------------------------------------------------------- policies

#: What beat does with runs missed while it was down: run once, skip, or run when at
#: most ``deadline`` late.
MisfirePolicy = Literal["catch_up", "skip", "deadline"]
MISFIRE_POLICIES: tuple[MisfirePolicy, ...] = get_args(MisfirePolicy)
DEFAULT_MISFIRE: Final[MisfirePolicy] = "catch_up"

#: ``allow``: runs may overlap (Celery's behaviour); ``skip``: a slot whose previous
#: run has not reported an end (within ``overlap_timeout``) is skipped.
OverlapPolicy = Literal["allow", "skip"]
OVERLAP_POLICIES: tuple[OverlapPolicy, ...] = get_args(OverlapPolicy)
DEFAULT_OVERLAP: Final[OverlapPolicy] = "allow"

# --------------------------------------------------------------------------- weekdays

WeekdayName = Literal["mo", "tu", "we", "th", "fr", "sa", "su"]
#: rrule's weekday names; index = weekday number 0=Monday .. 6=Sunday (dateutil's).
WEEKDAY_NAMES: tuple[WeekdayName, ...] = get_args(WeekdayName)
#: The longer spellings the file format accepts too, in the same 0=Monday order.
WEEKDAY_ABBREVIATIONS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
WEEKDAY_FULL_NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
#: Every accepted spelling (lower case) -> its weekday number, 0=Monday.
WEEKDAY_NUMBERS: Final = {
    name: number
    for names in (WEEKDAY_NAMES, WEEKDAY_ABBREVIATIONS, WEEKDAY_FULL_NAMES)
    for number, name in enumerate(names)
}

#: Cron's day names; index = cron's ``day_of_week`` number 0=Sunday .. 6=Saturday
#: (Celery's crontab counts the same way; NOT the rrule numbering above).
CRON_DAY_NAMES = (WEEKDAY_ABBREVIATIONS[-1], *WEEKDAY_ABBREVIATIONS[:-1])
#: Cron's month names; index + 1 = month number.
CRON_MONTH_NAMES = (
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
)  # fmt: skip

# --------------------------------------------------------------------------- cron fields

CronField = Literal["minute", "hour", "day_of_month", "month_of_year", "day_of_week"]
#: The five fields in the order a cron expression (and so a schedule file) writes them.
CRON_FIELDS: tuple[CronField, ...] = get_args(CronField)
#: The same fields in the order RedBeat writes a crontab object (Celery's ``crontab``
#: positional order): day of week before day of month.
REDBEAT_CRON_FIELDS: tuple[CronField, ...] = (
    "minute", "hour", "day_of_week", "day_of_month", "month_of_year",
)  # fmt: skip
#: How messages name each field, in ``CRON_FIELDS`` order.
CRON_FIELD_LABELS = ("minute", "hour", "day of month", "month", "day of week")


# --------------------------------------------------------------------------- lookups


def rrule_frequency(name: str) -> RRuleFrequency:
    """``name`` (any case) as a frequency; ValueError when it names none."""
    folded = name.strip().lower()
    for frequency in RRULE_FREQUENCIES:
        if frequency == folded:
            return frequency
    raise ValueError(f"unknown rrule frequency {name!r}: one of {', '.join(RRULE_FREQUENCIES)}")


def solar_event(name: str) -> SolarEvent:
    """``name`` as a solar event; ValueError when it names none."""
    for event in SOLAR_EVENTS:
        if event == name:
            return event
    raise ValueError(f"unknown solar event {name!r}: one of {', '.join(SOLAR_EVENTS)}")

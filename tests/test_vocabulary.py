"""The schedule vocabulary agrees with the libraries whose numbers it names."""

from __future__ import annotations

from celery.schedules import crontab, crontab_parser, solar
from dateutil import rrule as du_rrule

from redbeat_sync.schedule import vocabulary as v


def test_frequency_index_is_dateutils_constant() -> None:
    for index, name in enumerate(v.RRULE_FREQUENCIES):
        assert getattr(du_rrule, name.upper()) == index
    assert v.rrule_frequency(" Weekly ") == "weekly"


def test_weekday_numberings() -> None:
    # rrule's: 0=Monday (dateutil's weekday objects); cron's: 0=Sunday (Celery's parser).
    for number, name in enumerate(v.WEEKDAY_NAMES):
        assert repr(du_rrule.weekdays[number]) == name.upper()
    assert v.WEEKDAY_NUMBERS["sunday"] == v.WEEKDAY_NUMBERS["sun"] == v.WEEKDAY_NUMBERS["su"] == 6
    for number, name in enumerate(v.CRON_DAY_NAMES):
        assert crontab_parser(7).parse(name) == {number}
    for number, name in enumerate(v.CRON_MONTH_NAMES, start=1):
        assert crontab_parser(12, 1).parse(name) == {number}


def test_cron_fields_name_celerys_crontab_arguments() -> None:
    assert sorted(v.REDBEAT_CRON_FIELDS) == sorted(v.CRON_FIELDS)
    made = crontab(*("1", "2", "3", "4", "5"))  # Celery's positional order is RedBeat's
    assert [str(getattr(made, f"_orig_{name}")) for name in v.REDBEAT_CRON_FIELDS] == [
        "1",
        "2",
        "3",
        "4",
        "5",
    ]
    assert len(v.CRON_FIELD_LABELS) == len(v.CRON_FIELDS)


def test_solar_events_are_celerys() -> None:
    assert set(v.SOLAR_EVENTS) == set(solar._all_events)

"""Solar events (sunrise, dusk...) with the optional ``ephem`` package, as Celery does.

The observer is set up the way Celery's ``solar`` schedule sets it up (elevation 0,
no atmospheric pressure: refraction is in the horizon instead), so an entry fires at
the instant Celery would compute:

==========================  =========  ===============  =================
event                       horizon    ephem method     centre of the sun
==========================  =========  ===============  =================
dawn_astronomical / dusk_…  -18°       rising / setting yes
dawn_nautical / dusk_…      -12°       rising / setting yes
dawn_civil / dusk_civil     -6°        rising / setting yes
sunrise / sunset            -0°34'     rising / setting no (upper limb)
solar_noon                  0°         transit          no
==========================  =========  ===============  =================

Near the poles some events do not happen for days (polar night, midnight sun):
the search moves on one day at a time, at most ``MAX_SEARCH_DAYS`` days.

``ephem`` is optional (``pip install 'redbeat-sync[solar]'``): without it the spec
loader reports solar entries as a problem, and ``next_event_after`` returns None.
"""

from __future__ import annotations

import importlib
from datetime import datetime, timezone
from functools import lru_cache
from typing import Any

from .entry import Solar
from .vocabulary import SolarEvent

UTC = timezone.utc
MAX_SEARCH_DAYS = 366
MISSING_MESSAGE = "solar schedules need the optional dependency: pip install 'redbeat-sync[solar]'"

_HORIZONS: dict[SolarEvent, str] = {
    "dawn_astronomical": "-18",
    "dawn_nautical": "-12",
    "dawn_civil": "-6",
    "sunrise": "-0:34",
    "solar_noon": "0",
    "sunset": "-0:34",
    "dusk_civil": "-6",
    "dusk_nautical": "-12",
    "dusk_astronomical": "-18",
}
_RISING: tuple[SolarEvent, ...] = ("dawn_astronomical", "dawn_nautical", "dawn_civil", "sunrise")
_TWILIGHT: tuple[SolarEvent, ...] = (
    "dawn_astronomical",
    "dawn_nautical",
    "dawn_civil",
    "dusk_civil",
    "dusk_nautical",
    "dusk_astronomical",
)


def ephem_module() -> Any | None:
    """The ``ephem`` module, or None when it is not installed."""
    try:
        return importlib.import_module("ephem")
    except ImportError:
        return None


def available() -> bool:
    return ephem_module() is not None


@lru_cache(maxsize=1)
def _ephem() -> Any | None:
    return ephem_module()


def _method(event: str) -> str:
    if event == "solar_noon":
        return "next_transit"
    return "next_rising" if event in _RISING else "next_setting"


def next_event_after(schedule: Solar, after: datetime) -> datetime | None:
    """First occurrence of the event strictly after ``after`` (UTC), None without ephem."""
    ephem = _ephem()
    if ephem is None:
        return None
    observer = ephem.Observer()
    observer.lat = str(schedule.lat)
    observer.lon = str(schedule.lon)
    observer.elev = 0
    observer.pressure = 0
    observer.horizon = _HORIZONS[schedule.event]
    after_utc = after.astimezone(UTC).replace(tzinfo=None)
    start = ephem.Date(after_utc)
    observer.date = start
    sun = ephem.Sun()
    extra = {"use_center": True} if schedule.event in _TWILIGHT else {}
    method = getattr(observer, _method(schedule.event))
    for _ in range(MAX_SEARCH_DAYS):
        try:
            found = method(sun, start=start, **extra)
        except ephem.CircumpolarError:  # not today: look again from the next night
            start = observer.next_antitransit(sun, start=start)
            continue
        moment: datetime = found.datetime().replace(tzinfo=UTC)
        if moment > after.astimezone(UTC):
            return moment
        start = ephem.Date(found + ephem.second)
    return None

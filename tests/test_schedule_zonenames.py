"""``is_zone_name`` answers exactly as ``name in zoneinfo.available_timezones()``.

The fast path reads one name's own path; it must never accept a name the listing
lacks (wrong case, ``posix/``, ``right/``, ``posixrules``, data files, directories).
"""

from __future__ import annotations

import os
import zoneinfo

import pytest

from redbeat_sync.schedule import zonenames

LISTED = sorted(zoneinfo.available_timezones())
ODD = [
    "posixrules",
    "posix/Europe/Paris",
    "right/UTC",
    "Europe",
    "europe/paris",
    "EUROPE/PARIS",
    "utc",
    "Europe//Paris",
    "Europe/Paris/",
    "/Europe/Paris",
    "./UTC",
    "Europe/../UTC",
    "zone.tab",
    "zone1970.tab",
    "tzdata.zi",
    "iso3166.tab",
    "leapseconds",
    "",
    "Mars/Olympus_Mons",
]


def test_every_listed_zone_is_a_zone_name() -> None:
    assert [name for name in LISTED if not zonenames.is_zone_name(name)] == []


@pytest.mark.parametrize("name", ODD + [name.lower() for name in LISTED[::25]])
def test_the_path_check_accepts_nothing_the_listing_lacks(name: str) -> None:
    listed = name in zoneinfo.available_timezones()
    assert zonenames.is_zone_name(name) is listed
    if not listed:
        assert not zonenames._listed_from_path(name)


def test_the_path_check_settles_common_names_alone() -> None:
    """The point of it: a good name needs no listing of every zone."""
    for name in ("UTC", "Europe/Paris", "America/Argentina/Buenos_Aires"):
        on_disk = any(os.path.isfile(os.path.join(root, name)) for root in zoneinfo.TZPATH)
        if on_disk and name in LISTED:  # (a machine with only the tzdata package: no path)
            assert zonenames._listed_from_path(name), name

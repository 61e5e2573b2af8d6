"""The IANA zone names this machine knows: what ``zoneinfo.available_timezones()`` lists.

Listing them opens every file under the zone directories (about 600 files, ~20 ms, a
tenth of ``validate``'s run); whether one name is listed can mostly be told from its
own path.  ``is_zone_name`` looks there first and lists everything only when the path
does not settle it, so the answer is always the listing's.
"""

from __future__ import annotations

import difflib
import os
import re
import zoneinfo
from functools import lru_cache


@lru_cache(maxsize=1)
def zone_names() -> frozenset[str]:
    """Every zone name ``zoneinfo`` lists here (system zone files and ``tzdata``)."""
    return frozenset(zoneinfo.available_timezones())


@lru_cache(maxsize=1024)
def is_zone_name(name: str) -> bool:
    """Whether ``zone_names()`` holds ``name``, usually without listing every zone."""
    return _listed_from_path(name) or name in zone_names()


@lru_cache(maxsize=1)
def _zones_by_folded_name() -> dict[str, str]:
    return {zone.casefold(): zone for zone in zone_names()}


@lru_cache(maxsize=1024)
def timezone_problem(name: str) -> str | None:
    """Why ``name`` is no zone name, with a "did you mean" when one is close; None if it is
    (the one check: schedule files, --beat-timezone, a Celery app's ``timezone``)."""
    if is_zone_name(name):  # without listing every zone (~20 ms) when the name is good
        return None
    folded = _zones_by_folded_name()
    key = name.casefold()
    close = [folded[key]] if key in folded else []
    # "Paris" -> Europe/Paris; no guess for offsets ("GMT+2"): Etc/GMT+2 is UTC-2.
    if not close and not re.search(r"[+-]\d", name):
        zones = zone_names()
        close = sorted(z for z in zones if "/" in z and z.rsplit("/", 1)[1].casefold() == key)
        close = close or difflib.get_close_matches(name, sorted(zones), n=1, cutoff=0.75)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return f"unknown time zone {name!r}{hint} (expected an IANA name like UTC or Europe/Paris)"


def _listed_from_path(name: str) -> bool:
    """True when the listing surely holds ``name`` (False: not settled here).

    ``available_timezones()`` walks each directory of ``zoneinfo.TZPATH`` with
    ``os.walk`` and keeps the files that start with ``TZif``: spelled as on disk (a
    case-insensitive file system also opens ``europe/paris``, the listing only has
    ``Europe/Paris``), not under the top-level ``right/`` and ``posix/``, not behind a
    symlinked directory (``os.walk`` does not follow those), never ``posixrules``.
    """
    parts = name.split("/")
    if name == "posixrules" or parts[0] in ("right", "posix"):
        return False
    if any(part in ("", ".", "..") for part in parts):
        return False
    for root in zoneinfo.TZPATH:
        directory = root
        for part in parts[:-1]:
            child = os.path.join(directory, part)
            if part not in _entries(directory) or os.path.islink(child):
                break
            if not os.path.isdir(child):
                break
            directory = child
        else:
            path = os.path.join(directory, parts[-1])
            if parts[-1] in _entries(directory) and not os.path.isdir(path) and _is_tzif(path):
                return True
    return False


@lru_cache(maxsize=64)
def _entries(directory: str) -> frozenset[str]:
    try:
        return frozenset(os.listdir(directory))
    except OSError:
        return frozenset()


def _is_tzif(path: str) -> bool:
    try:
        with open(path, "rb") as handle:
            return handle.read(4) == b"TZif"
    except OSError:
        return False

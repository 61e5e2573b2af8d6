"""Deterministic spread for cron fields (``H``, as in Jenkins): no more pile-ups at :00.

A cron field may be written with ``H`` ("hashed"); it is replaced when the files are
loaded, so what is stored in Redis is a plain cron that RedBeat runs as is:

==================  ==========================================================
``H``               one value in the field's range          ``H 3 * * *`` → ``17 3 * * *``
``H/15``            a hashed start, then every 15           ``H/15 * * * *`` → ``7-59/15 * * * *``
``H(0-29)``         one value in 0..29
``H(0-29)/10``      a hashed start in 0..9, then every 10   → ``4-29/10``
==================  ==========================================================

The value is ``low + h % size`` where ``h`` is the first 8 bytes (big-endian) of
``sha256("<entry name>:<field>")`` (field: ``minute``, ``hour``, ``day_of_month``,
``month_of_year`` or ``day_of_week``), ``low..high`` the range (the field's own, or
the one in parentheses) and ``size`` its length — or the step, for ``H/step``.  The
same name always gives the same value; different names spread over the range.
Days of the month use 1-28 so every month has the day (as Jenkins does).
"""

from __future__ import annotations

import hashlib
import re

from .vocabulary import CRON_FIELD_LABELS, CRON_FIELDS

#: The range ``H`` picks from in each field (day of month: 1-28, in every month).
RANGES = ((0, 59), (0, 23), (1, 28), (1, 12), (0, 6))

_HASH_TOKEN = re.compile(r"(?<![A-Za-z])H(?![A-Za-z])")
_HASH_PART = re.compile(r"^H(?:\((\d+)-(\d+)\))?(?:/(\d+))?$")


def uses_hash(expression: str) -> bool:
    """Whether a cron expression has an ``H`` to resolve (``THU`` is not one)."""
    return _HASH_TOKEN.search(expression) is not None


def hash_value(name: str, field: str) -> int:
    digest = hashlib.sha256(f"{name}:{field}".encode()).digest()
    return int.from_bytes(digest[:8], "big")


def _resolve_part(part: str, name: str, index: int) -> str:
    if not _HASH_TOKEN.search(part):
        return part
    match = _HASH_PART.match(part)
    field, label = CRON_FIELDS[index], CRON_FIELD_LABELS[index]
    if match is None:
        raise ValueError(
            f"H in the {label} field must be written H, H/step, H(low-high) "
            f"or H(low-high)/step; got {part!r}"
        )
    low, high = RANGES[index]
    if match.group(1) is not None:
        own_low, own_high = int(match.group(1)), int(match.group(2))
        if not low <= own_low <= own_high <= high:
            raise ValueError(
                f"H({own_low}-{own_high}) in the {label} field: the range "
                f"must lie within {low}-{high} and not be reversed"
            )
        low, high = own_low, own_high
    value = hash_value(name, field)
    if match.group(3) is None:
        return str(low + value % (high - low + 1))
    step = int(match.group(3))
    if not 1 <= step <= high - low + 1:
        raise ValueError(f"H/{step} in the {label} field: step out of range")
    start = low + value % step
    return f"{start}-{high}/{step}"


def resolve(expression: str, name: str) -> str:
    """``expression`` with every ``H`` replaced by the value for entry ``name``."""
    if not uses_hash(expression):
        return expression
    parts = expression.split()
    if len(parts) != 5:
        return expression  # the cron check reports the field count
    return " ".join(_resolve_part(part, name, i) for i, part in enumerate(parts))

"""What ``validate`` says beyond problems: DST and jitter warnings, resolved ``H`` crons."""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..fileformat import yamlload
from ..schedule import spread
from . import cron_lint, dst_lint, jitter_lint

if TYPE_CHECKING:
    from ..fileformat.loader import Spec
    from ..schedule.entry import Entry

_HASH_BYTES = re.compile(rb"(?<![A-Za-z])H(?![A-Za-z])")


def _raw_crons(files: list[str]) -> dict[str, str]:
    """Entry name -> cron as written, for the crons that use ``H``."""
    found: dict[str, str] = {}
    for file in files:
        try:
            text = Path(file).read_bytes()
        except OSError:
            continue
        if not _HASH_BYTES.search(text):  # most files: no second parse
            continue
        document = yamlload.load_bytes(text, full_positions=False)
        root: Any = document.value
        entries = root.get("entries") if isinstance(root, dict) else None
        if not isinstance(entries, dict):
            continue
        for name, raw in entries.items():
            schedule = raw.get("schedule") if isinstance(raw, dict) else None
            cron = schedule.get("cron") if isinstance(schedule, dict) else None
            if isinstance(cron, str) and spread.uses_hash(cron):
                found[name] = cron
    return found


def resolved_hashes(spec: Spec, limit: int = 20) -> list[str]:
    """``file:line: name: cron 'H 3 * * *' resolves to '17 3 * * *'`` lines (``limit``
    of them, then a count)."""
    raw = _raw_crons(list(spec.files))
    lines: list[str] = []
    for item in spec.entries:
        written = raw.get(item.entry.name)
        if written is not None:
            resolved = getattr(item.entry.schedule, "expression", "?")
            where = f"{item.file}:{item.line}"
            lines.append(f"{where}: {item.entry.name}: cron {written!r} resolves to {resolved!r}")
    if len(lines) > limit:
        more = len(lines) - limit
        lines = [*lines[:limit], f"… and {more} more cron(s) with H resolved"]
    return lines


def entry_warnings(entry: Entry, now: datetime | None = None) -> list[str]:
    """What would surprise about ``entry``: DST, its jitter, its days (validate and plan)."""
    return [
        *dst_lint.dst_warnings(entry, now),  # fires in an hour DST skips or repeats
        *jitter_lint.jitter_warnings(entry),  # jitter as long as its interval
        *cron_lint.both_days_warnings(entry),  # day of month AND day of week
    ]


def spec_warnings(spec: Spec, now: datetime | None = None) -> list[str]:
    """``file:line: name: warning`` for every entry DST, its jitter or its days would surprise."""
    return [
        f"{item.file}:{item.line}: {item.entry.name}: {warning}"
        for item in spec.entries
        for warning in entry_warnings(item.entry, now)
    ]

"""What ``validate`` says beyond problems: DST warnings and resolved ``H`` crons."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from ..spec import yamlload
from . import dst_lint, spread

if TYPE_CHECKING:
    from ..spec.loader import Spec


def _raw_crons(files: list[str]) -> dict[str, str]:
    """Entry name -> cron as written, for the crons that use ``H``."""
    found: dict[str, str] = {}
    for file in files:
        document = yamlload.read_file(file, full_positions=False)
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


def resolved_hashes(spec: Spec) -> list[str]:
    """``file:line: name: cron 'H 3 * * *' resolves to '17 3 * * *'`` lines."""
    raw = _raw_crons(list(spec.files))
    lines: list[str] = []
    for item in spec.entries:
        written = raw.get(item.entry.name)
        if written is not None:
            resolved = getattr(item.entry.schedule, "expression", "?")
            where = f"{item.file}:{item.line}"
            lines.append(f"{where}: {item.entry.name}: cron {written!r} resolves to {resolved!r}")
    return lines


def spec_warnings(spec: Spec, now: datetime | None = None) -> list[str]:
    """``file:line: name: warning`` for every entry DST would surprise."""
    lines: list[str] = []
    for item in spec.entries:
        for warning in dst_lint.dst_warnings(item.entry, now):
            lines.append(f"{item.file}:{item.line}: {item.entry.name}: {warning}")
    return lines

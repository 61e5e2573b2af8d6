"""User-facing errors.

Everything a user can get wrong ends in one of these two exceptions; the CLI turns
them into readable lines and exit code 1.  Anything else escaping is a bug in us.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

_PLAIN_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")


def field_path(parts: Iterable[Any]) -> str:
    """The one spelling of a place in a file or an entry (problems, plan changes).

    ``("entries", "x", "args", 0)`` -> ``entries.x.args[0]``; a key that is not a
    plain word is quoted, so its dots cannot pass for nesting:
    ``("kwargs", "a.b")`` -> ``kwargs["a.b"]``.
    """
    out = ""
    for part in parts:
        if isinstance(part, int) and not isinstance(part, bool):
            out += f"[{part}]"
        elif _PLAIN_KEY.match(str(part)):
            out += f".{part}" if out else str(part)
        else:
            out += f"[{json.dumps(str(part), ensure_ascii=False)}]"
    return out


@dataclass(frozen=True, order=True)
class Problem:
    """One problem found in one place of one schedule file."""

    file: str
    line: int  # 1-based; 0 when the problem has no position (e.g. unreadable file)
    column: int  # 1-based; 0 when unknown
    field: str  # ``field_path``, e.g. "entries.nightly-report.schedule.cron"
    message: str

    def format(self) -> str:
        where = self.file
        if self.line:
            where += f":{self.line}:{self.column or 1}"
        # A key may hold control characters or line breaks: never print them raw.
        shown = "".join(c if c.isprintable() else repr(c)[1:-1] for c in self.field)
        field = f" {shown}:" if self.field else ""
        return f"{where}:{field} {self.message}"


class RedbeatSyncError(Exception):
    """Base class of errors that are the user's or the environment's, not ours."""


class UserError(RedbeatSyncError):
    """A single clear line: bad flag, unreachable Redis, stale plan, lock held..."""


class ProblemsFound(RedbeatSyncError):
    """The full list of problems in the schedule files (never just the first)."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = sorted(problems)
        super().__init__(f"{len(self.problems)} problem(s) found")

    def format(self) -> str:
        return "\n".join(p.format() for p in self.problems)

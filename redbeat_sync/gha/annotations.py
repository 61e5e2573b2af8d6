"""Problems in the schedule files as GitHub file annotations.

``::error file=schedules/a.yaml,line=12,col=5,title=...::message`` puts the message on
that line of the pull request's diff.  The problems are the loader's own ``Problem``
records (file, line, column, field, message): the files are loaded once more in this
process when ``validate`` has failed, so the positions are exact, not parsed back out of
the CLI's text.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from ..errors import Problem, ProblemsFound
from ..fileformat.loader import load_paths
from .workflow_commands import command

#: GitHub keeps 10 error annotations per step; the rest would be dropped (all are in the log).
MAX_ANNOTATIONS = 10


def file_problems(paths: Sequence[str]) -> list[Problem]:
    """The problems ``validate`` reports for ``paths`` (none when they load)."""
    try:
        load_paths(list(paths))
    except ProblemsFound as exc:
        return exc.problems
    return []


def workspace_path(file: str, workspace: Path | None) -> str:
    """``file`` relative to the checkout (what GitHub matches against the diff)."""
    if not file or workspace is None:
        return file
    try:
        return Path(file).resolve().relative_to(workspace.resolve()).as_posix()
    except ValueError:  # outside the checkout: GitHub shows it on the run only
        return file


def annotation(problem: Problem, workspace: Path | None) -> str:
    return command(
        "error",
        problem.message,
        file=workspace_path(problem.file, workspace) or None,
        line=problem.line or None,
        col=problem.column or None,
        title=f"redbeat-sync: {problem.field}" if problem.field else "redbeat-sync",
    )


def problem_annotations(problems: Sequence[Problem], workspace: Path | None) -> list[str]:
    lines = [annotation(p, workspace) for p in problems[:MAX_ANNOTATIONS]]
    if len(problems) > MAX_ANNOTATIONS:
        rest = len(problems) - MAX_ANNOTATIONS
        lines.append(command("warning", f"{rest} more problem(s): see the validate output"))
    return lines

"""``redbeat-sync validate PATHS``: check schedule files offline (no Redis)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from typing import Any

import click

from ..errors import Problem, ProblemsFound
from ..schedule.describe import plural
from ._common import EXIT_ERROR, EXIT_OK, echo_err, format_option, report_problems, run_guarded

VALIDATE_FORMAT_VERSION = "1"


def validate_json(
    problems: list[Problem], warnings: list[str], entries: int | None, files: int | None
) -> dict[str, Any]:
    """``validate --format json``: every problem as an object (see README)."""
    return {
        "format_version": VALIDATE_FORMAT_VERSION,
        "valid": not problems,
        "error_count": len(problems),
        "warning_count": len(warnings),
        "problems": [asdict(p) for p in problems],  # file, line, column, field, message
        "warnings": warnings,
        "entries": entries,  # null when the files could not be loaded
        "files": files,
    }


def problems_json(problems: list[Problem]) -> str:
    """Bad files as ``validate --format json`` reports them (nothing loaded)."""
    return json.dumps(validate_json(problems, [], None, None), indent=2)


@contextmanager
def problems_as_json(fmt: str) -> Iterator[None]:
    """With ``--format json`` (plan, drift, apply), bad schedule files are a JSON
    document on stdout too, shaped as ``validate --format json``: a program reading
    stdout learns why.  The lines for people still go to stderr; the exit code is 1."""
    try:
        yield
    except ProblemsFound as exc:
        if fmt == "json":
            click.echo(problems_json(exc.problems))
        raise


@click.command("validate")
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@click.option("-q", "--quiet", is_flag=True, help="Print nothing when the files are valid.")
@click.option(
    "--app",
    "app",
    metavar="MODULE:ATTR",
    help="Celery app: every task must be registered in it and its args/kwargs must fit "
    "the task's signature (imports the app; still never touches Redis).",
)
@format_option(
    "json: one document with the problems as objects (file, line, column, field, "
    "message); exit code as for text."
)
@click.pass_context
def command(
    ctx: click.Context, paths: tuple[str, ...], quiet: bool, app: str | None, fmt: str
) -> None:
    """Validate schedule files: every problem in every file, with file:line:column."""
    # Here, not at the top: the models (pydantic) load only when a command checks files.
    from ..fileformat.loader import SpecProblems, load_paths_checked
    from ..insights import notes
    from ._tasks import task_check

    check = task_check(app)

    def loaded_warnings(exc: ProblemsFound) -> list[str]:
        # The entries that loaded in spite of the problems still get their warnings.
        return notes.spec_warnings(exc.loaded) if isinstance(exc, SpecProblems) else []

    def body() -> int:
        if fmt == "json":
            return body_json()
        try:
            spec = load_paths_checked(list(paths), check)
        except ProblemsFound as exc:
            report_problems(exc, wrote_nothing=False)  # validate writes nothing, ever
            for line in loaded_warnings(exc):
                echo_err(f"warning: {line}")
            return EXIT_ERROR
        if not quiet:
            for line in notes.resolved_hashes(spec):
                click.echo(line)
        # Warnings never fail validation (exit 0), but are always shown.
        for line in notes.spec_warnings(spec):
            echo_err(f"warning: {line}")
        if not quiet:
            valid = "is valid" if len(spec.entries) == 1 else "are valid"
            click.echo(
                f"OK: {plural(len(spec.entries), 'entry')} in "
                f"{plural(len(spec.files), 'file')} {valid}."
            )
        return EXIT_OK

    def body_json() -> int:
        try:
            spec = load_paths_checked(list(paths), check)
        except ProblemsFound as exc:
            document = validate_json(exc.problems, loaded_warnings(exc), None, None)
            click.echo(json.dumps(document, indent=2))
            return EXIT_ERROR
        warnings = list(notes.spec_warnings(spec))
        document = validate_json([], warnings, len(spec.entries), len(spec.files))
        click.echo(json.dumps(document, indent=2))
        return EXIT_OK

    ctx.exit(run_guarded(body))

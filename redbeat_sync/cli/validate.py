"""``redbeat-sync validate PATHS``: check schedule files offline (no Redis)."""

from __future__ import annotations

import click

from ..insights import notes
from ..spec.loader import load_paths
from ._common import EXIT_OK, echo_err, run_guarded
from ._tasks import check_app_tasks


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
@click.pass_context
def command(ctx: click.Context, paths: tuple[str, ...], quiet: bool, app: str | None) -> None:
    """Validate schedule files: every problem in every file, with file:line:column."""

    def body() -> int:
        spec = load_paths(list(paths))
        check_app_tasks(spec, app)
        if not quiet:
            for line in notes.resolved_hashes(spec):
                click.echo(line)
        # Warnings never fail validation (exit 0), but are always shown.
        for line in notes.spec_warnings(spec):
            echo_err(f"warning: {line}")
        if not quiet:
            click.echo(f"OK: {len(spec.entries)} entries in {len(spec.files)} file(s) are valid.")
        return EXIT_OK

    ctx.exit(run_guarded(body))

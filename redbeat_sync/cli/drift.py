"""``redbeat-sync drift PATHS``: what differs between Redis and the files (a plan as drift)."""

from __future__ import annotations

import click

from ._common import (
    EXIT_CHANGES,
    EXIT_OK,
    Target,
    echo_err,
    format_option,
    run_guarded,
    target_options,
)
from .plan import app_task_check
from .validate import problems_as_json


@click.command("drift")
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@format_option("Output format.", markdown=True)
@click.option(
    "--detailed-exitcode",
    is_flag=True,
    help="Exit 0 when Redis matches the files, 2 when it drifted, 1 on error.",
)
@click.option(
    "--warn-only",
    is_flag=True,
    help="Report drift as warnings on stderr and exit 0 (even with --detailed-exitcode).",
)
@target_options
@click.pass_context
def command(
    ctx: click.Context,
    paths: tuple[str, ...],
    fmt: str,
    detailed_exitcode: bool,
    warn_only: bool,
    target: Target,
) -> None:
    """Report managed entries changed or deleted in Redis, and entries not applied yet.

    Read-only: writes nothing. Same comparison as `plan`, worded as drift.
    """
    # Here, not at the top: the use cases load redis and the models (cli/__init__).
    from .. import commands
    from ..drift import render_drift_json, render_drift_markdown, render_drift_text

    def body() -> int:
        with problems_as_json(fmt):
            drift = commands.drift(paths, target, app_task_check(target))
        if fmt == "json":
            click.echo(render_drift_json(drift))
        elif fmt == "markdown":
            click.echo(render_drift_markdown(drift), nl=False)
        else:
            click.echo(render_drift_text(drift), nl=False)
        if not drift.has_drift:
            return EXIT_OK
        if warn_only:
            for item in drift.items:
                echo_err(f"warning: drift: {item.name}: {item.kind.replace('_', ' ')}")
            return EXIT_OK
        return EXIT_CHANGES if detailed_exitcode else EXIT_OK

    ctx.exit(run_guarded(body))

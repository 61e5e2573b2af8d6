"""``redbeat-sync plan PATHS``: diff the schedule files against Redis."""

from __future__ import annotations

import shlex
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import click

from ._common import (
    EXIT_CHANGES,
    EXIT_OK,
    Target,
    format_option,
    run_guarded,
    target_options,
    use_color,
)
from .validate import problems_as_json

if TYPE_CHECKING:
    from ..commands import SpecCheck
    from ..fileformat.loader import Spec
    from ..plan.actions import Plan


def app_task_check(target: Target) -> SpecCheck:
    """With --app, the files' tasks must exist in the app and bind (else no check)."""

    def check(spec: Spec) -> None:
        from ._tasks import task_check  # here: loads the models (cli/__init__)

        task_check(target.app)(spec)

    return check


def apply_hint(out: str, target: Target) -> str:
    """The command that applies the saved plan to the Redis it was made against."""
    command = f"redbeat-sync apply {shlex.quote(out)}"
    if not target.url_has_secret:
        return f"apply it with: {command} {target.flags()}"
    return (
        f"apply it with: {command} {target.flags(with_url=False)}, giving the Redis URL "
        "(it holds a password, not repeated here) in REDBEAT_SYNC_REDIS_URL or --redis-url"
    )


def echo_plan(plan: Plan, fmt: str, color: bool | None, *, err: bool = False) -> None:
    # Here, not at the top: the renderers load the plan layer (start-up, cli/__init__).
    from ..plan.render_json import render_json
    from ..plan.render_markdown import render_markdown
    from ..plan.render_text import render_text

    if fmt == "json":
        click.echo(render_json(plan), err=err)
    elif fmt == "markdown":
        click.echo(render_markdown(plan), nl=False, err=err)
    else:
        colored = use_color(color, err=err)
        click.echo(render_text(plan, color=colored), nl=False, err=err, color=colored)


_Command = TypeVar("_Command", bound=Callable[..., Any])


def output_options(func: _Command) -> _Command:
    func = click.option(
        "--color/--no-color", "color", default=None, help="Force colour on or off (default: TTY)."
    )(func)
    func = format_option(
        "Output format (json: see README, 'Plan JSON format'; markdown: for PR comments).",
        markdown=True,
    )(func)
    return func


@click.command("plan")
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@output_options
@click.option(
    "--detailed-exitcode",
    is_flag=True,
    help="Exit 0 when there are no changes, 2 when there are, 1 on error.",
)
@click.option(
    "--out",
    "out",
    type=click.Path(dir_okay=False, writable=True),
    help="Save the plan (with a fingerprint of the state) for `apply PLANFILE`.",
)
@target_options
@click.pass_context
def command(
    ctx: click.Context,
    paths: tuple[str, ...],
    fmt: str,
    color: bool | None,
    detailed_exitcode: bool,
    out: str | None,
    target: Target,
) -> None:
    """Show what apply would create, update, reschedule, adopt and delete."""
    # Here, not at the top: the use cases load redis and the models (cli/__init__).
    from .. import commands
    from ..plan.planfile import save_plan

    def body() -> int:
        with problems_as_json(fmt):
            plan, _state = commands.plan_from_files(paths, target, app_task_check(target))
        echo_plan(plan, fmt, color)
        if out:
            save_plan(plan, out)
            click.echo(f"Saved the plan to {out}; {apply_hint(out, target)}", err=True)
        return EXIT_CHANGES if detailed_exitcode and plan.has_changes else EXIT_OK

    ctx.exit(run_guarded(body))

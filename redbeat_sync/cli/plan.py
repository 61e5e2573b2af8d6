"""``redbeat-sync plan PATHS``: diff the schedule files against Redis."""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from datetime import datetime, timezone

import click
import redis

from ..beat.runlog import worker_seen
from ..plan.actions import Plan
from ..plan.compare import compute_plan
from ..plan.planfile import save_plan
from ..plan.render_json import render_json
from ..plan.render_markdown import render_markdown
from ..plan.render_text import render_text
from ..spec.loader import load_paths
from ..state.model import State
from ..state.pause import read_pauses
from ..state.reader import read_state
from ._common import EXIT_CHANGES, EXIT_OK, Target, run_guarded, target_options, use_color
from ._tasks import check_app_tasks
from .validate import problems_as_json


def plan_from_files(
    paths: Sequence[str], target: Target, app: str | None = None
) -> tuple[Plan, State]:
    """Files → spec → (Redis) state → plan: the one path plan, apply and drift share.

    Bad files fail before Redis is touched; with ``--app`` unknown tasks and arguments
    that don't bind are problems too.
    """
    spec = load_paths(list(paths))
    check_app_tasks(spec, app)
    client = target.connect()
    state = read_state(client, target.layout, beat_timezone=target.beat_timezone)
    plan = compute_plan(
        spec,
        state,
        beat_timezone=target.beat_timezone,
        prefix=target.prefix,
        beat_timezone_assumed=target.beat_timezone_assumed,
    )
    plan.target = target.redis_target(client)
    add_operational_notes(client, target, plan)
    return plan, state


def add_operational_notes(client: redis.Redis, target: Target, plan: Plan) -> None:
    """Pauses of the planned entries (shown, never undone), and whether anyone
    reports the run ends ``overlap: skip`` relies on."""
    names = [a.name for a in plan.actions if a.kind != "delete"]
    paused = read_pauses(client, target.layout, names)
    now = datetime.now(timezone.utc)
    plan.paused = {n: p.describe() for n, p in paused.items() if p.active(now)}
    skip = sorted(
        a.name for a in plan.actions
        if a.desired is not None and a.desired.overlap == "skip"
    )  # fmt: skip
    if skip and not worker_seen(client, target.layout):
        plan.warnings.append(
            f"overlap: skip ({', '.join(skip[:5])}{', ...' if len(skip) > 5 else ''}) needs "
            "redbeat_sync.worker in the workers (Celery `imports`), and no worker has "
            "reported in: until one does, beat does not hold runs back"
        )


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
    if fmt == "json":
        click.echo(render_json(plan), err=err)
    elif fmt == "markdown":
        click.echo(render_markdown(plan), nl=False, err=err)
    else:
        colored = use_color(color, err=err)
        click.echo(render_text(plan, color=colored), nl=False, err=err, color=colored)


def output_options(func):  # type: ignore[no-untyped-def]
    func = click.option(
        "--color/--no-color", "color", default=None, help="Force colour on or off (default: TTY)."
    )(func)
    func = click.option(
        "--format",
        "fmt",
        type=click.Choice(["text", "json", "markdown"]),
        default="text",
        show_default=True,
        help="Output format (json: see README, 'Plan JSON format'; markdown: for PR comments).",
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

    def body() -> int:
        with problems_as_json(fmt):
            plan, _state = plan_from_files(paths, target, ctx.params.get("app"))
        echo_plan(plan, fmt, color)
        if out:
            save_plan(plan, out)
            click.echo(f"Saved the plan to {out}; {apply_hint(out, target)}", err=True)
        return EXIT_CHANGES if detailed_exitcode and plan.has_changes else EXIT_OK

    ctx.exit(run_guarded(body))

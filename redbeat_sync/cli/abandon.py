"""``redbeat-sync abandon NAME...``: stop managing entries, leaving them in Redis."""

from __future__ import annotations

import click

from ._common import EXIT_OK, Target, invocation, run_guarded, target_options
from .apply import confirm_or_refuse
from .plan import echo_plan


@click.command("abandon")
@click.argument("names", nargs=-1, required=True)
@click.option("--auto-approve", is_flag=True, help="Release without asking (for CI).")
@click.option(
    "--lock-timeout",
    default=30.0,
    show_default=True,
    help="Seconds to wait for another apply to finish.",
)
@click.option("-m", "--message", help="Note stored in the audit record.")
@click.option("--who", help="Who abandons (default: user@host).")
@click.option("--color/--no-color", "color", default=None, help="Force colour on or off.")
@target_options
@click.pass_context
def command(
    ctx: click.Context,
    names: tuple[str, ...],
    auto_approve: bool,
    lock_timeout: float,
    message: str | None,
    who: str | None,
    color: bool | None,
    target: Target,
) -> None:
    """Stop managing entries without deleting them (they keep running as they are).

    Remove them from the schedule files too, or the next apply adopts them again.
    """
    # Here, not at the top: the use cases load redis and the models (cli/__init__).
    from .. import commands
    from ..apply import apply_plan

    def body() -> int:
        client, plan = commands.abandon_plan(names, target)
        echo_plan(plan, "text", color)
        confirm_or_refuse(auto_approve, action="abandon")
        apply_plan(
            client,
            target.layout,
            plan,
            beat_timezone=target.beat_timezone,
            lock_timeout=lock_timeout,
            message=message or f"abandon {' '.join(sorted(set(names)))}",
            who=who,
            command=invocation(ctx),
            target_flags=target.flags(),
        )
        one = len(plan.actions) == 1
        click.echo(
            f"Released {len(plan.actions)} entr{'y' if one else 'ies'}: no longer managed, "
            f"left in Redis. Remove {'it' if one else 'them'} from the schedule files too, "
            "or the next apply manages "
            f"{'it' if one else 'them'} again."
        )
        return EXIT_OK

    ctx.exit(run_guarded(body))

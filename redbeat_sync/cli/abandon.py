"""``redbeat-sync abandon NAME...``: stop managing entries, leaving them in Redis."""

from __future__ import annotations

from datetime import datetime, timezone

import click

from ..apply import apply_plan
from ..errors import UserError
from ..plan.actions import Action, Plan
from ..state.model import State
from ..state.reader import read_state
from ._common import EXIT_OK, Target, invocation, run_guarded, target_options
from .apply import confirm_or_refuse
from .plan import echo_plan


def release_plan(state: State, names: tuple[str, ...], *, prefix: str, beat_timezone: str) -> Plan:
    """A plan releasing ``names`` (UserError naming every name that is not managed)."""
    unknown = [name for name in names if name not in state.inventory]
    if unknown:
        raise UserError(
            f"not managed by redbeat-sync ({prefix}): {', '.join(sorted(unknown))}; "
            "nothing was changed"
        )
    actions = []
    for name in sorted(set(names)):
        stored = state.entries.get(name)
        note = "no longer managed; left in Redis as it is"
        if stored is None:
            note = "already gone from Redis: only forgets it"
        actions.append(Action("release", name, None, stored, warnings=[note]))
    return Plan(
        actions=actions,
        fingerprint=state.fingerprint,
        unmanaged=[],
        prefix=prefix,
        created_at=datetime.now(timezone.utc),
        beat_timezone=beat_timezone,
    )


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

    def body() -> int:
        client = target.connect()
        state = read_state(client, target.layout, beat_timezone=target.beat_timezone)
        plan = release_plan(state, names, prefix=target.prefix, beat_timezone=target.beat_timezone)
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

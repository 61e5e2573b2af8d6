"""``redbeat-sync force-unlock LOCK_ID``: release a sync lock left by a dead apply."""

from __future__ import annotations

import click

from ..errors import UserError
from ._common import EXIT_OK, Target, connection_options, run_guarded


@click.command("force-unlock")
@click.argument("lock_id")
@connection_options
@click.pass_context
def command(ctx: click.Context, lock_id: str, target: Target) -> None:
    """Remove the apply lock LOCK_ID (shown in the error of a waiting apply)."""
    from ..state.synclock import force_unlock, read_sync_lock  # loads redis (cli/__init__)

    def body() -> int:
        client = target.connect()
        current = read_sync_lock(client, target.layout)
        if current is None:
            raise UserError("no sync lock is held")
        if not force_unlock(client, target.layout, lock_id):
            raise UserError(
                f"lock id {lock_id!r} does not match the held lock "
                f"({current.get('id')} by {current.get('holder')}); nothing removed"
            )
        click.echo(f"Released sync lock {lock_id} (held by {current.get('holder')}).")
        return EXIT_OK

    ctx.exit(run_guarded(body))

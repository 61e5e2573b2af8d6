"""``redbeat-sync move-prefix --to PREFIX``: move a deployment to another key prefix.

For RedBeat deployments on Redis Cluster, whose default prefix ``redbeat:`` spans
hash slots: ``--to '{redbeat}:'`` moves every entry with its run history, the
inventory and the statics set (see ``state.prefix_move``).  Stop every beat first;
safe to run again.
"""

from __future__ import annotations

import click

from ..state.layout import Layout
from ._common import EXIT_OK, Target, run_guarded, target_options


@click.command("move-prefix")
@click.option(
    "--to",
    "to_prefix",
    required=True,
    metavar="PREFIX",
    help="The new key prefix, e.g. '{redbeat}:' (a hash tag keeps it in one Cluster slot).",
)
@target_options
@click.pass_context
def command(ctx: click.Context, to_prefix: str, target: Target) -> None:
    """Move every key of the deployment at --key-prefix (or the app's) to --to."""
    # Here, not at the top: these load redis (cli/__init__).
    from ..state.prefix_move import move_prefix
    from ..state.topology import check_cluster_prefix

    def body() -> int:
        client = target.connect(check_prefix=False)
        new = Layout(to_prefix)
        check_cluster_prefix(client, new)  # the new prefix must fit one slot
        result = move_prefix(client, target.layout, new)
        if result.already_moved:
            click.echo(
                f"Nothing left under {target.prefix!r}: the move is already done "
                f"({result.entries} entries and {result.managed} managed names are under "
                f"{to_prefix!r}). Set redbeat_key_prefix = {to_prefix!r} (and "
                "--key-prefix) before starting beat again."
            )
            return EXIT_OK
        click.echo(
            f"Moved {result.entries} entries (run history kept), {result.managed} managed "
            f"names, {result.statics} static names and {result.history} apply records "
            f"from {target.prefix!r} to {to_prefix!r}. Set redbeat_key_prefix = "
            f"{to_prefix!r} (and --key-prefix) before starting beat again."
        )
        return EXIT_OK

    ctx.exit(run_guarded(body))

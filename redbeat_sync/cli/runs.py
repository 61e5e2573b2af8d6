"""``redbeat-sync runs NAME``: the entry's recent runs, newest first."""

from __future__ import annotations

import json

import click

from ..errors import UserError
from ._common import EXIT_OK, Target, format_option, run_guarded, target_options


def run_line(record: dict[str, object]) -> str:
    """One run in one line: slot, state, sent, host, runtime, error."""
    state = str(record.get("state") or "?")
    skipped = state == "skipped"
    count = record.get("count")
    if skipped and isinstance(count, int) and count > 1:
        state = f"skipped x{count}"  # consecutive skips are kept as one record
    verb = "decided" if skipped else "sent"  # a skipped run never went to the broker
    parts = [
        str(record.get("slot") or record.get("kind") or "-"),
        state,
        f"{verb} {record.get('sent_at') or '-'} by {record.get('host') or '?'}",
    ]
    if record.get("runtime") is not None:
        parts.append(f"{float(record['runtime']):.3f}s")  # type: ignore[arg-type]
    if record.get("reason"):
        parts.append(f"({record['reason']})")
    if record.get("error"):
        parts.append(str(record["error"]))
    return "  ".join(parts)


@click.command("runs")
@click.argument("name")
@click.option(
    "-n", "count", type=click.IntRange(1, 1000), default=20, show_default=True,
    help="How many runs (the history keeps redbeat_sync_run_history, default 20).",
)  # fmt: skip
@format_option("text: a table; json: the runs as objects.")
@target_options
@click.pass_context
def command(ctx: click.Context, name: str, count: int, fmt: str, target: Target) -> None:
    """Recent runs of entry NAME: what beat sent and, with redbeat_sync.worker on the
    workers, how each run ended."""
    # Here, not at the top: these load redis (cli/__init__).
    from ..beat.runlog import read_runs, worker_seen
    from ..state.reader import read_entries

    def body() -> int:
        client = target.connect()
        runs = read_runs(client, target.layout, name, count)
        if not runs and not read_entries(client, target.layout, [name]):
            raise UserError(f"no such entry: {name}")
        if fmt == "json":
            click.echo(json.dumps({"name": name, "runs": runs}, indent=2))
            return EXIT_OK
        if not runs:
            click.echo(f"{name}: no runs recorded yet")
        for record in runs:
            click.echo(run_line(record))
        if runs and not worker_seen(client, target.layout):
            click.echo("(no worker imports redbeat_sync.worker: outcomes are not reported)")
        return EXIT_OK

    ctx.exit(run_guarded(body))

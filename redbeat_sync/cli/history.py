"""``redbeat-sync history``: the audit trail every apply appends to."""

from __future__ import annotations

import json

import click

from ..state.audit import read_history
from ._common import EXIT_OK, Target, run_guarded, target_options


@click.command("history")
@click.option("-n", "--count", default=20, show_default=True, help="How many records.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text")
@target_options
@click.pass_context
def command(ctx: click.Context, count: int, fmt: str, target: Target) -> None:
    """Show the most recent applies (newest first)."""

    def body() -> int:
        records = read_history(target.connect(), target.layout, count)
        if fmt == "json":
            click.echo(json.dumps(records, indent=2, default=str))
            return EXIT_OK
        if not records:
            click.echo("No applies recorded.")
        for rec in records:
            counts = rec.get("counts") or {}
            if isinstance(counts, str):
                counts = json.loads(counts)
            summary = ", ".join(f"{v} {k}" for k, v in counts.items() if v) or "no changes"
            line = f"{rec.get('when', '?')}  {rec.get('who', '?')}  {summary}"
            if rec.get("git_sha"):
                line += f"  git {str(rec['git_sha'])[:12]}"
            if rec.get("message"):
                line += f"  — {rec['message']}"
            click.echo(line)
        return EXIT_OK

    ctx.exit(run_guarded(body))

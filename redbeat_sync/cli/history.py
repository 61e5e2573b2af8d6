"""``redbeat-sync history``: the audit trail every apply appends to."""

from __future__ import annotations

import json
from typing import Any

import click

from ..plan.kinds import KINDS
from ._common import EXIT_OK, Target, connection_options, format_option, run_guarded

#: Operations outside plans (pause, resume, run now) beside the plan's action kinds.
PAST_TENSE = {
    **{kind.label: kind.past for kind in KINDS.values() if kind.writes != "nothing"},
    "pause": "paused",
    "resume": "resumed",
    "run": "ran now",
}
#: Names shown per kind on a text line; ``--format json`` gives all the record holds.
NAMES_SHOWN = 5


def _changes_text(record: dict[str, Any], *, planned: bool = False) -> str:
    from ..state.audit import CHANGE_KINDS, OPERATION_KINDS  # loads redis (cli/__init__)

    changes = record.get("changes")
    if isinstance(changes, dict):
        parts = []
        for kind in (*CHANGE_KINDS, *OPERATION_KINDS):
            item = changes.get(kind)
            if not isinstance(item, dict) or not item.get("count"):
                continue
            names = [str(n) for n in item.get("names", [])][:NAMES_SHOWN]
            more = item["count"] - len(names)
            listed = ", ".join(names) + (f" and {more} more" if more > 0 else "")
            parts.append(f"{kind if planned else PAST_TENSE.get(kind, kind)} {listed}")
        return "; ".join(parts) or "no changes"
    # Records from before names were kept: counts only, without no-ops and unmanaged.
    counts = record.get("counts") or {}
    if isinstance(counts, str):
        counts = json.loads(counts)
    shown = [f"{v} {k}" for k, v in counts.items() if v and k in CHANGE_KINDS]
    return ", ".join(shown) or "no changes"


def format_record(record: dict[str, Any]) -> str:
    line = f"{record.get('when', '?')}  {record.get('who', '?')}  "
    outcome = record.get("outcome", "applied")
    if outcome == "applied":
        line += _changes_text(record)
    else:
        # The names are what the plan meant to do; "written" is what landed.
        line += f"[{str(outcome).upper()}] planned: {_changes_text(record, planned=True)}"
        written = record.get("written")
        if isinstance(written, dict):
            skip = ("batches", "in_flight_batch")
            landed = ", ".join(f"{v} {k}" for k, v in written.items() if v and k not in skip)
            line += f"; written: {landed or 'nothing'}"
            if written.get("in_flight_batch"):
                line += f" (batch {written['in_flight_batch']} may or may not have landed)"
    if record.get("git_sha"):
        line += f"  git {str(record['git_sha'])[:12]}"
    if record.get("message"):
        line += f"  — {record['message']}"
    if outcome != "applied" and record.get("error"):
        line += f"\n    {record['error']}"
    return line


@click.command("history")
@click.option(
    "-n",
    "--count",
    type=click.IntRange(min=1),
    default=20,
    show_default=True,
    help="How many records (at least 1).",
)
@click.option(
    "--entry",
    "entry",
    metavar="NAME",
    help="Only applies that changed this entry (created, updated, deleted, moved...).",
)
@format_option("text: one line per apply; json: the records as objects.")
@connection_options
@click.pass_context
def command(ctx: click.Context, count: int, entry: str | None, fmt: str, target: Target) -> None:
    """Show the most recent applies (newest first), with the entries each one changed.

    Refused, failed and interrupted applies are recorded too, with what they wrote.
    """
    # Here, not at the top: loads redis (cli/__init__).
    from ..state.audit import DEFAULT_MAXLEN, read_history, record_is_complete

    def body() -> int:
        client = target.connect()
        records = read_history(client, target.layout, count, entry=entry)
        if fmt == "json":
            click.echo(json.dumps(records, indent=2, default=str))
            return EXIT_OK
        if not records:
            click.echo(f"No applies of {entry!r} recorded." if entry else "No applies recorded.")
        for record in records:
            click.echo(format_record(record))
        if entry:
            whole = DEFAULT_MAXLEN * 2  # enough to read the whole (approximately capped) stream
            large = [
                r for r in read_history(client, target.layout, whole) if not record_is_complete(r)
            ]
            if large:
                click.echo(
                    f"({len(large)} apply record(s) list only the first names of each kind "
                    f"(large applies, or records older than names): {entry!r} may be among "
                    "their unlisted names)"
                )
        return EXIT_OK

    ctx.exit(run_guarded(body))

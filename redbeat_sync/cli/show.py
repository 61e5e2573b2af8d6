"""``redbeat-sync show``: what is stored in Redis right now, and who holds the locks."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import click

from ..schedule.describe import describe_schedule, plural
from ._common import EXIT_OK, Target, format_option, run_guarded, target_options

if TYPE_CHECKING:
    from ..schedule.entry import Entry
    from ..state.stored import StoredEntry

SCOPES = ("all", "managed", "unmanaged")


def _local(moment: datetime | None, entry: Entry) -> str:
    if moment is None:
        return "-"
    return moment.astimezone(_zone(entry)).strftime("%Y-%m-%d %H:%M:%S %Z")


def _zone(entry: Entry) -> ZoneInfo:
    try:
        return ZoneInfo(entry.timezone)
    except (KeyError, ValueError):
        return ZoneInfo("UTC")


def _instant(moment: datetime | None, entry: Entry | None) -> dict[str, str] | None:
    """A moment for machines: ISO-8601 in UTC and in the entry's zone (None: none)."""
    if moment is None:
        return None
    utc = moment.astimezone(timezone.utc)
    local = utc.astimezone(_zone(entry)) if entry is not None else utc
    return {"utc": utc.isoformat(), "local": local.isoformat()}


def describe_json(stored: StoredEntry, now: datetime) -> dict[str, Any]:
    """One entry for ``show --format json``: real values and nulls, no display text."""
    from ..schedule.timing import next_due  # loads dateutil (cli/__init__)

    entry = stored.entry
    run = stored.run
    ran = run.total_run_count > 0  # RedBeat's creation stamp is not a run (see describe)
    row: dict[str, Any] = {
        "name": stored.name,
        "managed": stored.managed,
        "task": entry.task if entry else None,
        "schedule": entry.schedule.to_canonical() if entry else None,
        "schedule_text": describe_schedule(entry.schedule) if entry else None,
        "timezone": entry.timezone if entry else None,
        "enabled": entry.enabled if entry else None,
        "total_run_count": run.total_run_count,
        "last_run": _instant(run.last_run_at, entry) if ran else None,
        "next_run": None,
        "requires_scheduler": list(stored.requires_scheduler),
        "error": stored.error,
    }
    if entry is not None and entry.enabled:
        row["next_run"] = _instant(next_due(entry, run.last_run_at, now), entry)
    return row


def describe(stored: StoredEntry, now: datetime) -> dict[str, Any]:
    from ..schedule.timing import next_due  # loads dateutil (cli/__init__)

    row: dict[str, Any] = {
        "name": stored.name,
        "managed": stored.managed,
        "total_run_count": stored.run.total_run_count,
    }
    entry = stored.entry
    if entry is None:
        # Unknown, like the task: the entry could not be read.
        row.update(task="?", schedule=f"unreadable: {stored.error}", enabled="?")
        row.update(last_run="-", next_run="-")
        return row
    due = next_due(entry, stored.run.last_run_at, now) if entry.enabled else None
    row.update(
        task=entry.task,
        schedule=describe_schedule(entry.schedule),
        timezone=entry.timezone,
        enabled=entry.enabled,
        # RedBeat stamps last_run_at at creation so a new entry doesn't fire at once:
        # with no run counted, that stamp is not a run.
        last_run=_local(stored.run.last_run_at, entry) if stored.run.total_run_count else "never",
        next_run=_local(due, entry) if entry.enabled else "disabled",
        requires_scheduler=list(stored.requires_scheduler),
    )
    return row


def _outcome_cell(record: dict[str, Any] | None) -> str:
    """The newest run's state; a manual run (``redbeat-sync run``) says so, as it
    counts no run: LAST RUN (RedBeat's meta) may say ``never`` beside it."""
    if not record:
        return "-"
    state = str(record.get("state") or "-")
    return f"{state} (manual run)" if record.get("kind") == "manual" else state


def _table(rows: list[dict[str, Any]]) -> str:
    columns = (
        "name", "task", "schedule", "enabled", "last_run", "outcome", "next_run", "managed",
    )  # fmt: skip
    headers = (
        "NAME", "TASK", "SCHEDULE", "ENABLED", "LAST RUN", "OUTCOME", "NEXT RUN", "MANAGED",
    )  # fmt: skip
    cells = [
        ["yes" if r[c] is True else "no" if r[c] is False else str(r[c]) for c in columns]
        for r in rows
    ]
    widths = [max([len(h)] + [len(row[i]) for row in cells]) for i, h in enumerate(headers)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip()]
    lines += [
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells
    ]
    return "\n".join(lines)


def beats_lines(client: Any, target: Target) -> list[str]:
    """The beats line, then every beat with a heartbeat record, the lock holder first
    (beat/heartbeat.py).  A record outlives a killed beat until its TTL: only beats
    that ticked lately count as alive, the others are listed as silent."""
    from ..beat.heartbeat import describe_beat

    beats = read_beats_now(client, target)
    if not beats:
        return ["beats: 0 alive (no heartbeat)"]
    silent = sum(1 for b in beats if not b["alive"])
    head = f"beats: {len(beats) - silent} alive" + (f", {silent} silent" if silent else "")
    return [head + ":", *(f"  {describe_beat(b)}" for b in beats)]


def read_beats_now(client: Any, target: Target) -> list[dict[str, Any]]:
    from ..beat.heartbeat import read_beats
    from ..beat.lock import read_beat_lock

    holder = read_beat_lock(client, target.layout)
    return read_beats(client, target.layout, lock_id=holder["id"] if holder else None)


def beat_lock_line(client: Any, target: Target) -> str:
    from ..beat.lock import read_beat_lock

    holder = read_beat_lock(client, target.layout)
    if not holder:
        return "beat lock: free (no beat is leading)"
    known = ", ".join(f"{k}={v}" for k, v in holder.items() if v is not None)
    return "beat lock: held by " + known  # celery-redbeat's token says no host/pid/since


@click.command("show")
@click.option(
    "--which",
    type=click.Choice(SCOPES),
    default="all",
    show_default=True,
    help="managed: entries redbeat-sync manages; unmanaged: the others under the prefix.",
)
@format_option("json: ISO-8601 times (UTC and the entry's zone) and nulls (README: show JSON).")
@target_options
@click.pass_context
def command(ctx: click.Context, which: str, fmt: str, target: Target) -> None:
    """List stored entries: task, schedule, enabled, last and next run, ownership."""
    # Here, not at the top: these load redis (cli/__init__).
    from ..beat.runlog import latest_outcomes
    from ..state.pause import read_pauses
    from ..state.reader import read_state
    from ..state.synclock import read_sync_lock

    def body() -> int:
        client = target.connect()
        state = read_state(client, target.layout, beat_timezone=target.beat_timezone)
        now = datetime.now(timezone.utc)
        stored = sorted(state.entries.values(), key=lambda s: s.name)
        if which != "all":
            stored = [s for s in stored if s.managed == (which == "managed")]
        sync_lock = read_sync_lock(client, target.layout)
        names = [s.name for s in stored]
        pauses = {n: p for n, p in read_pauses(client, target.layout, names).items()
                  if p.active(now)}  # fmt: skip
        latest = latest_outcomes(client, target.layout, names)
        if fmt == "json":
            rows = [describe_json(s, now) for s in stored]
            for row in rows:
                pause = pauses.get(row["name"])
                row["paused"] = pause.describe() if pause else None
                row["last_outcome"] = latest.get(row["name"])
            from ..beat.heartbeat import beat_json

            beats = [beat_json(b) for b in read_beats_now(client, target)]
            out = {"entries": rows, "sync_lock": sync_lock, "beats": beats}
            click.echo(json.dumps(out, indent=2, default=str))
            return EXIT_OK
        rows = [describe(s, now) for s in stored]
        for row in rows:
            row["outcome"] = _outcome_cell(latest.get(row["name"]))
            if row["name"] in pauses:
                row["next_run"] = pauses[row["name"]].describe()
        click.echo(_table(rows) if rows else "No entries stored.")
        managed = sum(1 for s in stored if s.managed)
        click.echo(
            f"\n{plural(len(rows), 'entry')} ({managed:,} managed, "
            f"{len(rows) - managed:,} unmanaged)."
        )
        click.echo(beat_lock_line(client, target))
        for line in beats_lines(client, target):
            click.echo(line)
        if sync_lock:
            click.echo(
                f"sync lock: held by {sync_lock.get('holder')} since {sync_lock.get('since')} "
                f"(id {sync_lock.get('id')})"
            )
        return EXIT_OK

    ctx.exit(run_guarded(body))

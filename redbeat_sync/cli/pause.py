"""``redbeat-sync pause`` / ``resume``: stop and restart entries without a deploy.

A pause is an overlay (``state/pause.py``): plan, drift and apply leave it alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING

import click

from ..errors import UserError
from ..schedule.durations import parse_duration
from ._common import EXIT_OK, F, Target, run_guarded, target_options

if TYPE_CHECKING:
    import redis

UTC = timezone.utc

#: Said by every pause: what the overlay does and does not stop.
REDBEAT_NOTE = (
    "Note: only redbeat_sync.Scheduler honours a pause. celery-redbeat's own scheduler "
    "does not read it: the parked score keeps it away only until something rewrites "
    "the entry's score (an apply changing the entry, a save())."
)


def parse_until(text: str, now: datetime) -> datetime:
    """``--until``: a duration from now (``30m``, ``2h``) or an ISO time (UTC if no zone)."""
    try:
        return now + timedelta(seconds=parse_duration(text, positive=True))
    except ValueError:
        pass
    # Python 3.10's fromisoformat does not read a trailing "Z" (UTC); later ones do.
    iso = text[:-1] + "+00:00" if text[-1:] in ("Z", "z") else text
    try:
        moment = datetime.fromisoformat(iso)
    except ValueError:
        raise UserError(
            f"--until {text!r}: expected a duration (30m, 2h, 1d) or an ISO time "
            "(2026-01-31T18:00, UTC unless it names a zone)"
        ) from None
    moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    if moment <= now:
        raise UserError(f"--until {text!r} is in the past")
    return moment


def _shown(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds")


def select_names(
    target: Target, client: redis.Redis, names: Sequence[str], labels: Sequence[str], every: bool
) -> list[str]:
    """The entries named, matched by ``--label K=V`` (all must match), or all of them;
    an unknown name is an error (nothing is written)."""
    from ..state.reader import read_entries, read_state  # loads redis (cli/__init__)

    if sum(bool(x) for x in (names, labels, every)) != 1:
        raise UserError("give entry NAMEs, --label K=V, or --all (exactly one of them)")
    if names:
        found = read_entries(client, target.layout, names, beat_timezone=target.beat_timezone)
        missing = sorted(set(names) - set(found))
        if missing:
            raise UserError(f"no such entry: {', '.join(missing)}; nothing changed")
        return sorted(set(names))
    wanted: dict[str, str] = {}
    for item in labels:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UserError(f"--label {item!r}: expected KEY=VALUE")
        wanted[key] = value
    state = read_state(client, target.layout, beat_timezone=target.beat_timezone)
    chosen = [
        name
        for name, stored in state.entries.items()
        if stored.entry is not None
        and stored.score is not None
        and all(stored.entry.labels.get(k) == v for k, v in wanted.items())
    ]
    if not chosen:
        raise UserError("no entry matches; nothing changed")
    return sorted(chosen)


def _selection(func: F) -> F:
    func = click.option("--all", "every", is_flag=True, help="Every entry.")(func)
    func = click.option(
        "--label", "labels", multiple=True, metavar="K=V",
        help="Entries whose labels match (repeatable: all must match).",
    )(func)  # fmt: skip
    func = click.option("--who", help="Who does it (default: user@host).")(func)
    return click.argument("names", nargs=-1)(func)


@click.command("pause")
@_selection
@click.option(
    "-m", "--reason", required=True, help="Why (kept in the audit trail and shown by plan)."
)
@click.option(
    "--until", "until_text", metavar="TIME|DURATION",
    help="Resume by itself then: 30m, 2h, or an ISO time (UTC unless zoned).",
)  # fmt: skip
@target_options
@click.pass_context
def pause_command(
    ctx: click.Context, names: tuple[str, ...], labels: tuple[str, ...], every: bool,
    who: str | None, reason: str, until_text: str | None, target: Target,
) -> None:  # fmt: skip
    """Pause entries: redbeat_sync.Scheduler sends nothing for them until resumed.

    A pause is an operational overlay, not drift: plan, drift and apply keep it.
    celery-redbeat's own scheduler does not honour it (README: Pause and resume).
    """
    # Here, not at the top: loads redis (cli/__init__).
    from ..state.pause import pause, read_pauses
    from ..state.synclock import default_holder

    def body() -> int:
        now = datetime.now(UTC)
        until = parse_until(until_text, now) if until_text else None
        client = target.connect()
        chosen = select_names(target, client, names, labels, every)
        before = read_pauses(client, target.layout, chosen)
        pause(client, target.layout, chosen, who=who or default_holder(), reason=reason,
              until=until, now=now)  # fmt: skip
        end = f" until {until.isoformat(timespec='seconds')}" if until else ""
        click.echo(f"Paused {len(chosen)} entr{'y' if len(chosen) == 1 else 'ies'}{end}: "
                   + ", ".join(chosen[:20]) + (" ..." if len(chosen) > 20 else ""))  # fmt: skip
        # A pause replaces the one in place: say so, its end may have moved.
        again = [(n, before[n].until) for n in chosen if n in before and before[n].active(now)]
        now_ends = f"now paused until {_shown(until)}" if until else "now paused with no end"
        for name, was in again[:20]:
            was_text = f"was paused until {_shown(was)}" if was else "was paused with no end"
            click.echo(f"{name} {was_text}; {now_ends}")
        if len(again) > 20:
            click.echo(f"... and {len(again) - 20} more already paused; {now_ends}")
        click.echo(REDBEAT_NOTE)
        return EXIT_OK

    ctx.exit(run_guarded(body))


@click.command("resume")
@_selection
@click.option("-m", "--reason", help="Why (kept in the audit trail).")
@click.option("--catch-up", is_flag=True,
              help="Let each entry's misfire policy decide the slots missed while paused "
                   "(default: skip them, no burst on resume).")  # fmt: skip
@target_options
@click.pass_context
def resume_command(
    ctx: click.Context, names: tuple[str, ...], labels: tuple[str, ...], every: bool,
    who: str | None, reason: str | None, catch_up: bool, target: Target,
) -> None:  # fmt: skip
    """Resume paused entries; slots missed while paused are skipped unless --catch-up."""
    # Here, not at the top: loads redis (cli/__init__).
    from ..state.pause import read_pauses, resume
    from ..state.synclock import default_holder

    def body() -> int:
        client = target.connect()
        if every:
            chosen = sorted(read_pauses(client, target.layout))
        else:
            chosen = select_names(target, client, names, labels, every)
            paused = read_pauses(client, target.layout, chosen)
            chosen = [n for n in chosen if n in paused] if labels else chosen
            not_paused = sorted(set(chosen) - set(paused))
            if not_paused:
                raise UserError(f"not paused: {', '.join(not_paused)}; nothing changed")
        if not chosen:
            raise UserError("nothing is paused; nothing changed")
        resume(client, target.layout, chosen, who=who or default_holder(), reason=reason,
               catch_up=catch_up)  # fmt: skip
        missed = "left to each entry's misfire policy" if catch_up else "skipped"
        click.echo(f"Resumed {len(chosen)} entr{'y' if len(chosen) == 1 else 'ies'} "
                   f"(slots missed while paused: {missed}): " + ", ".join(chosen[:20])
                   + (" ..." if len(chosen) > 20 else ""))  # fmt: skip
        return EXIT_OK

    ctx.exit(run_guarded(body))

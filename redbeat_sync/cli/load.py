"""``redbeat-sync load PATHS``: runs per minute per queue, peaks and pile-ups."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import click

from ..insights import DEFAULT_PILEUP, WINDOWS
from ._common import EXIT_OK, Target, format_option, run_guarded, target_options

if TYPE_CHECKING:
    from ..schedule.entry import Entry


@click.command("load")
@click.argument("paths", nargs=-1, type=click.Path())
@click.option(
    "--window",
    type=click.Choice(sorted(WINDOWS)),
    default="24h",
    show_default=True,
    help="How far ahead to count runs.",
)
@click.option(
    "--by",
    default="queue",
    show_default=True,
    metavar="queue|label:NAME",
    help="Group by options.queue ('default' when unset) or by a label, e.g. label:team.",
)
@click.option(
    "--pileup",
    type=click.IntRange(min=2),
    default=DEFAULT_PILEUP,
    show_default=True,
    help="Warn when at least this many entries start in the same minute.",
)
@format_option("text: a report for people; json: the same figures as one document.")
@click.option(
    "--from-redis",
    is_flag=True,
    help="Count the entries stored in Redis (see the target options), with or without PATHS.",
)
@target_options
@click.pass_context
def command(
    ctx: click.Context,
    paths: tuple[str, ...],
    window: str,
    by: str,
    pileup: int,
    fmt: str,
    from_redis: bool,
    target: Target,
) -> None:
    """Show when runs start over the next 24 h or 7 days: peaks, pile-ups, histogram."""
    if by != "queue" and not (by.startswith("label:") and len(by) > len("label:")):
        raise click.BadParameter("expected queue or label:NAME", param_hint="--by")
    if not paths and not from_redis:
        raise click.UsageError("give schedule files (PATHS) or --from-redis")
    # Here, not at the top: these load the models and the schedule arithmetic (cli/__init__).
    from ..fileformat.loader import load_paths
    from ..insights import load as load_view

    def body() -> int:
        entries: list[Entry] = []
        if paths:
            entries += [item.entry for item in load_paths(list(paths)).entries]
        if from_redis:
            from ..state.reader import read_state

            state = read_state(target.connect(), target.layout, beat_timezone=target.beat_timezone)
            entries += [s.entry for s in state.entries.values() if s.entry is not None]
        report = load_view.compute_load(entries, window=window, by=by, threshold=pileup)
        if fmt == "json":
            click.echo(json.dumps(load_view.to_json(report), indent=2))
        else:
            click.echo(load_view.render_text(report), nl=False)
        return EXIT_OK

    ctx.exit(run_guarded(body))

"""``redbeat-sync export``: write what Redis holds as v1 schedule files."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from ..errors import UserError
from ..schedule.describe import plural
from ._common import (
    EXIT_OK,
    Target,
    echo_err,
    make_output_dir,
    run_guarded,
    target_options,
    write_output_file,
)
from ._schema_header import schema_ref_for

if TYPE_CHECKING:
    from ..schedule.entry import Entry

SCOPES = ("all", "managed", "unmanaged")


@click.command("export")
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False),
    help="Directory to write managed.yaml / unmanaged.yaml into (default: stdout).",
)
@click.option(
    "--which",
    type=click.Choice(SCOPES),
    default="all",
    show_default=True,
    help="managed: entries redbeat-sync manages; unmanaged: the others under the prefix "
    "(export them to take them over).",
)
@click.option("--force", is_flag=True, help="Overwrite existing files in --out.")
@target_options
@click.pass_context
def command(
    ctx: click.Context, out_dir: str | None, which: str, force: bool, target: Target
) -> None:
    """Export stored entries as YAML; `plan` on the result adopts or no-ops them."""
    # Here, not at the top: these load redis and the models (cli/__init__).
    from ..fileformat.dump import dump_entries
    from ..fileformat.models import CELERY_BUILTIN_ENTRIES, builtin_entry_note
    from ..plan.compare import zone_from_beat
    from ..state.reader import read_state

    def body() -> int:
        client = target.connect()
        state = read_state(client, target.layout, beat_timezone=target.beat_timezone)
        groups = {"managed": state.managed, "unmanaged": state.unmanaged}
        wanted = list(groups) if which == "all" else [which]
        selected: dict[str, list[Entry]] = {}
        in_assumed_zone = 0  # crontabs written with a zone nobody gave (see below)
        for group in wanted:
            selected[group] = []
            for name, stored in sorted(groups[group].items()):
                if name in CELERY_BUILTIN_ENTRIES:
                    echo_err(f"note: not exported: {builtin_entry_note(name)}")
                elif stored.entry is None:
                    echo_err(f"warning: skipped {name!r}: cannot decode it ({stored.error})")
                else:
                    selected[group].append(stored.entry)
                    in_assumed_zone += bool(target.beat_timezone_assumed and zone_from_beat(stored))
        if in_assumed_zone:
            echo_err(
                f"note: assumed beat timezone {target.beat_timezone} for "
                f"{plural(in_assumed_zone, 'cron entry', 'cron entries')} (no --app or "
                "--beat-timezone): celery-redbeat runs a crontab in the Celery app's "
                "timezone; export again with --app if that is not "
                f"{target.beat_timezone}"
            )
        if out_dir is None:
            everything = [e for entries in selected.values() for e in entries]
            ref = schema_ref_for(Path.cwd() / "stdout.yaml")  # redirected here, most likely
            click.echo(dump_entries(everything, schema_ref=ref), nl=False)
            return EXIT_OK
        directory = Path(out_dir)
        make_output_dir(directory)
        ref = schema_ref_for(directory / "managed.yaml")  # both files share the directory
        for group, entries in selected.items():
            if not entries and which == "all":
                continue
            path = directory / f"{group}.yaml"
            if path.exists() and not force:
                raise UserError(f"{path} exists; pass --force to overwrite it")
            write_output_file(path, dump_entries(entries, schema_ref=ref))
            echo_err(f"wrote {path} ({plural(len(entries), 'entry')})")
        return EXIT_OK

    ctx.exit(run_guarded(body))

"""``redbeat-sync import --from-app module:attr``: beat_schedule -> v1 YAML."""

from __future__ import annotations

from pathlib import Path

import click

from ..errors import UserError
from ._common import (
    EXIT_ERROR,
    EXIT_OK,
    echo_err,
    load_celery_app,
    run_guarded,
    write_output_file,
)
from ._schema_header import schema_ref_for


@click.command("import")
@click.option(
    "--from-app",
    "from_app",
    required=True,
    metavar="MODULE:ATTR",
    help="Celery app whose beat_schedule setting is converted (like celery -A).",
)
@click.option(
    "--out",
    "out",
    type=click.Path(dir_okay=False),
    help="Write the YAML to this file (default: standard output).",
)
@click.option("--force", is_flag=True, help="Overwrite --out if it exists.")
@click.option(
    "--skip-unconvertible",
    is_flag=True,
    help="Write the entries that convert and exit 0 even if some do not.",
)
@click.pass_context
def command(
    ctx: click.Context, from_app: str, out: str | None, force: bool, skip_unconvertible: bool
) -> None:
    """Turn a Celery app's beat_schedule into a schedule file (v1 YAML).

    Entries that cannot be converted (unknown schedule types, arguments that are not
    JSON) are listed; nothing is written and the exit code is 1 unless
    --skip-unconvertible.
    """
    # Here, not at the top: these load Celery and the models (cli/__init__).
    from ..beat_import import convert_beat_schedule
    from ..fileformat.dump import dump_entries

    def body() -> int:
        if out and Path(out).exists() and not force:  # as export --out does
            raise UserError(f"{out} exists; pass --force to overwrite it")
        try:
            app = load_celery_app(from_app)
        except click.BadParameter as exc:
            exc.param_hint = "--from-app"  # the loader names --app, the other commands' flag
            raise
        try:
            entries, skipped = convert_beat_schedule(app)
        except ValueError as exc:
            raise UserError(str(exc)) from exc
        if not entries and not skipped:
            raise UserError(f"{from_app} has no beat_schedule entries: nothing to import")
        for item in skipped:
            echo_err(f"cannot convert {item.format()}")
        if skipped and not skip_unconvertible:
            echo_err(
                f"Error: {len(skipped)} of {len(entries) + len(skipped)} beat_schedule entries "
                "cannot be converted; nothing was written (--skip-unconvertible writes the rest)."
            )
            return EXIT_ERROR
        text = dump_entries(entries, schema_ref=schema_ref_for(Path(out or "stdout.yaml")))
        if out:
            write_output_file(Path(out), text)
            echo_err(f"Wrote {len(entries)} entries to {out}.")
        else:
            click.echo(text, nl=False)
        return EXIT_OK

    ctx.exit(run_guarded(body))

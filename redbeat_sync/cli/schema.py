"""``redbeat-sync schema``: print or vendor the JSON Schema of the schedule file format."""

from __future__ import annotations

from pathlib import Path

import click

from ..errors import UserError
from ..fileformat.schema import VENDORED_SCHEMA, schema_text
from ._common import EXIT_OK, echo_err, run_guarded


@click.command("schema")
@click.option(
    "--out",
    "out",
    type=click.Path(dir_okay=False),
    metavar="PATH",
    help=(
        f"Write the schema to this file (directories are created), e.g. {VENDORED_SCHEMA}: "
        "export and import then point their $schema header at it."
    ),
)
@click.pass_context
def command(ctx: click.Context, out: str | None) -> None:
    """Print the JSON Schema generated from the pydantic models (or write it with --out)."""

    def body() -> int:
        text = schema_text()
        if out is None:
            click.echo(text, nl=False)
            return EXIT_OK
        path = Path(out)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
        except OSError as exc:
            raise UserError(f"cannot write {out}: {exc.strerror or exc}") from exc
        echo_err(f"wrote {out}")
        return EXIT_OK

    ctx.exit(run_guarded(body))

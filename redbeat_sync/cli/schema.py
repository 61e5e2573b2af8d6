"""``redbeat-sync schema``: print the JSON Schema of the schedule file format."""

from __future__ import annotations

import json

import click

from ..spec.schema import json_schema


@click.command("schema")
def command() -> None:
    """Print the JSON Schema generated from the pydantic models."""
    click.echo(json.dumps(json_schema(), indent=2, sort_keys=False))

"""GitHub's workflow commands (``::name key=value::message``), written safely.

The runner reads these from the step's stdout.  Values are escaped the way the runner
unescapes them, so a message or a file name can hold ``%``, ``:``, ``,`` or line
breaks without ending the command early.  Output we do not write ourselves (the CLI's,
which may quote a schedule file from a pull request) is fenced with
``::stop-commands::`` so nothing in it can be read as a command.
"""

from __future__ import annotations

import secrets
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TextIO


def escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def command(name: str, message: str = "", **properties: str | int | None) -> str:
    """One workflow command line; properties that are None or empty are left out."""
    props = ",".join(
        f"{key}={escape_property(str(value))}"
        for key, value in properties.items()
        if value not in (None, "")
    )
    return f"::{name}{' ' + props if props else ''}::{escape_data(message)}"


def emit(
    name: str, message: str = "", *, out: TextIO | None = None, **properties: str | int | None
) -> None:
    print(command(name, message, **properties), file=out or sys.stdout, flush=True)


@contextmanager
def group(title: str, *, out: TextIO | None = None) -> Iterator[None]:
    """A collapsed section of the job log."""
    emit("group", title, out=out)
    try:
        yield
    finally:
        emit("endgroup", out=out)


@contextmanager
def commands_stopped(*, out: TextIO | None = None) -> Iterator[None]:
    """Nothing printed inside is a workflow command (an unguessable resume token)."""
    token = secrets.token_hex(16)
    emit("stop-commands", token, out=out)
    try:
        yield
    finally:
        print(f"::{token}::", file=out or sys.stdout, flush=True)

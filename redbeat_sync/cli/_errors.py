"""The exit codes the CLI promises, whatever goes wrong.

0: done (no changes, with ``--detailed-exitcode``); 1: any error, click's usage errors
included; 2: changes or drift (``--detailed-exitcode``) and nothing else; 3: a bug in
redbeat-sync itself; 141: the reader of stdout went away (``redbeat-sync show | head``),
quietly, as a Unix tool killed by SIGPIPE.  CI reads 2 as "has changes", so a typo'd
option must not exit 2 (click's own usage-error code), and a bug must not look like the
user's mistake.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from typing import Any

import click

from .. import __version__
from ..redact import redact

EXIT_OK, EXIT_ERROR, EXIT_CHANGES, EXIT_BUG = 0, 1, 2, 3
EXIT_PIPE_CLOSED = 128 + 13  # 128 + SIGPIPE: what a shell reports for `yes | head -1`


class ExitCodeGroup(click.Group):
    """A click group whose standalone run exits only with the codes above."""

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, False, **extra)
        try:
            code = super().main(args, prog_name, complete_var, False, **extra)
        except click.ClickException as exc:  # usage errors, bad parameters: the user's
            exc.show()
            code = EXIT_ERROR
        except click.Abort:  # Ctrl-C at a prompt, or an interrupted command
            click.echo("Aborted!", err=True)
            code = EXIT_ERROR
        except Exception:  # anything else escaping is our bug
            code = report_bug()
        sys.exit(code if isinstance(code, int) else EXIT_OK)

    def invoke(self, ctx: click.Context) -> Any:
        # Here, not in ``main``: click's own main turns a broken pipe into exit 1.
        try:
            return super().invoke(ctx)
        except BrokenPipeError:
            ctx.exit(stdout_closed())


def stdout_closed() -> int:
    """The reader closed our stdout: stop without a word.  Python would still try to
    flush stdout at exit and print "Exception ignored ... BrokenPipeError": point it at
    /dev/null first (the Python docs' advice for SIGPIPE)."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # no real stdout file descriptor (a test runner)
        pass
    return EXIT_PIPE_CLOSED


def report_bug() -> int:
    """Save the current exception's traceback to a file and say where, in one line."""
    import tempfile  # here, not at the top: only a bug needs them (start-up, cli/__init__)
    import traceback

    kind = sys.exc_info()[0]
    details = redact(
        f"redbeat-sync {__version__}, Python {sys.version.split()[0]}\n" + traceback.format_exc()
    )
    name = kind.__name__ if kind else "error"
    try:
        with tempfile.NamedTemporaryFile(
            "w", prefix="redbeat-sync-bug-", suffix=".txt", delete=False, encoding="utf-8"
        ) as handle:
            handle.write(details)
        where = f"details saved to {handle.name}"
    except OSError:  # no writable temp dir: the traceback is all we can give
        click.echo(details, err=True)
        where = "details above"
    click.echo(
        f"Error: this is a bug in redbeat-sync ({name}), please report it; {where}",
        err=True,
    )
    return EXIT_BUG

"""The exit codes the CLI promises, whatever goes wrong.

0: done (no changes, with ``--detailed-exitcode``); 1: any error, click's usage errors
included; 2: changes or drift (``--detailed-exitcode``) and nothing else; 3: a bug in
redbeat-sync itself. CI reads 2 as "has changes", so a typo'd option must not exit 2
(click's own usage-error code), and a bug must not look like the user's mistake.
"""

from __future__ import annotations

import sys
import tempfile
import traceback
from collections.abc import Sequence
from typing import Any

import click

from .. import __version__
from ..redact import redact

EXIT_OK, EXIT_ERROR, EXIT_CHANGES, EXIT_BUG = 0, 1, 2, 3


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


def report_bug() -> int:
    """Save the current exception's traceback to a file and say where, in one line."""
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

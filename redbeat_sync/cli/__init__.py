"""The ``redbeat-sync`` command line: a thin face over spec, state, plan and apply.

One module per command (like pre-commit); this file only names them.  Start-up is
part of the interface (issue 11): a command's module is imported when that command
runs (``--help`` imports them all, for their short help), and each module imports at
its top only click and light modules of ours; what the work needs (the use cases,
redis, Celery, the pydantic models) is imported inside the command.
tests/test_cli_startup.py checks which modules a command loads.
"""

from __future__ import annotations

from importlib import import_module

import click

from .. import __version__
from ._errors import ExitCodeGroup

#: Command name -> ``module:attribute`` in this package.  The help lives with the
#: command (its docstring and options), nowhere else.
COMMANDS = {
    "abandon": "abandon:command",
    "apply": "apply:command",
    "drift": "drift:command",
    "export": "export:command",
    "force-unlock": "force_unlock:command",
    "health": "health:command",
    "history": "history:command",
    "import": "import_:command",
    "load": "load:command",
    "move-prefix": "move_prefix:command",
    "pause": "pause:pause_command",
    "plan": "plan:command",
    "resume": "pause:resume_command",
    "run": "run:command",
    "runs": "runs:command",
    "schema": "schema:command",
    "show": "show:command",
    "validate": "validate:command",
}


class _CommandsOnUse(ExitCodeGroup):
    """A group that imports a command's module only when the command is asked for."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in COMMANDS:
            # A typo: click suggests a name from ``self.commands``, so fill it (rare path).
            self.commands.update((name, _load(name)) for name in COMMANDS)
            return None
        return _load(cmd_name)


def _load(name: str) -> click.Command:
    module, _, attribute = COMMANDS[name].partition(":")
    command = getattr(import_module(f"{__name__}.{module}"), attribute)
    assert isinstance(command, click.Command) and command.name == name, COMMANDS[name]
    return command


@click.group(
    cls=_CommandsOnUse,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.version_option(__version__, prog_name="redbeat-sync")
def main() -> None:
    """Celery beat schedules as code, on RedBeat's Redis layout.

    Typical loop: validate the YAML files, plan against Redis, review, apply.
    """

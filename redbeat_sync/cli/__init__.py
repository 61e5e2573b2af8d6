"""The ``redbeat-sync`` command line: a thin face over spec, state, plan and apply.

One module per command (like pre-commit); this file only assembles the group.
"""

from __future__ import annotations

import click

from .. import __version__
from . import abandon as abandon_cmd
from . import apply as apply_cmd
from . import drift as drift_cmd
from . import export as export_cmd
from . import force_unlock as force_unlock_cmd
from . import health as health_cmd
from . import history as history_cmd
from . import import_ as import_cmd
from . import load as load_cmd
from . import move_prefix as move_prefix_cmd
from . import pause as pause_cmd
from . import plan as plan_cmd
from . import run as run_cmd
from . import runs as runs_cmd
from . import schema as schema_cmd
from . import show as show_cmd
from . import validate as validate_cmd
from ._errors import ExitCodeGroup


@click.group(
    cls=ExitCodeGroup,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.version_option(__version__, prog_name="redbeat-sync")
def main() -> None:
    """Celery beat schedules as code, on RedBeat's Redis layout.

    Typical loop: validate the YAML files, plan against Redis, review, apply.
    """


for _module in (
    validate_cmd,
    plan_cmd,
    apply_cmd,
    export_cmd,
    show_cmd,
    schema_cmd,
    history_cmd,
    load_cmd,
    force_unlock_cmd,
    drift_cmd,
    abandon_cmd,
    import_cmd,
    move_prefix_cmd,
    run_cmd,
    runs_cmd,
    health_cmd,
):
    main.add_command(_module.command)
main.add_command(pause_cmd.pause_command)
main.add_command(pause_cmd.resume_command)

"""``python -m redbeat_sync`` is the ``redbeat-sync`` command."""

from .cli import main

main(prog_name="redbeat-sync")

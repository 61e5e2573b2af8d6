"""The GitHub Action (action.yml) as a Python package: ``python -m redbeat_sync.gha``.

The action installs redbeat-sync into its own virtual environment, then runs this
with its inputs in ``INPUT_*`` environment variables (the names GitHub gives
JavaScript actions).  Every redbeat-sync command runs as a subprocess
(``python -m redbeat_sync ...``) so the job log and the exit codes are exactly the
CLI's; this package only wires them to GitHub: the job summary, one pull-request
comment kept up to date, file annotations, step outputs.

Commands (input ``command``):

- ``validate``: check the files, offline; problems become file annotations.
- ``plan``: validate, then ``plan --detailed-exitcode --out FILE``; the saved plan is
  rendered as Markdown into the job summary and, on a pull request, into ONE comment
  found again by a hidden marker (``<!-- redbeat-sync-plan:PREFIX -->``) and edited
  in place on every push.  Changes are success unless ``fail-on-changes``.
- ``apply``: validate, plan to a file, ``apply FILE --auto-approve`` (so exactly the
  summarized plan is applied, and a state that moved in between is refused).
- ``drift``: validate, then ``redbeat-sync drift --detailed-exitcode``; drift (exit 2)
  fails the step unless ``drift-warn-only``.

Modules: ``inputs`` (reading and checking the inputs), ``masking`` (secrets),
``github`` (the runner's files and the comment API), ``workflow_commands`` (``::…::``
lines), ``clirun`` (the CLI, streamed live), ``annotations`` (problems on the diff),
``run`` (the steps above).

Secrets: the Redis URL reaches the CLI only through ``REDBEAT_SYNC_REDIS_URL`` (never
on a command line), is masked with ``::add-mask::`` (with its password alone), and
every text written to the log, the summary, a comment or an output is scrubbed of it
and of the token.
"""

from __future__ import annotations

from .github import CommentError, GitHub, IssueComments, comment_marker, upsert_comment
from .inputs import COMMANDS, INPUTS, ActionError, input_env_name, read_flag, read_input
from .masking import Secrets
from .run import OUTPUTS, Run, main

__all__ = [
    "COMMANDS",
    "INPUTS",
    "OUTPUTS",
    "ActionError",
    "CommentError",
    "GitHub",
    "IssueComments",
    "Run",
    "Secrets",
    "comment_marker",
    "input_env_name",
    "main",
    "read_flag",
    "read_input",
    "upsert_comment",
]

"""Running ``redbeat-sync`` as a subprocess, its output streamed live into the job log.

The job log shows exactly what the CLI prints, as it prints it (a long apply is not a
silent step that dumps its output at the end), scrubbed of secrets line by line and
fenced so that nothing in it can act as a workflow command.  Both streams are also
kept, separately, for the job summary and the pull-request comment.
"""

from __future__ import annotations

import shlex
import subprocess
import sys
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import IO, TextIO

import click

from .inputs import ActionError
from .masking import Secrets
from .workflow_commands import commands_stopped, group

#: How the action starts the CLI: this interpreter, so the action's own venv.
CLI = (sys.executable, "-m", "redbeat_sync")


@dataclass(frozen=True)
class CliResult:
    code: int
    stdout: str
    stderr: str


def stream_command(
    argv: Sequence[str],
    env: Mapping[str, str],
    secrets: Secrets,
    *,
    out: TextIO | None = None,
) -> CliResult:
    """Run ``argv``; copy each line of its stdout and stderr to ``out`` as it comes."""
    out = out or sys.stdout
    write_lock = threading.Lock()
    child_env = dict(env)
    child_env["PYTHONUNBUFFERED"] = "1"  # a Python child writes each line at once
    process = subprocess.Popen(
        list(argv),
        env=child_env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        encoding="utf-8",
        errors="replace",
        bufsize=1,
    )
    kept: dict[str, list[str]] = {"stdout": [], "stderr": []}

    def pump(stream: IO[str], into: list[str]) -> None:
        for line in stream:
            line = secrets.scrub(line)
            into.append(line)
            with write_lock:
                out.write(line if line.endswith("\n") else line + "\n")
                out.flush()

    assert process.stdout is not None and process.stderr is not None
    pumps = [
        threading.Thread(target=pump, args=(process.stdout, kept["stdout"]), daemon=True),
        threading.Thread(target=pump, args=(process.stderr, kept["stderr"]), daemon=True),
    ]
    for thread in pumps:
        thread.start()
    code = process.wait()
    for thread in pumps:
        thread.join()
    return CliResult(code, "".join(kept["stdout"]), "".join(kept["stderr"]))


def run_cli(args: Sequence[str], env: Mapping[str, str], secrets: Secrets) -> CliResult:
    """``redbeat-sync ARGS`` in a collapsible group of the job log, output live."""
    with group(f"redbeat-sync {secrets.scrub(shlex.join(args))}"):
        with commands_stopped():
            result = stream_command([*CLI, *args], env, secrets)
        print(f"(exit code {result.code})", flush=True)
    return result


def check_cli_args(args: Sequence[str], *, blame: str) -> None:
    """Parse ``args`` as the CLI will, without running anything.

    A typo in ``extra-args`` becomes one error naming the input, before any command
    runs, instead of a usage error in the middle of the job.
    """
    from ..cli import main

    name, *rest = args
    command = main.get_command(click.Context(main), name)
    if command is None:
        raise ActionError(f"{blame}: redbeat-sync has no command {name!r}")
    try:
        command.make_context(name, list(rest))
    except click.exceptions.UsageError as exc:
        raise ActionError(f"{blame}: redbeat-sync {name}: {exc.format_message()}") from None
    except click.exceptions.Exit:  # --help, --version: eager options that end the command
        raise ActionError(f"{blame}: redbeat-sync {name} would only print its help") from None

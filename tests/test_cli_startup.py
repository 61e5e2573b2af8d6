"""Which modules a command imports: CLI start-up reflects the layering (issue 11).

Each command runs in a fresh interpreter that reports ``sys.modules`` when it ends.
``--help`` (the group's and every command's) loads none of Celery, kombu, redis,
pydantic, croniter or our pydantic models; ``validate`` loads neither Celery, kombu
nor redis unless ``--app`` names a Celery app, whose tasks it then checks.  How long
start-up takes is bench/bench_startup.py's to say, not a test's.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from redbeat_sync.cli import COMMANDS, main

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("celery", "kombu", "redis", "pydantic", "croniter", "redbeat_sync.fileformat.models")
SERVER = ("celery", "kombu", "redis")

# Runs ``redbeat-sync ARGS`` as ``python -m redbeat_sync`` does, then writes the names
# of the modules it imported to the file given first.
_RUNNER = """
import json, runpy, sys
out = sys.argv.pop(1)
sys.argv[0] = "redbeat-sync"
try:
    runpy.run_module("redbeat_sync", run_name="__main__", alter_sys=True)
finally:
    with open(out, "w", encoding="utf-8") as handle:
        json.dump(sorted(sys.modules), handle)
"""


def imported(tmp_path: Path, *args: str, cwd: Path = ROOT) -> tuple[int, set[str], str]:
    """(exit code, modules imported, output) of ``redbeat-sync ARGS`` in a new process."""
    out = tmp_path / "modules.json"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(cwd)])}
    done = subprocess.run(
        [sys.executable, "-c", _RUNNER, str(out), *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    return (
        done.returncode,
        set(json.loads(out.read_text(encoding="utf-8"))),
        done.stdout + done.stderr,
    )


def loaded(modules: set[str], roots: tuple[str, ...]) -> list[str]:
    return sorted(
        root for root in roots if any(m == root or m.startswith(root + ".") for m in modules)
    )


def test_the_runner_sees_what_a_command_imports(tmp_path: Path) -> None:
    """The check can fail: a command that needs redis is seen importing it."""
    code, modules, output = imported(tmp_path, "show", "--redis-url", "redis://127.0.0.1:1/0")
    assert code == 1, output  # nothing listens there: one error line, exit 1
    assert loaded(modules, SERVER) == ["redis"]


def test_help_imports_nothing_heavy(tmp_path: Path) -> None:
    code, modules, output = imported(tmp_path, "--help")
    assert code == 0, output
    assert all(name in output for name in COMMANDS)  # every command, with its short help
    assert loaded(modules, HEAVY) == []


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_a_commands_help_imports_nothing_heavy(tmp_path: Path, name: str) -> None:
    code, modules, output = imported(tmp_path, name, "--help")
    assert code == 0, output
    assert loaded(modules, HEAVY) == []


def test_validate_imports_no_celery_and_no_redis(tmp_path: Path) -> None:
    code, modules, output = imported(tmp_path, "validate", "examples/")
    assert code == 0, output
    assert "OK: " in output
    assert loaded(modules, SERVER) == []


def test_validate_with_app_checks_tasks_with_celery(tmp_path: Path) -> None:
    (tmp_path / "startup_app.py").write_text(
        "from celery import Celery\n"
        "app = Celery('startup_app', set_as_current=False)\n"
        "@app.task(name='jobs.add')\n"
        "def add(x, y):\n"
        "    return x + y\n",
        encoding="utf-8",
    )
    (tmp_path / "s.yaml").write_text(
        "version: 1\nentries:\n"
        "  ok: {task: jobs.add, schedule: {every: 1m}, args: [1, 2]}\n"
        "  typo: {task: jobs.ad, schedule: {every: 1m}}\n",
        encoding="utf-8",
    )
    code, modules, output = imported(
        tmp_path, "validate", "s.yaml", "--app", "startup_app:app", cwd=tmp_path
    )
    assert code == 1, output
    assert "unknown task 'jobs.ad'" in output and "did you mean 'jobs.add'?" in output
    assert "celery" in loaded(modules, SERVER)
    assert "redis" not in loaded(modules, SERVER)  # still offline


def test_every_command_is_named_once_with_its_own_name() -> None:
    """The table in cli/__init__ and the commands agree (a typo would fail --help)."""
    context = click.Context(main)
    for name in COMMANDS:
        command = main.get_command(context, name)
        assert command is not None and command.name == name
    assert main.get_command(context, "no-such-command") is None


def test_a_mistyped_command_still_gets_a_suggestion() -> None:
    result = CliRunner().invoke(main, ["valdate", "x.yaml"])
    assert result.exit_code == 1
    assert "No such command 'valdate'." in result.output
    if hasattr(click.exceptions, "NoSuchCommand"):  # click 8.4+ suggests
        assert "Did you mean 'validate'?" in result.output

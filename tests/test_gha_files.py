"""The action's files: action.yml, the workflows, the pinned dependencies, install.sh.

The workflows cannot run here; they are checked against SchemaStore's GitHub schemas
as vendored by check-jsonschema (offline), plus its rule that every job has a timeout.
"""

from __future__ import annotations

import importlib.metadata
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
WORKFLOWS = [ROOT / "docs" / "github-workflow.yml", *sorted(ROOT.glob(".github/workflows/*.yml"))]
CONSTRAINTS = ROOT / "action" / "constraints.txt"


def check_jsonschema(schema: str, *files: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "check_jsonschema", "--builtin-schema", schema, *map(str, files)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


# --------------------------------------------------------------------------- schemas


def test_action_yml_is_a_valid_github_action() -> None:
    done = check_jsonschema("vendor.github-actions", ROOT / "action.yml")
    assert done.returncode == 0, done.stdout + done.stderr


def test_workflows_are_valid_and_every_job_has_a_timeout() -> None:
    assert any(".github" in str(path) for path in WORKFLOWS)  # the self-test exists
    for schema in ("vendor.github-workflows", "custom.github-workflows-require-timeout"):
        done = check_jsonschema(schema, *WORKFLOWS)
        assert done.returncode == 0, done.stdout + done.stderr


def test_the_schema_checks_reject_broken_files(tmp_path: Path) -> None:
    no_runner = tmp_path / "no-runner.yml"
    no_runner.write_text("on: push\njobs:\n  a:\n    steps:\n      - run: 'true'\n")
    assert check_jsonschema("vendor.github-workflows", no_runner).returncode == 1
    no_timeout = tmp_path / "no-timeout.yml"
    no_timeout.write_text(
        "on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n      - run: 'true'\n"
    )
    assert check_jsonschema("vendor.github-workflows", no_timeout).returncode == 0
    assert check_jsonschema("custom.github-workflows-require-timeout", no_timeout).returncode == 1
    bad_action = tmp_path / "action.yml"
    bad_action.write_text("name: x\ndescription: y\nruns:\n  using: composite\n")
    assert check_jsonschema("vendor.github-actions", bad_action).returncode == 1


# --------------------------------------------------------------------------- action.yml


def action_steps() -> list[dict[str, object]]:
    action = yaml.safe_load((ROOT / "action.yml").read_text())
    steps: list[dict[str, object]] = action["runs"]["steps"]
    return steps


def test_the_action_leaves_the_jobs_python_alone() -> None:
    steps = action_steps()
    (setup,) = [s for s in steps if str(s.get("uses", "")).startswith("actions/setup-python@")]
    assert isinstance(setup["with"], dict)
    assert str(setup["with"]["update-environment"]).lower() == "false"
    runs = [str(s.get("run", "")) for s in steps]
    # pip only ever runs inside install.sh, on the action's venv; nothing else installs.
    assert not any("pip" in run for run in runs)
    assert runs.count('bash "$GITHUB_ACTION_PATH/action/install.sh" install') == 1
    install = (ROOT / "action" / "install.sh").read_text()
    assert '"$PYTHON" -m venv "$venv"' in install
    assert re.findall(r"-m pip install", install) == ["-m pip install"] * 2
    assert all("--constraint" in line for line in install.splitlines() if "pip install" in line)
    (run_step,) = [s for s in steps if s.get("id") == "run"]
    assert run_step["run"] == '"$ACTION_PYTHON" -m redbeat_sync.gha'
    assert isinstance(run_step["env"], dict)
    assert run_step["env"]["ACTION_PYTHON"] == "${{ steps.install.outputs.python }}"
    for step in steps:  # no step touches the job's environment or PATH
        assert "GITHUB_ENV" not in str(step.get("run", ""))
        assert "GITHUB_PATH" not in str(step.get("run", ""))
    assert "GITHUB_ENV" not in install and "GITHUB_PATH" not in install


def test_the_pip_cache_lives_under_the_action_path() -> None:
    (cache,) = [s for s in action_steps() if str(s.get("uses", "")).startswith("actions/cache@")]
    assert isinstance(cache["with"], dict)
    assert cache["with"]["path"] == "${{ github.action_path }}/.action-env/pip-cache"
    assert cache["with"]["key"] == "${{ steps.key.outputs.key }}"
    assert 'PIP_CACHE_DIR="$home/pip-cache"' in (ROOT / "action" / "install.sh").read_text()


# --------------------------------------------------------------------------- pins


def pins() -> dict[str, str]:
    found: dict[str, str] = {}
    for line in CONSTRAINTS.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, sep, version = line.partition("==")
            assert sep and re.fullmatch(r"[0-9][0-9A-Za-z.+!-]*", version), line
            found[canonicalize_name(name)] = version
    return found


def runtime_closure() -> set[str]:
    """redbeat-sync's runtime dependencies, transitively, as installed here."""
    pyproject = (ROOT / "pyproject.toml").read_text()
    block = pyproject.split("dependencies = [", 1)[1].split("]", 1)[0]
    todo = [Requirement(r) for r in re.findall(r'"([^"]+)"', block)]
    direct = {canonicalize_name(r.name) for r in todo}  # all of them, whatever the marker
    seen: set[str] = set()
    while todo:
        requirement = todo.pop()
        name = canonicalize_name(requirement.name)
        if name in seen:
            continue
        seen.add(name)
        try:
            requires = importlib.metadata.requires(requirement.name) or []
        except importlib.metadata.PackageNotFoundError:
            continue  # a marker-only dependency not installed here (e.g. tzdata on Windows)
        for text in requires:
            sub = Requirement(text)
            if sub.marker is None or sub.marker.evaluate({"extra": ""}):
                todo.append(sub)
    return seen | direct


def test_every_runtime_dependency_has_a_pin() -> None:
    pinned = pins()
    missing = runtime_closure() - set(pinned)
    assert not missing, f"add to {CONSTRAINTS.name}: {sorted(missing)}"
    assert {"setuptools", "wheel"} <= set(pinned)  # install.sh builds without isolation


def test_marker_dependencies_of_other_pythons_are_pinned() -> None:
    """Python 3.10 pulls packages 3.11 does not (async-timeout, exceptiongroup)."""
    py310 = {"python_version": "3.10", "python_full_version": "3.10.14", "extra": ""}
    pinned = pins()
    for name in sorted(pinned):
        try:
            requires = importlib.metadata.requires(name) or []
        except importlib.metadata.PackageNotFoundError:
            continue
        for text in requires:
            sub = Requirement(text)
            marker = sub.marker
            if marker is not None and "extra" not in str(marker) and marker.evaluate(py310):
                assert canonicalize_name(sub.name) in pinned, f"{name} needs {sub}"


# --------------------------------------------------------------------------- install.sh


def test_install_key_follows_the_pins(tmp_path: Path) -> None:
    """The cache key (a real run of install.sh's first step) changes with any pin."""
    action = tmp_path / "action-copy"
    (action / "action").mkdir(parents=True)
    shutil.copy(ROOT / "action" / "install.sh", action / "action")
    shutil.copy(CONSTRAINTS, action / "action")
    shutil.copy(ROOT / "pyproject.toml", action)

    def key() -> str:
        output = tmp_path / "output"
        output.write_text("")
        env = {**os.environ, "GITHUB_ACTION_PATH": str(action), "GITHUB_OUTPUT": str(output),
               "PYTHON": sys.executable}  # fmt: skip
        subprocess.run(["bash", str(action / "action" / "install.sh"), "key"], env=env, check=True)
        (line,) = output.read_text().splitlines()
        assert line.startswith("key=redbeat-sync-action-")
        return line

    first = key()
    assert first == key()
    pinned = action / "action" / "constraints.txt"
    pinned.write_text(pinned.read_text().replace("redis==", "redis==0", 1))
    assert key() != first


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_no_workflow_pastes_an_expression_into_a_script(path: Path) -> None:
    """``${{ }}`` inside ``run:`` is script injection; values go through ``env:``."""
    workflow = yaml.safe_load(path.read_text())
    for job in workflow["jobs"].values():
        for step in job.get("steps", []):
            assert "${{" not in step.get("run", ""), step

"""What a distribution gets: the sdist and the wheel built from this checkout.

Built with setuptools' PEP 517 backend (the build-system this pyproject names) from a
copy of the checkout, so the build leaves nothing behind in it.
"""

from __future__ import annotations

import ast
import email
import re
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

import redbeat_sync

ROOT = Path(__file__).resolve().parents[1]
COPIED = ["pyproject.toml", "README.md", "LICENSE", "MANIFEST.in"]
TREES = ["redbeat_sync", "tests", "devsupport", "bench"]


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(sdist, wheel) built from a copy of the checkout."""
    src = tmp_path_factory.mktemp("src")
    out = tmp_path_factory.mktemp("dist")
    for name in COPIED:
        shutil.copy2(ROOT / name, src / name)
    for name in TREES:
        shutil.copytree(
            ROOT / name, src / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc")
        )
    code = (
        # build_meta rewrites sys.argv, so the arguments are read first
        "import sys, pathlib; out, record = sys.argv[1:3];"
        "from setuptools import build_meta as b;"
        "names = [b.build_sdist(out), b.build_wheel(out)];"
        "pathlib.Path(record).write_text(' '.join(names))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(out), str(src / "built.txt")],
        cwd=src, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    sdist_name, wheel_name = (src / "built.txt").read_text().split()
    return out / sdist_name, out / wheel_name


def test_the_license_ships_in_the_sdist_and_the_wheel(built: tuple[Path, Path]) -> None:
    sdist, wheel = built
    with tarfile.open(sdist) as tar:
        assert any(name.endswith("/LICENSE") for name in tar.getnames())
    with zipfile.ZipFile(wheel) as whl:
        assert any(name.endswith(".dist-info/licenses/LICENSE") for name in whl.namelist())


def test_metadata_has_an_spdx_license_and_the_one_version(built: tuple[Path, Path]) -> None:
    with zipfile.ZipFile(built[1]) as whl:
        name = next(n for n in whl.namelist() if n.endswith(".dist-info/METADATA"))
        meta = email.message_from_bytes(whl.read(name))
    assert meta["License-Expression"] == "MIT"
    assert meta["Version"] == redbeat_sync.__version__
    assert meta.get_all("Classifier") and meta.get_all("Project-URL") and meta["Keywords"]
    requires = " ".join(meta.get_all("Requires-Dist") or [])
    assert "python-dateutil" in requires  # imported directly
    assert "deepdiff" not in requires  # nothing imports it


def test_the_sdist_ships_no_half_test_suite(built: tuple[Path, Path]) -> None:
    with tarfile.open(built[0]) as tar:
        names = tar.getnames()
    assert not [n for n in names if "/tests/" in n or "/devsupport/" in n]


def test_the_wheel_holds_the_runtime_package_only(built: tuple[Path, Path]) -> None:
    with zipfile.ZipFile(built[1]) as whl:
        tops = {name.split("/")[0] for name in whl.namelist()}
        names = whl.namelist()
    assert {t for t in tops if not t.endswith(".dist-info")} == {"redbeat_sync"}
    assert "redbeat_sync/py.typed" in names
    assert "redbeat_sync/state/lua/apply.lua" in names


#: Import name -> the distribution that provides it, where the two differ; kombu comes
#: with Celery, which pins the kombu it runs on.
_PROVIDED_BY = {"yaml": "pyyaml", "dateutil": "python-dateutil", "kombu": "celery"}


def _requirement_name(requirement: str) -> str:
    return re.split(r"[\s<>=!~;\[]", requirement, maxsplit=1)[0].lower()


def test_every_third_party_import_is_a_declared_requirement() -> None:
    """Each module the package imports outside the standard library comes from a
    runtime dependency or an extra (solar, metrics): croniter, for one, is test-only."""
    tomllib = pytest.importorskip("tomllib", reason="tomllib is in Python 3.11+")
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    extras = project["optional-dependencies"]
    requirements = [*project["dependencies"], *extras["solar"], *extras["metrics"]]
    declared = {_requirement_name(r).replace("_", "-") for r in requirements}
    imported: dict[str, str] = {}
    for path in (ROOT / "redbeat_sync").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                if top not in sys.stdlib_module_names and top not in ("__future__", "redbeat_sync"):
                    imported.setdefault(top, str(path.relative_to(ROOT)))
    undeclared = {
        name: where
        for name, where in imported.items()
        if _PROVIDED_BY.get(name, name).lower().replace("_", "-") not in declared
    }
    assert not undeclared, undeclared
    assert "croniter" not in imported

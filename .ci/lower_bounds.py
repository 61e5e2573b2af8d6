"""Print a pip constraints file that pins every runtime dependency (and the solar
extra) to the lowest version pyproject.toml allows: ``name>=X`` becomes ``name==X``.

    python .ci/lower_bounds.py > floors.txt
    PIP_CONSTRAINT=floors.txt pip install -e '.[test]'

Test tools float (the floors are a promise about what users install, not about pytest),
except where a tool's newest release breaks at our floors without declaring it.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import tomllib

REQUIREMENT = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(\[[^\]]*\])?\s*([^;]*?)\s*(;.*)?$")
FLOOR = re.compile(r">=\s*([^,\s]+)")

#: test tools whose newest release needs more than it declares
TEST_TOOL_CAPS = [
    "check-jsonschema<0.38",  # 0.38 subclasses click.ParamType[...]: click 8.4+ only
]


def lower_bounds(pyproject: Path) -> list[str]:
    project = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]
    requirements = [*project["dependencies"], *project["optional-dependencies"]["solar"]]
    pins = []
    for requirement in requirements:
        match = REQUIREMENT.match(requirement)
        if match is None:
            raise SystemExit(f"cannot read requirement {requirement!r}")
        name, _extras, spec, marker = match.groups()
        floor = FLOOR.search(spec)
        if floor is None:
            continue  # no floor to test (e.g. tzdata on Windows)
        pins.append(f"{name}=={floor.group(1)}{' ' + marker if marker else ''}")
    return [*pins, *TEST_TOOL_CAPS]


if __name__ == "__main__":
    root = Path(__file__).resolve().parents[1]
    sys.stdout.write("".join(f"{pin}\n" for pin in lower_bounds(root / "pyproject.toml")))

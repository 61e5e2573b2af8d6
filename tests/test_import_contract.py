"""The import contract of ARCHITECTURE.md, checked over the package's import graph.

Layers from the faces down to the domain: a module imports its own room, its own layer
or layers below, never above.  And no two modules import each other, not even through an
import inside a function (``if TYPE_CHECKING`` imports are types only and not counted).
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "redbeat_sync"

#: Top to bottom; a room is a subpackage or a top-level module of redbeat_sync.
LAYERS: list[set[str]] = [
    {"__main__", "cli", "gha", "worker"},
    {"commands", "apply", "drift", "schedulers", "beat_import", "taskcheck"},
    {"plan"},
    {"beat"},
    {"insights"},
    {"fileformat", "state", "decoder"},
    {"schedule", "schedules"},
    {"__init__", "values", "errors", "redact", "bulk", "interrupts"},
]  # fmt: skip


def _modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = ["redbeat_sync", *path.relative_to(PACKAGE).with_suffix("").parts]
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts)] = path
    return found


MODULES = _modules()


def _is_type_checking(node: ast.AST) -> bool:
    return isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)


def _imports(module: str, *, types_too: bool) -> set[str]:
    """Modules of the package that ``module`` imports (anywhere in it)."""
    path = MODULES[module]
    here = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if not types_too and _is_type_checking(node):
            return
        if isinstance(node, ast.ImportFrom):
            base = here[: len(here) - node.level + 1] if node.level else []
            target = ".".join([*base, *([node.module] if node.module else [])])
            for alias in node.names:
                candidate = f"{target}.{alias.name}"
                found.add(candidate if candidate in MODULES else target)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(ast.parse(path.read_text(encoding="utf-8")))
    return {name for name in found if name in MODULES and name != module}


def _room(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _layer(room: str) -> int:
    for number, rooms in enumerate(LAYERS):
        if room in rooms:
            return number
    raise AssertionError(f"room {room!r} is in no layer: add it to LAYERS and ARCHITECTURE.md")


def test_every_room_has_a_layer() -> None:
    for module in MODULES:
        _layer(_room(module))


def test_no_room_imports_a_layer_above_it() -> None:
    upward = sorted(
        f"{module} -> {target}"
        for module in MODULES
        for target in _imports(module, types_too=True)
        if _layer(_room(target)) < _layer(_room(module))
    )
    assert upward == []


def test_no_import_cycles() -> None:
    graph = {module: _imports(module, types_too=False) for module in MODULES}
    cycles = []
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def walk(module: str, path: list[str]) -> None:
        state[module] = 1
        for target in sorted(graph[module]):
            if state.get(target) == 1:
                cycles.append(" -> ".join([*path[path.index(target) :], target]))
            elif target not in state:
                walk(target, [*path, target])
        state[module] = 2

    for module in sorted(graph):
        if module not in state:
            walk(module, [module])
    assert cycles == []


def test_the_checker_reads_known_edges() -> None:
    """The graph is read as intended: a known edge is found (a test must be able to fail)."""
    assert "redbeat_sync.fileformat.loader" in _imports("redbeat_sync.commands", types_too=False)
    assert "redbeat_sync.state.topology" in _imports(
        "redbeat_sync.state.connection", types_too=False
    )

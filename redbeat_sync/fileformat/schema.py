"""JSON schema of the schedule files, generated from ``models`` (editors use it for help).

python -m redbeat_sync.fileformat.schema            # print it
python -m redbeat_sync.fileformat.schema --write    # regenerate schemas/redbeat-sync.schema.json
python -m redbeat_sync.fileformat.schema --check    # exit 1 when the committed file is stale
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

SCHEMA_FILE = Path(__file__).resolve().parents[2] / "schemas" / "redbeat-sync.schema.json"
#: Where a team keeps its copy (``redbeat-sync schema --out schemas/redbeat-sync.schema.json``),
#: relative to any directory from a schedule file's own up to the repository root.
VENDORED_SCHEMA = Path("schemas") / "redbeat-sync.schema.json"
VENDOR_HINT = f"redbeat-sync schema --out {VENDORED_SCHEMA.as_posix()}"
SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
REGENERATE_HINT = "python -m redbeat_sync.fileformat.schema --write"


def json_schema() -> dict[str, Any]:
    """The schema of a v1 schedule file."""
    # Here, not at the top: the CLI reads this module's paths without building models.
    from .models import FileModel

    schema = FileModel.model_json_schema()
    return {
        "$schema": SCHEMA_DIALECT,
        **schema,
        "description": (
            "Celery beat schedules for RedBeat, managed by redbeat-sync "
            "(validate, plan, apply). Format version 1."
        ),
    }


def schema_text() -> str:
    """The schema as the committed file holds it (stable key order, trailing newline)."""
    return json.dumps(json_schema(), indent=2, ensure_ascii=False) + "\n"


def vendored_schema_ref(target: Path) -> str | None:
    """The ``$schema`` reference a file at ``target`` should carry, or None.

    The schema is found where ``schema --out`` vendors it: ``schemas/redbeat-sync.schema.json``
    in the file's directory or one above it, up to the repository root (the first
    directory holding ``.git``).  The reference is relative to the file, so it
    resolves in every checkout and editor; None when there is no copy to point at (a
    header that resolves nowhere would only make editors complain).
    """
    here = target.resolve().parent
    for directory in (here, *here.parents):
        candidate = directory / VENDORED_SCHEMA
        if candidate.is_file():
            return Path(os.path.relpath(candidate, here)).as_posix()
        if (directory / ".git").exists():
            return None
    return None


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    text = schema_text()
    if "--write" in args:
        SCHEMA_FILE.parent.mkdir(parents=True, exist_ok=True)
        SCHEMA_FILE.write_text(text, encoding="utf-8")
        print(f"wrote {SCHEMA_FILE}")
        return 0
    if "--check" in args:
        current = SCHEMA_FILE.read_text(encoding="utf-8") if SCHEMA_FILE.exists() else ""
        if current != text:
            print(f"{SCHEMA_FILE} is stale; regenerate it with: {REGENERATE_HINT}")
            return 1
        return 0
    sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""JSON schema of the schedule files, generated from ``models`` (editors use it for help).

python -m redbeat_sync.spec.schema            # print it
python -m redbeat_sync.spec.schema --write    # regenerate schemas/redbeat-sync.schema.json
python -m redbeat_sync.spec.schema --check    # exit 1 when the committed file is stale
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from .models import FileModel

SCHEMA_FILE = Path(__file__).resolve().parents[2] / "schemas" / "redbeat-sync.schema.json"
SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
REGENERATE_HINT = "python -m redbeat_sync.spec.schema --write"


def json_schema() -> dict[str, Any]:
    """The schema of a v1 schedule file."""
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

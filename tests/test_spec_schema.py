"""The committed JSON schema is the one the models generate, and it helps editors."""

from __future__ import annotations

import json

from redbeat_sync.spec import schema
from redbeat_sync.spec.models import EntryModel


def test_committed_schema_is_fresh() -> None:
    committed = schema.SCHEMA_FILE.read_text(encoding="utf-8")
    assert committed == schema.schema_text(), (
        f"{schema.SCHEMA_FILE} is stale; regenerate it with: {schema.REGENERATE_HINT}"
    )


def test_schema_shape_for_editors() -> None:
    generated = schema.json_schema()
    assert generated["$schema"] == schema.SCHEMA_DIALECT
    assert generated["title"] == "redbeat-sync schedule file"
    assert generated["required"] == ["version"]
    assert generated["additionalProperties"] is False
    entry = generated["$defs"]["EntryModel"]
    assert entry["additionalProperties"] is False
    assert entry["required"] == ["task", "schedule"]
    # Every field of an entry carries help text an editor can show.
    for name in EntryModel.model_fields:
        assert entry["properties"][name].get("description"), name
    kinds = [ref["$ref"].rsplit("/", 1)[1] for ref in entry["properties"]["schedule"]["oneOf"]]
    assert kinds == [
        "CronSchedule",
        "EverySchedule",
        "RRuleSchedule",
        "AtSchedule",
        "SolarSchedule",
    ]
    json.dumps(generated)  # plain JSON


def test_check_mode_reports_stale_file(tmp_path, monkeypatch, capsys) -> None:  # type: ignore[no-untyped-def]
    stale = tmp_path / "schema.json"
    stale.write_text("{}\n")
    monkeypatch.setattr(schema, "SCHEMA_FILE", stale)
    assert schema.main(["--check"]) == 1
    assert schema.REGENERATE_HINT in capsys.readouterr().out
    assert schema.main(["--write"]) == 0
    assert schema.main(["--check"]) == 0
    assert stale.read_text() == schema.schema_text()

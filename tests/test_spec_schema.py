"""The committed JSON schema is the one the models generate, and it helps editors."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pydantic
import pytest
import yaml
from click.testing import CliRunner, Result

from redbeat_sync.cli import main
from redbeat_sync.errors import ProblemsFound
from redbeat_sync.fileformat import schema
from redbeat_sync.fileformat.loader import load_text
from redbeat_sync.fileformat.models import EntryModel


@pytest.mark.skipif(
    tuple(int(part) for part in pydantic.VERSION.split(".")[:2]) < (2, 11),
    reason="the committed schema is generated with pydantic 2.11+; older ones spell the "
    "same schema differently (allOf around $ref, 90.0 for 90)",
)
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


# --------------------------------------------------------------------------- documented files

README = Path(__file__).resolve().parents[1] / "README.md"
EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
_YAML_BLOCK = re.compile(r"^```yaml\n(.*?)^```", re.MULTILINE | re.DOTALL)


class _EditorLoader(yaml.SafeLoader):
    """YAML as editors read it for a schema (YAML 1.2): timestamps stay text."""


_EditorLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def as_editor_sees(text: str) -> Any:
    return yaml.load(text, Loader=_EditorLoader)


def documented_files() -> list[tuple[str, str]]:
    """Every schedule file the docs show: README's YAML blocks with `entries:`, examples/."""
    found = [
        (f"README.md block {n}", block)
        for n, block in enumerate(_YAML_BLOCK.findall(README.read_text(encoding="utf-8")), 1)
        if re.search(r"^entries:", block, re.MULTILINE)
    ]
    found += [
        (path.name, path.read_text(encoding="utf-8")) for path in sorted(EXAMPLES.glob("*.y*ml"))
    ]
    return found


def schema_validator() -> jsonschema.Draft202012Validator:
    generated = schema.json_schema()
    jsonschema.Draft202012Validator.check_schema(generated)
    return jsonschema.Draft202012Validator(
        generated, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    )


def schema_errors(text: str) -> list[str]:
    return [error.message for error in schema_validator().iter_errors(as_editor_sees(text))]


@pytest.mark.parametrize(("where", "text"), documented_files(), ids=lambda v: str(v)[:30])
def test_every_documented_file_passes_validate_and_the_schema(where: str, text: str) -> None:
    load_text(text, where)  # raises ProblemsFound with every problem
    assert schema_errors(text) == []


def test_the_docs_show_enough_files_to_mean_something() -> None:
    names = [where for where, _ in documented_files()]
    assert sum(name.startswith("README") for name in names) >= 3
    assert sum(not name.startswith("README") for name in names) >= 2


@pytest.mark.parametrize(
    "schedule",
    [
        "{at: 2030-01-31T09:00:00}",
        "{at: 2030-01-31T09:00:00+01:00}",
        "{at: 2030-01-31T09:00:00Z}",
        "{at: 2030-01-31 09:00:00}",
        "{at: 2030-01-31}",
        "{rrule: {freq: daily, dtstart: 2030-01-31}}",
        "{rrule: {freq: daily, dtstart: 2030-01-31T09:00:00, until: 2031-01-31}}",
    ],
)
def test_naive_and_date_only_datetimes_pass_both(schedule: str) -> None:
    # JSON Schema's "date-time" format is RFC 3339: an offset is required, and editors
    # and check-jsonschema enforce it (this validator only when rfc3339-validator is
    # installed), so the schema must not use it for values that may be naive.
    assert '"format": "date-time"' not in schema.schema_text()
    text = f"version: 1\nentries:\n  e: {{task: a.b, schedule: {schedule}, start_at: 2030-01-01}}\n"
    load_text(text)
    assert schema_errors(text) == []


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ("schedule: {every: 5m}, colour: red", "Additional properties"),
        ("schedule: {every: 5m}, options: {priority: 300}", "300"),
        ("schedule: {every: 5m}, options: {eta: 2030-01-01T00:00:00}", "eta"),
        ("schedule: {at: tomorrow}", "tomorrow"),
        ("schedule: {every: 3155760001}", "3155760001"),
    ],
)
def test_the_schema_still_refuses_mistakes(body: str, fragment: str) -> None:
    """Not a vacuous schema: what validate refuses, editors flag too (where JSON Schema can)."""
    text = f"version: 1\nentries:\n  e: {{task: a.b, {body}}}\n"
    with pytest.raises(ProblemsFound):
        load_text(text)
    assert any(fragment in message for message in schema_errors(text)) or schema_errors(text)


def test_schema_defaults_are_what_applies() -> None:
    entry = schema.json_schema()["$defs"]["EntryModel"]["properties"]
    assert entry["enabled"]["default"] is True
    assert entry["misfire"]["default"] == "catch_up"
    assert entry["prune"]["default"] is True
    assert entry["timezone"]["default"] == "UTC"
    [item] = load_text("version: 1\nentries:\n  e: {task: a.b, schedule: {every: 5m}}\n").entries
    assert (item.entry.enabled, item.entry.misfire, item.entry.prune, item.entry.timezone) == (
        True,
        "catch_up",
        True,
        "UTC",
    )


# --------------------------------------------------------------------------- vendoring


def run_cli(*args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)


def header_target(path: Path) -> Path | None:
    """The file a written schedule's ``$schema`` header points at (None: no header)."""
    first = path.read_text(encoding="utf-8").splitlines()[0]
    prefix = "# yaml-language-server: $schema="
    if not first.startswith(prefix):
        return None
    return (path.parent / first[len(prefix) :]).resolve()


def test_schema_prints_and_writes_the_same_text(tmp_path: Path) -> None:
    printed = run_cli("schema")
    assert printed.exit_code == 0 and printed.stdout == schema.schema_text()
    out = tmp_path / "a" / "b" / "redbeat-sync.schema.json"
    written = run_cli("schema", "--out", str(out))
    assert written.exit_code == 0, written.output
    assert out.read_text(encoding="utf-8") == schema.schema_text()


def test_schema_out_to_an_unwritable_place_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    result = run_cli("schema", "--out", str(tmp_path / "file" / "schema.json"))
    assert result.exit_code == 1
    assert "Traceback" not in result.output and "cannot write" in result.output


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A repository with a Celery app module whose beat_schedule import converts."""
    (tmp_path / ".git").mkdir()
    (tmp_path / "beatapp_for_schema.py").write_text(
        "from celery import Celery\n"
        "app = Celery('x', broker='memory://', set_as_current=False)\n"
        "app.conf.beat_schedule = {'ping': {'task': 'a.b', 'schedule': 30.0}}\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_import_header_points_at_the_vendored_schema(repo: Path) -> None:
    assert run_cli("schema", "--out", "schemas/redbeat-sync.schema.json").exit_code == 0
    target = repo / "deploy" / "beat" / "beat.yaml"
    target.parent.mkdir(parents=True)
    result = run_cli("import", "--from-app", "beatapp_for_schema:app", "--out", str(target))
    assert result.exit_code == 0, result.output
    assert header_target(target) == (repo / "schemas" / "redbeat-sync.schema.json").resolve()
    assert "../../schemas/redbeat-sync.schema.json" in target.read_text()
    load_text(target.read_text(), str(target))


def test_without_a_vendored_schema_no_header_and_a_hint(repo: Path) -> None:
    target = repo / "beat.yaml"
    result = run_cli("import", "--from-app", "beatapp_for_schema:app", "--out", str(target))
    assert result.exit_code == 0, result.output
    assert header_target(target) is None
    assert "redbeat-sync schema --out schemas/redbeat-sync.schema.json" in result.stderr


def test_export_header_points_at_the_vendored_schema(repo: Path, redis_url: str) -> None:
    run_cli("schema", "--out", "schemas/redbeat-sync.schema.json")
    env = {"REDBEAT_SYNC_REDIS_URL": redis_url, "REDBEAT_SYNC_KEY_PREFIX": "rs-schema:"}
    result = run_cli("export", "--which", "managed", "--out", "schedules", env=env)
    assert result.exit_code == 0, result.output
    written = repo / "schedules" / "managed.yaml"
    assert header_target(written) == (repo / "schemas" / "redbeat-sync.schema.json").resolve()
    printed = run_cli("export", "--which", "managed", env=env)
    assert printed.stdout.startswith(
        "# yaml-language-server: $schema=schemas/redbeat-sync.schema.json\n"
    )


def test_the_search_stops_at_the_repository_root(tmp_path: Path) -> None:
    (tmp_path / "schemas").mkdir()
    (tmp_path / "schemas" / "redbeat-sync.schema.json").write_text("{}")
    inner = tmp_path / "inner"
    (inner / ".git").mkdir(parents=True)
    assert schema.vendored_schema_ref(inner / "x" / "beat.yaml") is None
    assert schema.vendored_schema_ref(tmp_path / "x" / "y" / "beat.yaml") == (
        "../../schemas/redbeat-sync.schema.json"
    )

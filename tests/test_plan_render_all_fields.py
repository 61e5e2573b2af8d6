"""Every renderer copes with an entry that sets every optional field.

The file below must set every field of ``Entry`` to a non-default value (checked), so
a field added later fails here until a renderer has been shown to handle it.
"""

from __future__ import annotations

import json
from dataclasses import fields

import pytest
from plan_helpers import NOW, state

from redbeat_sync.fileformat.loader import load_text
from redbeat_sync.plan.compare import compute_plan
from redbeat_sync.plan.render_json import render_json
from redbeat_sync.plan.render_markdown import render_markdown
from redbeat_sync.plan.render_text import render_text
from redbeat_sync.schedule.entry import Entry

ALL_FIELDS = """\
version: 1
entries:
  everything:
    task: proj.tasks.ping
    schedule: {every: 5m}
    args: [1, "two"]
    kwargs: {x: 1}
    options: {queue: low}
    enabled: false
    timezone: Europe/Paris
    description: all the fields
    labels: {team: billing}
    start_at: "2026-12-01T00:00:00"
    end_at: "2027-12-01T00:00:00"
    jitter: 10s
    misfire: deadline
    deadline: 1m
    overlap: skip
    overlap_timeout: 2h
    prune: false
    moved_from: older
"""


def _plan():  # type: ignore[no-untyped-def]
    return compute_plan(load_text(ALL_FIELDS), state(), beat_timezone="UTC", now=NOW)


def test_the_file_sets_every_field_of_an_entry() -> None:
    (spec_entry,) = load_text(ALL_FIELDS).entries
    assert set(spec_entry.entry.non_default_fields()) == {f.name for f in fields(Entry)}


@pytest.mark.parametrize("fmt", ["text", "json", "markdown"])
def test_every_format_renders_an_entry_with_every_field(fmt: str) -> None:
    plan = _plan()
    assert [a.kind for a in plan.changes] == ["create"]
    if fmt == "text":
        out = render_text(plan)
        assert "everything" in out and "proj.tasks.ping" in out
    elif fmt == "json":
        after = json.loads(render_json(plan))["actions"][0]["after"]
        assert after["prune"] is False and after["overlap"] == "skip"
        assert after["overlap_timeout"] == 7200.0
    else:
        out = render_markdown(plan)
        for name in ("overlap", "overlap_timeout", "prune", "jitter", "deadline", "labels"):
            assert f"`{name}`" in out, name


@pytest.mark.parametrize(
    "extra", ["overlap: skip", "overlap: allow\n    overlap_timeout: 2h", "prune: false"]
)
def test_markdown_shows_a_single_lifecycle_field(extra: str) -> None:
    text = f"version: 1\nentries:\n  a:\n    task: x.y\n    schedule: {{every: 5m}}\n    {extra}\n"
    plan = compute_plan(load_text(text), state(), beat_timezone="UTC", now=NOW)
    out = render_markdown(plan)
    shown = extra.split("\n")[-1].strip().split(":")[0]  # overlap: allow is the default
    assert f"`{shown}`" in out

"""No user input may end in a traceback: loading succeeds or raises ProblemsFound."""

from __future__ import annotations

import json
from datetime import timezone
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from redbeat_sync.errors import ProblemsFound
from redbeat_sync.fileformat.loader import load_text

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))

VALID = """\
version: 1
defaults:
  timezone: Europe/Paris
  options: {queue: reports, expires: 2030-01-01T00:00:00}
  labels: {team: a}
  misfire: deadline
  deadline: 5m
entries:
  nightly-report:
    task: reports.tasks.nightly
    schedule: {cron: "0 3 * * mon-fri"}
    args: [1, "a", &x {k: [1, 2]}]
    kwargs: {full: true, again: *x}
    options: {priority: 5}
    timezone: America/New_York
    start_at: 2030-01-01T00:00:00
    end_at: 2031-01-01T00:00:00
  "rule: x":
    task: a.b
    schedule: {rrule: {freq: weekly, byweekday: [mo, fr], byhour: 3, dtstart: 2030-01-01}}
    jitter: 1h30m
  once:
    <<: {task: a.b}
    schedule: {at: 2030-01-01T09:00:00}
    enabled: false
"""

VOCABULARY = [
    "version", "defaults", "entries", "task", "schedule", "cron", "every", "rrule", "at",
    "relative", "freq", "interval", "byhour", "byweekday", "dtstart", "until", "count",
    "args", "kwargs", "options", "enabled", "timezone", "labels", "description", "jitter",
    "misfire", "deadline", "start_at", "end_at", "wkst", "bysetpos", "<<", "", ":x",
]  # fmt: skip
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**20), 10**20),
    st.floats(),
    st.text(max_size=12),
    st.sampled_from(
        ["0 3 * * *", "5m", "daily", "mo", "UTC", "Europe/Paris", "a.b", "2030-01-01T00:00:00"]
    ),
    st.datetimes().map(lambda d: d.replace(tzinfo=timezone.utc)),
)
KEYS = st.one_of(st.sampled_from(VOCABULARY), st.text(max_size=6))
STRUCTURES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(KEYS, inner, max_size=5),
    max_leaves=25,
)


def loads_or_reports(text: str | bytes) -> None:
    try:
        spec = load_text(text, "fuzz.yaml")
    except ProblemsFound as found:
        assert found.problems
        for problem in found.problems:
            assert problem.file == "fuzz.yaml" and problem.message
            assert problem.line >= 0 and problem.column >= 0
            problem.format()
    else:
        for item in spec.entries:  # what every later stage does with an entry
            json.dumps(item.entry.to_canonical(), allow_nan=False)


def test_the_valid_sample_is_valid() -> None:
    assert len(load_text(VALID).entries) == 3


@FUZZ
@given(st.text(max_size=200))
def test_random_text(text: str) -> None:
    loads_or_reports(text)


@FUZZ
@given(st.binary(max_size=200))
def test_random_bytes(data: bytes) -> None:
    loads_or_reports(data)


@FUZZ
@given(
    st.lists(
        st.tuples(
            st.integers(0, len(VALID)),
            st.integers(0, 3),
            st.sampled_from(list(" \n\t:-{}[],&*!|>'\"#?%@`0aZé\x00")),
        ),
        min_size=1,
        max_size=6,
    )
)
def test_mutated_valid_file(edits: list[tuple[int, int, str]]) -> None:
    text = VALID
    for where, cut, char in edits:
        text = text[:where] + char + text[where + cut :]
    loads_or_reports(text)


@FUZZ
@given(STRUCTURES)
def test_random_structures(structure: Any) -> None:
    loads_or_reports(yaml.safe_dump(structure, allow_unicode=True))


@FUZZ
@given(st.dictionaries(KEYS, STRUCTURES, max_size=6), st.dictionaries(KEYS, STRUCTURES, max_size=4))
def test_random_entry_bodies(body: dict[str, Any], defaults: dict[str, Any]) -> None:
    document = {
        "version": 1,
        "defaults": defaults,
        "entries": {"e": {"task": "a.b", "schedule": {"every": "5m"}, **body}},
    }
    loads_or_reports(yaml.safe_dump(document, allow_unicode=True))


@FUZZ
@given(st.sampled_from(["cron", "every", "rrule", "at"]), STRUCTURES)
def test_random_schedules(kind: str, value: Any) -> None:
    document = {"version": 1, "entries": {"e": {"task": "a.b", "schedule": {kind: value}}}}
    loads_or_reports(yaml.safe_dump(document, allow_unicode=True))


def test_datetime_corner_cases() -> None:
    values = ["0001-01-01T00:00:00", "9999-12-31T23:59:59", "2030-02-30T00:00:00"]
    for value in values:
        for zone in ["UTC", "Asia/Tokyo", "America/New_York"]:
            loads_or_reports(
                f"version: 1\nentries:\n  e: {{task: a.b, schedule: {{at: {value}}},"
                f" timezone: {zone}, start_at: {value}, options: {{eta: {value}+05:00}}}}\n"
            )

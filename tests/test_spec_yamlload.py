"""The safe YAML reader: values, positions, and every way a file can be hostile."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from redbeat_sync.fileformat import yamlload
from redbeat_sync.fileformat.yamlload import load_text, locate


def test_values_and_positions() -> None:
    doc = load_text("a: 1\nb:\n  - x\n  - {c: true}\n")
    assert doc.ok
    assert doc.value == {"a": 1, "b": ["x", {"c": True}]}
    assert locate(doc.pos, ("a",)) == (1, 4)
    assert locate(doc.pos, ("b", 0)) == (3, 5)
    assert locate(doc.pos, ("b", 1, "c")) == (4, 9)
    # A missing field is shown at the nearest existing key.
    assert locate(doc.pos, ("b", 1, "missing")) == (4, 5)
    assert locate(doc.pos, ("nope",)) == (1, 1)


def test_plain_keys_stay_strings_and_values_follow_yaml() -> None:
    doc = load_text("on: yes\n1: null\nno: 1.5\nd: 2024-05-01\nt: 2024-05-01T10:00:00+02:00\n")
    assert doc.value == {
        "on": True,
        "1": None,
        "no": 1.5,
        "d": "2024-05-01",  # a bare date stays text, as JSON would carry it
        "t": datetime(2024, 5, 1, 10, tzinfo=timezone(timedelta(hours=2))),
    }


def test_merge_keys_and_aliases() -> None:
    doc = load_text("base: &b {queue: q, priority: 1}\nx:\n  <<: *b\n  priority: 9\n")
    assert doc.ok, doc.problems
    assert doc.value["x"] == {"queue": "q", "priority": 9}


def test_duplicate_keys_name_both_lines() -> None:
    doc = load_text("entries:\n  a: 1\n  b: 2\n  a: 3\n")
    [problem] = doc.problems
    assert (problem.line, problem.column) == (4, 3)
    assert problem.path == ("entries", "a")
    assert "duplicate key 'a'" in problem.message and "line 2" in problem.message


@pytest.mark.parametrize(
    "text",
    [
        "x: !!python/object/apply:os.system ['echo pwned']\n",
        "x: !!python/name:os.system\n",
        "x: !!binary aGVsbG8=\n",
        "x: !!set {a, b}\n",
        "x: !custom 1\n",
    ],
)
def test_unsafe_or_unknown_tags_are_problems(text: str) -> None:
    doc = load_text(text)
    [problem] = doc.problems
    assert "is not allowed" in problem.message
    assert (problem.line, problem.column) == (1, 4)


def test_alias_bomb_is_refused_quickly() -> None:
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for level in range(1, 10):
        ref = ",".join([f"*{chr(96 + level)}"] * 9)
        lines.append(f"{chr(97 + level)}: &{chr(97 + level)} [{ref}]")
    doc = load_text("\n".join(lines) + "\n")
    [problem] = doc.problems
    assert "alias expansion too large" in problem.message
    # Refused at line 5 of 10: the 9**9 values of the last lines are never built (how
    # long refusing takes is a figure: bench/bench_scale.py).
    assert problem.line == 5
    assert doc.value is None


def test_recursive_alias_is_a_problem() -> None:
    doc = load_text("a: &a [1, *a]\n")
    assert doc.problems and "refers to itself" in doc.problems[0].message


def test_unknown_alias_is_a_problem() -> None:
    doc = load_text("a: *nothing\n")
    assert doc.problems


def test_deep_nesting_is_bounded() -> None:
    depth = 500
    doc = load_text("x: " + "[" * depth + "]" * depth + "\n")
    [problem] = doc.problems
    assert f"more than {yamlload.MAX_DEPTH} levels" in problem.message
    assert problem.line == 1 and problem.column == 4 + yamlload.MAX_DEPTH - 1


@pytest.mark.parametrize("opener", ["[", "{a: ", "- "])
def test_very_deep_nesting_never_crashes(opener: str) -> None:
    depth = 200_000 if opener == "[" else 20_000
    doc = load_text("x: " + opener * depth + "\n")
    assert doc.problems and doc.value is None


def test_huge_file_is_refused_before_reading(tmp_path: Path) -> None:
    path = tmp_path / "huge.yaml"
    path.write_bytes(b"# padding\n" * 2000)
    doc = yamlload.read_file(path, max_bytes=10_000)
    [problem] = doc.problems
    assert problem.message == (
        "file is 19.5 KiB, more than the 9.8 KiB limit; split the schedule into several files"
    )


def test_invalid_utf8_points_at_the_byte() -> None:
    doc = yamlload.load_bytes(b"version: 1\nentries:\n  caf\xe9: x\n")
    [problem] = doc.problems
    assert (problem.line, problem.column) == (3, 6)
    assert "invalid UTF-8" in problem.message


def test_syntax_error_has_a_position() -> None:
    doc = load_text("a: [1, 2\nb: 3\n")
    [problem] = doc.problems
    assert problem.line >= 1 and problem.message.startswith("invalid YAML")


def test_control_characters_are_refused() -> None:
    doc = load_text("a: \x07\n")
    assert doc.problems and doc.problems[0].message.startswith("invalid YAML")


def test_several_documents_are_refused() -> None:
    doc = load_text("a: 1\n---\nb: 2\n")
    [problem] = doc.problems
    assert problem.line == 2 and "more than one YAML document" in problem.message


def test_complex_keys_are_refused() -> None:
    doc = load_text("? [a, b]\n: 1\n")
    assert doc.problems and "keys must be plain strings" in doc.problems[0].message


def test_unreadable_file(tmp_path: Path) -> None:
    doc = yamlload.read_file(tmp_path / "missing.yaml")
    assert doc.problems and "cannot read file" in doc.problems[0].message


def test_bom_is_accepted() -> None:
    assert yamlload.load_bytes(b"\xef\xbb\xbfa: 1\n").value == {"a": 1}


def test_fast_read_without_deep_positions_matches_full_read() -> None:
    text = b"version: 1\nentries:\n  a: {task: x.y, args: [1, {b: 2}]}\n  b: {task: z}\n"
    fast = yamlload.load_bytes(text, full_positions=False)
    full = yamlload.load_bytes(text)
    assert fast.value == full.value and not fast.full_positions and full.full_positions
    # The entry names keep their positions even in the fast read.
    assert locate(fast.pos, ("entries",)) == locate(full.pos, ("entries",)) == (3, 3)
    assert fast.pos[2]["entries"][2][2]["b"][:2] == (4, 3)


@pytest.mark.parametrize(
    "text",
    [
        "a: 1\na: 2\n",  # duplicate key
        "a: {x: !!binary aGk=}\n",  # bad tag deep down
        "a: &b {x: 1}\nc: {<<: *b}\n",  # merge keys need positions
        "a: *missing\n",
    ],
)
def test_fast_read_falls_back_to_full_positions(text: str) -> None:
    fast = yamlload.load_bytes(text.encode(), full_positions=False)
    full = yamlload.load_bytes(text.encode())
    assert fast.full_positions
    assert fast.problems == full.problems and fast.value == full.value


def test_invalid_utf8_column_counts_characters() -> None:
    doc = yamlload.load_bytes("a: é\nb: éé".encode() + b"\xff\n")
    [problem] = doc.problems
    assert (problem.line, problem.column) == (2, 6)


# Differential check of the event builder against PyYAML's own safe loader.
_KEYS = st.text(max_size=8)
_VALUES = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.floats(allow_nan=False),
        st.text(max_size=20),
        st.datetimes(timezones=st.just(timezone.utc)),
    ),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_KEYS, inner, max_size=4),
    max_leaves=30,
)


@settings(max_examples=200, deadline=None)
@given(_VALUES, st.booleans(), st.booleans())
def test_same_values_as_pyyaml(value: object, flow: bool, full: bool) -> None:
    text = yaml.safe_dump({"root": value, "again": value}, default_flow_style=flow)
    doc = yamlload.load_bytes(text.encode(), full_positions=full)
    assert doc.ok, doc.problems
    assert doc.value == yaml.safe_load(text)


def test_syntax_hints_for_common_mistakes() -> None:
    [star] = load_text("schedule: {cron: */5 * * * *}\n").problems
    assert star.message.endswith('a value starting with * must be quoted, like cron: "*/5 * * * *"')
    [tab] = load_text("a:\n\tb: 1\n").problems
    assert (tab.line, tab.message.endswith("indent with spaces, not tabs")) == (2, True)


def test_too_many_entries_in_one_file_stop_early(monkeypatch) -> None:
    """A file with more entries than the cap is refused while parsing, not after."""
    from redbeat_sync.fileformat import yamlload as module

    monkeypatch.setattr(module, "MAX_ENTRIES_PER_FILE", 3)
    body = "version: 1\nentries:\n" + "".join(
        f"  e{i}: {{task: a.b, schedule: {{every: 1m}}}}\n" for i in range(5)
    )
    document = module.load_text(body)
    assert not document.ok
    messages = [p.message for p in document.problems]
    assert any("more than 3 entries in one file" in m for m in messages), messages
    assert document.problems[0].line == 6  # the fourth entry's key

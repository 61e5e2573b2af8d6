"""``H`` in cron fields: a stable, name-derived value, resolved at load to plain cron."""

from __future__ import annotations

import hashlib

import pytest
from celery.schedules import crontab
from croniter import croniter

from redbeat_sync.errors import ProblemsFound
from redbeat_sync.fileformat.loader import load_text
from redbeat_sync.schedule import spread


def load_cron(expression: str, name: str = "job") -> str:
    text = (
        f"version: 1\nentries:\n  {name}:\n    task: a.b\n    schedule: {{cron: '{expression}'}}\n"
    )
    (item,) = load_text(text).entries
    return item.entry.schedule.expression  # type: ignore[union-attr]


def test_same_name_same_minute() -> None:
    first = load_cron("H 3 * * *", "nightly-report")
    assert first == load_cron("H 3 * * *", "nightly-report")
    assert first.split()[1:] == ["3", "*", "*", "*"]
    # the documented hash: sha256("<name>:minute"), first 8 bytes, mod 60
    digest = hashlib.sha256(b"nightly-report:minute").digest()
    assert int(first.split()[0]) == int.from_bytes(digest[:8], "big") % 60


def test_different_names_spread() -> None:
    minutes = {int(load_cron("H * * * *", f"job-{i}").split()[0]) for i in range(200)}
    assert len(minutes) > 40  # 200 names over 60 minutes: far from one pile-up


@pytest.mark.parametrize(
    ("expression", "check"),
    [
        ("H/15 * * * *", lambda m: m.endswith("-59/15") and int(m.split("-")[0]) < 15),
        ("H(0-29) * * * *", lambda m: 0 <= int(m) <= 29),
        ("H(10-40)/10 * * * *", lambda m: m.endswith("-40/10") and 10 <= int(m.split("-")[0]) < 20),
    ],
)
def test_forms_resolve_to_plain_cron(expression: str, check) -> None:  # type: ignore[no-untyped-def]
    resolved = load_cron(expression)
    minute = resolved.split()[0]
    assert check(minute), resolved
    assert "H" not in resolved
    croniter(resolved)  # both parsers RedBeat and we use accept it
    crontab(*resolved.split()[:2])


def test_all_fields_and_day_names_untouched() -> None:
    resolved = load_cron("H H H H *")
    minute, hour, dom, month, _ = map(int, resolved.replace("*", "0").split())
    assert 0 <= minute <= 59 and 0 <= hour <= 23 and 1 <= dom <= 28 and 1 <= month <= 12
    assert load_cron("0 9 * * THU") == "0 9 * * THU"  # the H of THU is not a hash


@pytest.mark.parametrize("expression", ["H(50-10) * * * *", "H(0-99) * * * *", "HH * * * *"])
def test_bad_hash_forms_are_problems(expression: str) -> None:
    with pytest.raises(ProblemsFound) as caught:
        load_cron(expression)
    assert "H" in caught.value.format()


def test_resolve_is_a_pure_function() -> None:
    assert spread.resolve("H 3 * * *", "a") == spread.resolve("H 3 * * *", "a")
    assert spread.resolve("0 3 * * *", "a") == "0 3 * * *"


def test_validate_lists_resolutions(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from click.testing import CliRunner

    from redbeat_sync.cli import main

    lines = ["version: 1", "entries:"]
    for i in range(25):
        lines += [f"  job-{i}:", "    task: a.b", "    schedule: {cron: 'H 3 * * THU'}"]
    (tmp_path / "s.yaml").write_text("\n".join(lines) + "\n")
    result = CliRunner().invoke(main, ["validate", str(tmp_path)])
    assert result.exit_code == 0
    expected = spread.resolve("H 3 * * THU", "job-0")
    assert f"job-0: cron 'H 3 * * THU' resolves to {expected!r}" in result.output
    assert "… and 5 more cron(s) with H resolved" in result.output

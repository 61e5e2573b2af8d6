"""Loading schedule files into canonical entries, and reporting every problem at once."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path
from textwrap import dedent
from zoneinfo import ZoneInfo

import pytest

from redbeat_sync.errors import Problem, ProblemsFound
from redbeat_sync.fileformat.loader import load_paths, load_text
from redbeat_sync.schedule.entry import At, Cron, Entry, Every, RRule

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"

BRIEF_EXAMPLE = """\
version: 1
defaults:
  timezone: Europe/Paris
  options: {queue: reports}
entries:
  nightly-report:
    task: reports.tasks.nightly
    schedule: {cron: "0 3 * * mon-fri"}
    args: [1, "a"]
    kwargs: {full: true}
    options: {queue: reports, priority: 5, expires: 3600}
    enabled: true
    timezone: America/New_York
    description: "Daily sales report"
    labels: {team: billing}
  heartbeat:
    task: ops.tasks.ping
    schedule: {every: 30s}
"""


def problems_of(text: str) -> list[Problem]:
    with pytest.raises(ProblemsFound) as caught:
        load_text(dedent(text), "s.yaml")
    return caught.value.problems


def where(problems: list[Problem]) -> list[tuple[int, int, str]]:
    return [(p.line, p.column, p.field) for p in problems]


def one_entry(body: str, defaults: str = "") -> Entry:
    text = "version: 1\n" + defaults + "entries:\n  e:\n" + dedent(body).replace("\n", "\n    ")
    text = text.replace("  e:\n", "  e:\n    ", 1)
    [item] = load_text(text).entries
    return item.entry


def test_brief_example_loads_to_canonical_entries() -> None:
    spec = load_text(BRIEF_EXAMPLE, "brief.yaml")
    nightly, heartbeat = (item.entry for item in spec.entries)
    assert nightly == Entry(
        name="nightly-report",
        task="reports.tasks.nightly",
        schedule=Cron("0", "3", "*", "*", "mon-fri"),
        args=[1, "a"],
        kwargs={"full": True},
        options={"queue": "reports", "priority": 5, "expires": 3600},
        timezone="America/New_York",
        description="Daily sales report",
        labels={"team": "billing"},
    )
    assert heartbeat.schedule == Every(30.0)
    assert heartbeat.timezone == "Europe/Paris"  # from defaults
    assert heartbeat.options == {"queue": "reports"}
    assert [(i.line, i.column, i.file) for i in spec.entries] == [
        (6, 3, "brief.yaml"),
        (16, 3, "brief.yaml"),
    ]


def test_every_problem_of_every_entry_at_its_place() -> None:
    problems = problems_of(
        """\
        version: 2
        entries:
          a:
            task: not a task
            schedule: {cron: "0 3 L * *"}
          b:
            schedule: {every: soon}
            colour: red
          c:
            task: x.y
            schedule: {cron: "* * * *", every: 5m}
            labels: {env: no}
            args: {a: 1}
        """
    )
    assert where(problems) == [
        (1, 10, "version"),
        (4, 11, "entries.a.task"),
        (5, 22, "entries.a.schedule.cron"),
        (6, 3, "entries.b.task"),  # missing: shown at the entry's name
        (7, 23, "entries.b.schedule.every"),
        (8, 5, "entries.b.colour"),  # unknown: shown at the key itself
        (11, 15, "entries.c.schedule"),
        (12, 19, "entries.c.labels.env"),
        (13, 11, "entries.c.args"),
    ]
    text = "\n".join(p.format() for p in problems)
    assert "s.yaml:5:22: entries.a.schedule.cron: 'L' (last) in the day of month field" in text
    assert "missing required field 'task'" in text
    assert "unknown field 'colour'" in text
    assert "found cron and every" in text
    assert "put it in quotes" in text
    assert "expected a list" in text


def test_a_name_with_dots_is_quoted_in_the_field_path() -> None:
    """One path spelling everywhere (``errors.field_path``): a dotted entry name or
    label key cannot pass for nesting."""
    problems = problems_of(
        """\
        version: 1
        entries:
          reports.nightly:
            task: not a task
            schedule: {every: 1h}
            labels: {app.kubernetes.io/name: 7}
        """
    )
    assert sorted(p.field for p in problems) == [
        'entries["reports.nightly"].labels["app.kubernetes.io/name"]',
        'entries["reports.nightly"].task',
    ]


def test_unknown_field_suggests_a_close_name() -> None:
    [problem] = problems_of(
        """\
        version: 1
        entries:
          a:
            task: x.y
            shedule: {every: 5m}
            schedule: {every: 5m}
        """
    )
    assert problem.message == "unknown field 'shedule'; did you mean 'schedule'?"
    assert (problem.line, problem.column) == (5, 5)


def test_unknown_fields_everywhere_are_errors() -> None:
    problems = problems_of(
        """\
        version: 1
        extra: 1
        defaults: {zone: UTC}
        entries:
          a:
            task: x.y
            schedule: {rrule: {freq: daily, hours: 3}}
        """
    )
    assert where(problems) == [
        (2, 1, "extra"),
        (3, 12, "defaults.zone"),
        (7, 37, "entries.a.schedule.rrule.hours"),
    ]


def test_cron_rules() -> None:
    for expression, fragment in [
        ("0 3 * * 1#2", "'#'"),
        ("0 3 ? * *", "'?'"),
        ("0 0 1W * *", "'W'"),
        ("0 0 0 1 * *", "got 6"),
        ("0 3 * * 7", "not valid for Celery's crontab: 7 is outside 0-6 (Sunday is 0 or sun)"),
        ("1,2, * * * *", "an empty item: a comma at the start or the end, or two in a row"),
        ("0 0 L * *", "'L' (last) in the day of month field is syntax of other cron dialects"),
        (
            "61 * * * *",
            "the minute field '61' is not valid for Celery's crontab: 61 is outside 0-59",
        ),
        ("*/0 * * * *", "the minute field '*/0'"),
        ("0 9 * * monday", "day of week field 'monday': write 'mon'"),
        ("0 9 * January *", "month field 'January': write 'jan'"),
        ("@daily", "macros"),
        # Celery reads only the start of these (*/1, 1-5, */5): what runs is not what is written
        ("*/1-9 * * * *", "field '*/1-9': Celery's crontab reads it as '*/1' and ignores the rest"),
        ("0 1-5-9 * * *", "the hour field '1-5-9': Celery's crontab reads it as '1-5'"),
        ("*/5/2 * * * *", "as '*/5' and ignores the rest"),
        ("0 0 * * fri-/2", "reads it as 'fri' and ignores the rest; write 'fri'"),
        ("0 0 1 jan- *", "the month field 'jan-': Celery's crontab reads it as 'jan'"),
    ]:
        [problem] = problems_of(
            f"""\
            version: 1
            entries:
              a: {{task: x.y, schedule: {{cron: "{expression}"}}}}
            """
        )
        assert fragment in problem.message, (expression, problem.message)
    for wraps in ("0 22-2 * * *", "0 9 * * fri-mon", "0 0 * * mon-fri/2"):  # as Celery reads them
        assert one_entry(f'task: x.y\nschedule: {{cron: "{wraps}"}}\n').schedule.hour
    entry = one_entry('task: x.y\nschedule: {cron: "*/5 9-17 * jan,jul MON-FRI"}\n')
    assert entry.schedule == Cron("*/5", "9-17", "*", "jan,jul", "MON-FRI")


def test_rrule_is_canonical() -> None:
    entry = one_entry(
        """\
        task: x.y
        timezone: Europe/Paris
        schedule:
          rrule:
            freq: WEEKLY
            byweekday: [fr, mo, 2, fr]
            byhour: 9
            byminute: [30, 0]
            dtstart: 2025-03-01T08:00:00
            until: "2026-01-01T00:00:00Z"
            wkst: su
            bymonth: []
        """
    )
    paris = ZoneInfo("Europe/Paris")
    assert entry.schedule == RRule(
        freq="weekly",
        byweekday=(0, 2, 4),
        byhour=(9,),
        byminute=(0, 30),
        dtstart=datetime(2025, 3, 1, 8, tzinfo=paris),
        until=datetime(2026, 1, 1, tzinfo=timezone.utc),
        wkst=6,
    )


def test_rrule_problems() -> None:
    problems = problems_of(
        """\
        version: 1
        entries:
          a:
            task: x.y
            schedule: {rrule: {freq: daily, byhour: [1, 24], byweekday: [xx], count: 0}}
          b:
            task: x.y
            schedule: {rrule: {freq: daily, count: 2, until: 2030-01-01T00:00:00}}
          c:
            task: x.y
            schedule:
              rrule: {freq: daily, dtstart: 2030-01-02T00:00:00, until: 2030-01-01T00:00:00}
        """
    )
    assert [p.field for p in problems] == [
        "entries.a.schedule.rrule.byhour",
        "entries.a.schedule.rrule.byweekday",
        "entries.a.schedule.rrule.count",
        "entries.b.schedule.rrule",
        "entries.c.schedule.rrule.until",
    ]


def test_naive_datetimes_are_in_the_entry_zone() -> None:
    entry = one_entry(
        """\
        task: x.y
        timezone: America/New_York
        schedule: {at: 2030-01-01T09:00:00}
        start_at: 2029-12-01T00:00:00
        end_at: 2030-02-01T00:00:00+00:00
        options: {expires: 2030-01-01T10:00:00, sent_at: 2030-01-01T10:00:00+01:00}
        """
    )
    new_york = ZoneInfo("America/New_York")
    assert entry.schedule == At(datetime(2030, 1, 1, 9, tzinfo=new_york))
    assert entry.start_at == datetime(2029, 12, 1, tzinfo=new_york)
    assert entry.end_at == datetime(2030, 2, 1, tzinfo=timezone.utc)
    # Inside options (sent to Celery as they are), naive means UTC.
    assert entry.options == {
        "expires": datetime(2030, 1, 1, 10, tzinfo=timezone.utc),
        "sent_at": datetime(2030, 1, 1, 10, tzinfo=timezone(timedelta(hours=1))),
    }


def test_defaults_are_merged_under_entries() -> None:
    text = """\
    version: 1
    defaults:
      timezone: Asia/Tokyo
      options: {queue: q, priority: 1}
      labels: {team: a, tier: 1x}
      enabled: false
      jitter: 10s
      misfire: deadline
      deadline: 5m
    entries:
      plain: {task: x.y, schedule: {every: 1m}}
      own:
        task: x.y
        schedule: {every: 1m}
        timezone: UTC
        options: {priority: 9}
        labels: {team: b}
        enabled: true
        jitter: 0
        misfire: skip
    """
    plain, own = (item.entry for item in load_text(dedent(text)).entries)
    assert (plain.timezone, plain.options, plain.labels) == (
        "Asia/Tokyo",
        {"queue": "q", "priority": 1},
        {"team": "a", "tier": "1x"},
    )
    assert (plain.enabled, plain.jitter, plain.misfire, plain.deadline) == (
        False,
        10.0,
        "deadline",
        300.0,
    )
    assert (own.timezone, own.options, own.labels) == (
        "UTC",
        {"queue": "q", "priority": 9},
        {"team": "b", "tier": "1x"},
    )
    assert (own.enabled, own.jitter, own.misfire, own.deadline) == (True, 0.0, "skip", None)


def test_misfire_deadline_rules() -> None:
    problems = problems_of(
        """\
        version: 1
        entries:
          a: {task: x.y, schedule: {every: 1m}, misfire: deadline}
          b: {task: x.y, schedule: {every: 1m}, deadline: 5m}
          c: {task: x.y, schedule: {every: 1m}, misfire: later}
        """
    )
    assert [(p.line, p.field) for p in problems] == [
        (3, "entries.a.misfire"),
        (4, "entries.b.deadline"),
        (5, "entries.c.misfire"),
    ]
    entry = one_entry("task: x.y\nschedule: {every: 1m}\nmisfire: deadline\ndeadline: 90s\n")
    assert (entry.misfire, entry.deadline) == ("deadline", 90.0)


def test_start_must_be_before_end() -> None:
    [problem] = problems_of(
        """\
        version: 1
        entries:
          a: {task: x.y, schedule: {every: 1m},
              start_at: 2030-01-02T00:00:00, end_at: 2030-01-01T00:00:00}
        """
    )
    assert problem.field == "entries.a.end_at"


@pytest.mark.parametrize(
    ("name", "fragment"),
    [
        ('""', "empty"),
        ('":lock"', "must not start with ':'"),
        ('"a\\nb"', "control characters"),
        ('"a\\tb"', "control characters"),
        ("x" * 201, "at most 200"),
    ],
)
def test_name_rules(name: str, fragment: str) -> None:
    [problem] = problems_of(
        f"version: 1\nentries:\n  {name}: {{task: x.y, schedule: {{every: 1m}}}}\n"
    )
    assert fragment in problem.message
    assert (problem.line, problem.column) == (3, 3)


def test_allowed_names() -> None:
    names = ["daily report", "billing:nightly", "rapport-été", "x" * 200, "a:b:c", "日次"]
    body = "".join(f'  "{n}": {{task: x.y, schedule: {{every: 1m}}}}\n' for n in names)
    spec = load_text("version: 1\nentries:\n" + body)
    assert [item.entry.name for item in spec.entries] == names


def test_args_kwargs_options_must_be_json() -> None:
    problems = problems_of(
        """\
        version: 1
        entries:
          a:
            task: x.y
            schedule: {every: 1m}
            args: [1, .nan]
            kwargs: {x: [.inf]}
            options: [queue]
        """
    )
    assert where(problems) == [
        (6, 15, "entries.a.args[1]"),
        (7, 18, "entries.a.kwargs.x[0]"),
        (8, 14, "entries.a.options"),
    ]


def test_head_problems() -> None:
    assert where(problems_of("entries: {}\n")) == [(1, 1, "version")]
    assert where(problems_of("- 1\n")) == [(1, 1, "")]
    assert "empty file" in problems_of("# nothing\n")[0].message
    assert where(problems_of("version: 1\nentries: [a]\n")) == [(2, 10, "entries")]
    assert load_text("version: 1\nentries:\n").entries == []


def test_duplicate_names_across_files(tmp_path: Path) -> None:
    entry = "version: 1\nentries:\n  # note\n  shared: {task: x.y, schedule: {every: 1m}}\n"
    (tmp_path / "a.yaml").write_text(entry)
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.yml").write_text("version: 1\nentries:\n" + entry.split("\n", 2)[2])
    with pytest.raises(ProblemsFound) as caught:
        load_paths([tmp_path])
    [problem] = caught.value.problems
    assert problem.file == str(tmp_path / "sub" / "b.yml")
    assert (problem.line, problem.column) == (4, 3)
    assert f"{tmp_path / 'a.yaml'}:4:3" in problem.message


def test_problems_from_several_files_at_once(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(
        "version: 1\nentries:\n  a: {task: 1, schedule: {every: 1m}}\n"
    )
    (tmp_path / "b.yaml").write_text("version: 1\nentries: {b: {task: x.y}}\n")
    (tmp_path / "c.yaml").write_bytes(b"version: 1\nentries: {\xff}\n")
    with pytest.raises(ProblemsFound) as caught:
        load_paths([tmp_path, tmp_path / "missing.yaml"])
    assert [(Path(p.file).name, p.line) for p in caught.value.problems] == [
        ("a.yaml", 3),
        ("b.yaml", 2),
        ("c.yaml", 2),
        ("missing.yaml", 0),
    ]


def test_directory_without_yaml_and_hidden_dirs(tmp_path: Path) -> None:
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "x.yaml").write_text("broken: [")
    with pytest.raises(ProblemsFound) as caught:
        load_paths([tmp_path])
    assert caught.value.problems[0].message == "no *.yaml or *.yml files found"


def test_same_file_twice_is_read_once(tmp_path: Path) -> None:
    path = tmp_path / "a.yaml"
    path.write_text(BRIEF_EXAMPLE)
    spec = load_paths([path, tmp_path])
    assert spec.files == [str(path)] and len(spec.entries) == 2


def test_yaml_problem_does_not_hide_other_entries() -> None:
    problems = problems_of(
        """\
        version: 1
        entries:
          a: {task: x.y, schedule: {every: 1m}, args: [!!python/object:os.system x]}
          a2: {task: x.y, schedule: {every: 1m}}
          b: {task: x.y, schedule: {every: never}}
          a2: {task: x.y, schedule: {every: 1m}}
        """
    )
    assert [(p.line, p.field) for p in problems] == [
        (3, "entries.a.args[0]"),
        (5, "entries.b.schedule.every"),
        (6, "entries.a2"),
    ]


def test_examples_are_valid() -> None:
    files = sorted(EXAMPLES.glob("*.yaml"))
    assert len(files) >= 2
    spec = load_paths(files)
    assert len(spec.entries) >= 5
    for path in files:
        first = path.read_text().splitlines()[0]
        assert first == "# yaml-language-server: $schema=../schemas/redbeat-sync.schema.json"


def test_duplicate_name_is_reported_even_when_the_entry_is_invalid(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(
        "version: 1\nentries:\n  x: {task: a.b, schedule: {every: 1m}}\n"
    )
    (tmp_path / "b.yaml").write_text("version: 1\nentries:\n  x: {task: a.b}\n")
    with pytest.raises(ProblemsFound) as caught:
        load_paths([tmp_path])
    assert [(Path(p.file).name, p.message.split(":")[0]) for p in caught.value.problems] == [
        ("b.yaml", "entry 'x' is defined twice"),
        ("b.yaml", "missing required field 'schedule'"),
    ]


def test_entries_given_by_alias() -> None:
    text = "x: {deep: &e {a: {task: x.y, schedule: {every: 1m}}}}\nversion: 1\nentries: *e\n"
    with pytest.raises(ProblemsFound) as caught:
        load_text(text)
    assert where(caught.value.problems) == [(1, 1, "x")]  # x is unknown, entries load
    spec = load_text("version: 1\nentries: &e {a: {task: x.y, schedule: {every: 1m}}}\n")
    assert [(i.entry.name, i.line, i.column) for i in spec.entries] == [("a", 2, 14)]


def test_huge_file_is_a_problem_not_a_crash(tmp_path: Path) -> None:
    path = tmp_path / "big.yaml"
    path.write_text(BRIEF_EXAMPLE * 3)
    with pytest.raises(ProblemsFound) as caught:
        load_paths([path], max_file_bytes=1024)
    [problem] = caught.value.problems
    assert (problem.file, problem.line) == (str(path), 0)
    assert "limit; split the schedule into several files" in problem.message


def test_defaults_options_are_checked_once_at_their_place() -> None:
    problems = problems_of(
        """\
        version: 1
        defaults: {options: {expires: 2030-01-01T00:00:00, bad: .nan}}
        entries:
          a: {task: x.y, schedule: {every: 1m}}
          b: {task: x.y, schedule: {every: 1m}}
        """
    )
    assert where(problems) == [(2, 57, "defaults.options.bad")]
    [a] = load_text(
        "version: 1\ndefaults: {options: {expires: 2030-01-01T00:00:00}}\n"
        "entries: {a: {task: x.y, schedule: {every: 1m}}}\n"
    ).entries
    assert a.entry.options == {"expires": datetime(2030, 1, 1, tzinfo=timezone.utc)}


def test_suggestions_come_from_the_same_level_only() -> None:
    """A top-level ``on:`` is not a misspelt solar ``lon``; each level offers its own."""
    found = problems_of(
        """\
        version: 1
        on: push
        enties: {}
        defaults: {timezon: UTC, lonn: 2}
        entries:
          a:
            task: x.y
            schedule: {solar: {event: sunset, lat: 1, lon: 2, lonn: 2}}
            taks: 1
        """
    )
    messages = {p.field: p.message for p in found}
    assert messages == {
        "on": "unknown field 'on'",
        "enties": "unknown field 'enties'; did you mean 'entries'?",
        "defaults.timezon": "unknown field 'timezon'; did you mean 'timezone'?",
        "defaults.lonn": "unknown field 'lonn'",
        "entries.a.schedule.solar.lonn": "unknown field 'lonn'; did you mean 'lon'?",
        "entries.a.taks": "unknown field 'taks'; did you mean 'task'?",
    }, messages


def test_entries_are_checked_with_what_faulty_defaults_still_give() -> None:
    """A fault in ``defaults`` does not hide the entries' own: every problem at once."""
    problems = problems_of(
        """\
        version: 1
        defaults: {misfire: deadline, zone: Europe/Paris}
        entries:
          a: {task: x.y, schedule: {every: 5m}}
        """
    )
    assert [(p.field, p.message[:30]) for p in problems] == [
        ("defaults.zone", "unknown field 'zone'; did you "),
        ("entries.a", "misfire: deadline needs `deadl"),
    ]
    # A faulty default is reported once, not again on each entry that inherits it.
    problems = problems_of(
        """\
        version: 1
        defaults: {misfire: deadline, deadline: 5x}
        entries:
          a: {task: x.y, schedule: {every: 5m}}
        """
    )
    assert [p.field for p in problems] == ["defaults.deadline"]

"""abandon, drift, import and the --app task check, through the real CLI.

Celery apps are real modules written into tmp_path and imported by the CLI the way
``celery -A`` would; entries are written by celery-redbeat itself where a deployment
would have them; Redis is the test's own redis-server.
"""

from __future__ import annotations

import json
import sys
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import redis
from celery import Celery
from celery.schedules import crontab, schedule
from click.testing import CliRunner, Result
from redbeat.schedulers import RedBeatSchedulerEntry

from redbeat_sync.cli import main
from redbeat_sync.state import audit
from redbeat_sync.state.layout import Layout

PREFIX = "rs-cli:"
LAYOUT = Layout(PREFIX)

FILES = """version: 1
entries:
  report: {task: app.tasks.report, schedule: {cron: '0 3 * * *'}, args: [1]}
  ping: {task: app.tasks.ping, schedule: {every: 30s}}
"""


@pytest.fixture
def app(redis_url: str) -> Iterator[Celery]:
    celery_app = Celery("lifecycle-cli", set_as_current=False)
    celery_app.conf.update(redbeat_redis_url=redis_url, redbeat_key_prefix=PREFIX, timezone="UTC")
    yield celery_app
    celery_app.close()


def cli(redis_url: str, *args: str) -> Result:
    env = {"REDBEAT_SYNC_REDIS_URL": redis_url, "REDBEAT_SYNC_KEY_PREFIX": PREFIX}
    return CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)


def write(tmp_path: Path, text: str, name: str = "schedules.yaml") -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def applied(tmp_path: Path, redis_url: str, text: str = FILES) -> str:
    path = write(tmp_path, text)
    result = cli(redis_url, "apply", path, "--auto-approve")
    assert result.exit_code == 0, result.output
    return path


# --------------------------------------------------------------------------- abandon


def test_abandon_releases_through_the_lock_with_an_audit_record(
    tmp_path: Path, redis_url: str, redis_client: redis.Redis, app: Celery
) -> None:
    applied(tmp_path, redis_url)
    result = cli(redis_url, "abandon", "report", "--auto-approve", "--who", "ops@ci")
    assert result.exit_code == 0, result.output
    assert "=> report (release)" in result.output
    assert "Released 1 entry" in result.output
    assert redis_client.smembers(LAYOUT.inventory_key) == {"ping"}
    assert set(redis_client.hgetall(LAYOUT.entry_key("report"))) == {"definition", "meta"}
    loaded = RedBeatSchedulerEntry.from_key(LAYOUT.entry_key("report"), app=app)
    assert loaded.args == [1]
    (record, *_) = audit.read_history(redis_client, LAYOUT)
    assert record["who"] == "ops@ci" and "abandon report" in record["message"]
    assert not redis_client.exists(LAYOUT.sync_lock_key)


def test_abandon_refuses_unknown_names_and_needs_approval(
    tmp_path: Path, redis_url: str, redis_client: redis.Redis
) -> None:
    applied(tmp_path, redis_url)
    unknown = cli(redis_url, "abandon", "report", "nope", "--auto-approve")
    assert unknown.exit_code == 1
    assert "not managed by redbeat-sync" in unknown.output and "nope" in unknown.output
    asked = cli(redis_url, "abandon", "report")  # no terminal, no --auto-approve
    assert asked.exit_code == 1 and "refusing" in asked.output
    assert redis_client.smembers(LAYOUT.inventory_key) == {"ping", "report"}


# --------------------------------------------------------------------------- drift


def test_drift_detects_hand_edits_deleted_keys_and_unapplied_entries(
    tmp_path: Path, redis_url: str, redis_client: redis.Redis, app: Celery
) -> None:
    path = applied(tmp_path, redis_url)
    clean = cli(redis_url, "drift", path, "--detailed-exitcode")
    assert clean.exit_code == 0, clean.output
    assert "No drift" in clean.output

    # Someone edits an entry through celery-redbeat, deletes another by hand, and a
    # new entry is added to the files but never applied.
    edited = RedBeatSchedulerEntry.from_key(LAYOUT.entry_key("report"), app=app)
    edited.args = [2]
    edited.save()
    redis_client.delete(LAYOUT.entry_key("ping"))
    redis_client.zrem(LAYOUT.schedule_key, LAYOUT.entry_key("ping"))
    path = write(tmp_path, FILES + "  fresh: {task: app.tasks.fresh, schedule: {every: 1h}}\n")

    drifted = cli(redis_url, "drift", path, "--detailed-exitcode")
    assert drifted.exit_code == 2, drifted.output
    assert "report: changed in Redis" in drifted.output
    assert "args[0]: Redis has 2, the files say 1" in drifted.output
    assert "ping: managed but missing from Redis" in drifted.output
    assert "fresh: in the files, not in Redis" in drifted.output

    as_json = json.loads(cli(redis_url, "drift", path, "--format", "json").output)
    assert as_json["drift"] is True
    assert as_json["counts"]["changed"] == 1 and as_json["counts"]["missing"] == 1
    report = next(i for i in as_json["items"] if i["name"] == "report")
    assert report["changes"] == [{"path": "args[0]", "redis": 2, "files": 1}]
    markdown = cli(redis_url, "drift", path, "--format", "markdown").output
    assert "changed in Redis" in markdown and "| entry | drift | details |" in markdown

    plain = cli(redis_url, "drift", path)  # without --detailed-exitcode: report only
    assert plain.exit_code == 0
    warned = cli(redis_url, "drift", path, "--detailed-exitcode", "--warn-only")
    assert warned.exit_code == 0
    assert "warning: drift: report: changed" in warned.output
    # drift only reads
    assert redis_client.smembers(LAYOUT.inventory_key) == {"ping", "report"}


# --------------------------------------------------------------------------- apps on disk


def app_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, redis_url: str, body: str) -> str:
    """Write a Celery app module (plus a tasks module it imports); its module:attr."""
    name = f"lcapp_{uuid.uuid4().hex[:8]}"
    tasks = f"{name}_tasks"
    (tmp_path / f"{tasks}.py").write_text(
        f"from {name} import app\n\n"  # imported by the worker-style loader, not at once
        "@app.task(name='proj.tasks.add', shared=False)\n"
        "def add(x, y, *, scale=1):\n    return (x + y) * scale\n\n"
        "@app.task(name='proj.tasks.report', bind=True, shared=False)\n"
        "def report(self, day, fmt='pdf'):\n    return day\n",
        encoding="utf-8",
    )
    # and one more found the autodiscover way (package.tasks), like a Django project
    package = tmp_path / f"{name}_pkg"
    package.mkdir()
    (package / "__init__.py").write_text("", encoding="utf-8")
    (package / "tasks.py").write_text(
        f"from {name} import app\n\n"
        "@app.task(name='proj.tasks.auto', shared=False)\n"
        "def auto():\n    return 1\n",
        encoding="utf-8",
    )
    (tmp_path / f"{name}.py").write_text(
        "from datetime import timedelta\n"
        "from celery import Celery\n"
        "from celery.schedules import crontab, schedule\n"
        f"app = Celery({name!r}, set_as_current=False)\n"
        f"app.conf.update(redbeat_redis_url={redis_url!r}, redbeat_key_prefix={PREFIX!r},\n"
        f"                imports=[{tasks!r}])\n"
        f"app.autodiscover_tasks([{name + '_pkg'!r}])\n" + body,
        encoding="utf-8",
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    return f"{name}:app"


def test_task_check_unknown_name_with_suggestion_and_bad_arguments(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, redis_url: str, redis_client: redis.Redis
) -> None:
    target = app_module(tmp_path, monkeypatch, redis_url, "app.conf.timezone = 'UTC'\n")
    bad = write(
        tmp_path,
        "version: 1\nentries:\n"
        "  typo: {task: proj.tasks.ad, schedule: {every: 1m}, args: [1, 2]}\n"
        "  too-many: {task: proj.tasks.add, schedule: {every: 1m}, args: [1, 2, 3]}\n"
        "  bad-kw: {task: proj.tasks.report, schedule: {every: 1m}, kwargs: {color: red}}\n"
        "  bad-cron: {task: proj.tasks.add, schedule: {cron: '61 * * * *'}}\n",
        "bad.yaml",
    )
    result = cli(redis_url, "validate", bad, "--app", target)
    assert result.exit_code == 1, result.output
    # each problem at the value to fix, and the file's own problem beside the app's
    assert (
        "bad.yaml:3:16: entries.typo.task: unknown task 'proj.tasks.ad': the Celery app does "
        "not register it; did you mean 'proj.tasks.add'?"
    ) in result.output
    assert "bad.yaml:4:65: entries.too-many.args: arguments do not fit proj.tasks.add" in (
        result.output
    )
    assert "entries.bad-cron.schedule.cron: the minute field '61'" in result.output
    assert "4 problems found" in result.output
    assert "too many positional arguments" in result.output
    # bind=True: self is not an argument the file has to give
    # the kwargs are what does not fit: the problem is reported under kwargs (issue 9 §5)
    assert "entries.bad-kw.kwargs" in result.output and "'day'" in result.output
    assert "unexpected keyword argument 'color'" in result.output  # every misfit is named
    assert "entries.bad-kw.args" not in result.output
    planned = cli(redis_url, "plan", bad, "--app", target)
    assert planned.exit_code == 1 and "did you mean 'proj.tasks.add'?" in planned.output
    assert "the minute field '61'" in planned.output
    assert redis_client.dbsize() == 0  # validate is offline; plan stopped before Redis

    good = write(
        tmp_path,
        "version: 1\nentries:\n"
        "  sum: {task: proj.tasks.add, schedule: {every: 1m}, args: [1, 2], kwargs: {scale: 3}}\n"
        "  daily: {task: proj.tasks.report, schedule: {cron: '0 3 * * *'}, args: [mon]}\n"
        "  auto: {task: proj.tasks.auto, schedule: {every: 1h}}\n",
        "good.yaml",
    )
    ok = cli(redis_url, "validate", good, "--app", target)
    assert ok.exit_code == 0, ok.output
    assert cli(redis_url, "plan", good, "--app", target).exit_code == 0


BEAT_SCHEDULE = """
app.conf.timezone = 'Europe/Paris'
app.conf.beat_schedule = {
    'nightly': {'task': 'proj.tasks.report', 'schedule': crontab(minute=0, hour=3,
                day_of_week='mon-fri'), 'args': ('mon',), 'options': {'queue': 'reports'}},
    'every-5m': {'task': 'proj.tasks.add', 'schedule': timedelta(minutes=5), 'args': [1, 2]},
    'every-30s': {'task': 'proj.tasks.add', 'schedule': 30, 'args': [3, 4],
                  'kwargs': {'scale': 2}},
    'relative': {'task': 'proj.tasks.add', 'schedule': schedule(timedelta(hours=1)),
                 'args': [5, 6], 'relative': True},
}
"""


def test_import_then_validate_plan_apply_gives_what_redbeat_would_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, redis_url: str, redis_client: redis.Redis
) -> None:
    target = app_module(tmp_path, monkeypatch, redis_url, BEAT_SCHEDULE)
    out = tmp_path / "imported.yaml"
    result = cli(redis_url, "import", "--from-app", target, "--out", str(out))
    assert result.exit_code == 0, result.output
    text = out.read_text(encoding="utf-8")
    assert "timezone: Europe/Paris" in text and "relative: true" in text

    assert cli(redis_url, "validate", str(out), "--app", target).exit_code == 0
    planned = cli(redis_url, "plan", str(out), "--app", target, "--detailed-exitcode")
    assert planned.exit_code == 2, planned.output
    assert "Plan: 4 to create" in planned.output
    assert "requires redbeat_sync.Scheduler" not in planned.output  # plain RedBeat entries
    done = cli(redis_url, "apply", str(out), "--app", target, "--auto-approve")
    assert done.exit_code == 0, done.output

    # celery-redbeat loads each entry with the schedule its beat_schedule had.
    module = sys.modules[target.split(":")[0]]
    app = module.app
    for name, conf in app.conf.beat_schedule.items():
        loaded = RedBeatSchedulerEntry.from_key(PREFIX + name, app=app)
        expected = conf["schedule"]
        if isinstance(expected, (int, timedelta)):
            seconds = expected if isinstance(expected, int) else expected.total_seconds()
            expected = schedule(timedelta(seconds=seconds))
        assert loaded.schedule == expected, name
        assert loaded.task == conf["task"]
        assert list(loaded.args or []) == list(conf.get("args", []))
        assert loaded.kwargs == conf.get("kwargs", {})
        assert loaded.options == conf.get("options", {})
        if isinstance(expected, crontab):
            assert loaded.schedule._orig_day_of_week == "mon-fri"
    relative = RedBeatSchedulerEntry.from_key(PREFIX + "relative", app=app)
    assert relative.schedule.relative is True
    again = cli(redis_url, "plan", str(out), "--app", target, "--detailed-exitcode")
    assert again.exit_code == 0, again.output


def test_import_lists_unconvertible_entries(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, redis_url: str
) -> None:
    body = (
        "from celery.schedules import solar\n"
        "app.conf.beat_schedule = {\n"
        "  'ok': {'task': 'proj.tasks.add', 'schedule': 60, 'args': [1, 2]},\n"
        "  'weird': {'task': 'proj.tasks.add', 'schedule': 10, 'args': [object()]},\n"
        "}\n"
    )
    target = app_module(tmp_path, monkeypatch, redis_url, body)
    out = tmp_path / "out.yaml"
    refused = cli(redis_url, "import", "--from-app", target, "--out", str(out))
    assert refused.exit_code == 1
    assert "cannot convert weird: args cannot be stored as JSON" in refused.output
    assert not out.exists()
    skipped = cli(redis_url, "import", "--from-app", target, "--skip-unconvertible")
    assert skipped.exit_code == 0
    assert "ok:" in skipped.output and "weird" not in skipped.stdout


def test_import_of_a_solar_schedule(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, redis_url: str
) -> None:
    body = (
        "from celery.schedules import solar\n"
        "app.conf.beat_schedule = {\n"
        "  'sunrise': {'task': 'proj.tasks.add', 'schedule': solar('sunrise', 48.8, 2.3),\n"
        "              'args': [1, 2]},\n"
        "}\n"
    )
    target = app_module(tmp_path, monkeypatch, redis_url, body)
    result = cli(redis_url, "import", "--from-app", target)
    assert result.exit_code == 0, result.output
    assert "solar" in result.stdout and "sunrise" in result.stdout


def test_import_of_a_redbeat_rrule_round_trips_through_redbeat() -> None:
    from datetime import datetime, timezone
    from itertools import islice

    from redbeat.decoder import RedBeatJSONDecoder
    from redbeat.schedules import rrule

    from redbeat_sync.fileformat.from_celery import schedule_from_celery
    from redbeat_sync.state.codec import encode_schedule

    start = datetime(2026, 1, 5, 9, 30, tzinfo=timezone.utc)
    original = rrule("WEEKLY", dtstart=start, byweekday=[0, 2], byhour=9, byminute=30, count=10)
    converted = schedule_from_celery(original)
    assert converted.kind == "rrule"
    stored = json.dumps(encode_schedule(converted, "UTC"))
    back = json.loads(stored, cls=RedBeatJSONDecoder)
    assert list(islice(back.rrule, 10)) == list(islice(original.rrule, 10))


def test_import_out_needs_force_to_overwrite_like_export(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, redis_url: str
) -> None:
    target = app_module(tmp_path, monkeypatch, redis_url, BEAT_SCHEDULE)
    out = tmp_path / "imported.yaml"
    out.write_text("mine\n", encoding="utf-8")
    refused = cli(redis_url, "import", "--from-app", target, "--out", str(out))
    assert refused.exit_code == 1
    assert f"{out} exists; pass --force to overwrite it" in refused.output
    assert out.read_text(encoding="utf-8") == "mine\n"
    forced = cli(redis_url, "import", "--from-app", target, "--out", str(out), "--force")
    assert forced.exit_code == 0, forced.output
    assert "entries:" in out.read_text(encoding="utf-8")


def test_import_names_its_own_option_and_says_solar_converts() -> None:
    from click.testing import CliRunner

    from redbeat_sync.cli import main

    bad = CliRunner().invoke(main, ["import", "--from-app", "nope_no_such_module:app"])
    assert bad.exit_code != 0
    assert "--from-app" in bad.output and "'--app'" not in bad.output, bad.output
    helped = CliRunner().invoke(main, ["import", "--help"])
    assert "solar" not in helped.output and "cannot be converted" in helped.output

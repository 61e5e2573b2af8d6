"""Migrating never stops a running entry (issue 10 §3).

Following "Migrating from RedBeat" on an app whose beat runs in Europe/Paris: with
``--app`` on every step the adoption changes nothing; a step without it (beat
timezone assumed UTC) would store RedBeat's crontab inert for celery-redbeat, so the
plan says so in plain words and apply refuses unless ``--allow-stopping-redbeat``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import redbeat.schedulers
import redis
from celery.schedules import crontab
from redis_topologies import cli

PREFIX = "guard:"


@pytest.fixture
def paris_app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, redis_url: str) -> str:
    (tmp_path / "paris_app.py").write_text(
        "from celery import Celery\n"
        "app = Celery('paris', set_as_current=False)\n"
        f"app.conf.update(redbeat_redis_url={redis_url!r}, broker_url='memory://',\n"
        f"    redbeat_key_prefix={PREFIX!r}, timezone='Europe/Paris')\n"
        "@app.task(name='tasks.report', shared=False)\n"
        "def report():\n"
        "    pass\n"
    )
    monkeypatch.delitem(sys.modules, "paris_app", raising=False)
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    import paris_app

    app = paris_app.app
    app.redbeat_conf = redbeat.schedulers.RedBeatConfig(app)
    entry = redbeat.schedulers.RedBeatSchedulerEntry(
        "nightly", "tasks.report", crontab(minute=0, hour=3), app=app
    )
    entry.save()  # written by celery-redbeat, as a running RedBeat deployment has it
    return "paris_app:app"


def _definition(client: redis.Redis) -> dict:
    return json.loads(client.hget(PREFIX + "nightly", "definition"))


def test_adopt_without_the_app_says_redbeat_stops_and_apply_refuses(
    paris_app: str, redis_url: str, redis_client: redis.Redis, tmp_path: Path
) -> None:
    out = tmp_path / "schedules"
    exported = cli("export", "--out", str(out), "--app", paris_app)
    assert exported.code == 0, exported.all
    before = redis_client.hgetall(PREFIX + "nightly")

    no_app = ("--redis-url", redis_url, "--key-prefix", PREFIX)
    planned = cli("plan", str(out), *no_app)
    assert "celery-redbeat's scheduler will stop running this entry" in planned.stdout
    assert "beat timezone assumed: UTC" in planned.stdout
    refused = cli("apply", str(out), *no_app, "--auto-approve")
    assert refused.code == 1, refused.all
    assert "1 adopted entry would stop running under celery-redbeat's scheduler (nightly)" in (
        refused.stderr
    )
    assert redis_client.hgetall(PREFIX + "nightly") == before  # nothing written

    # The guide's way: --app on every step. Nothing changes for celery-redbeat.
    planned = cli("plan", str(out), "--app", paris_app)
    assert "stop running" not in planned.stdout, planned.all
    applied = cli("apply", str(out), "--app", paris_app, "--auto-approve")
    assert applied.code == 0, applied.all
    assert _definition(redis_client)["enabled"] is True


def test_the_flag_lets_an_informed_user_adopt_anyway(
    paris_app: str, redis_url: str, redis_client: redis.Redis, tmp_path: Path
) -> None:
    out = tmp_path / "schedules"
    assert cli("export", "--out", str(out), "--app", paris_app).code == 0
    no_app = ("--redis-url", redis_url, "--key-prefix", PREFIX)
    applied = cli("apply", str(out), *no_app, "--auto-approve", "--allow-stopping-redbeat")
    assert applied.code == 0, applied.all
    assert _definition(redis_client)["enabled"] is False  # inert for celery-redbeat now


def test_without_the_app_no_step_stores_a_guessed_zone(
    paris_app: str, redis_url: str, redis_client: redis.Redis, tmp_path: Path
) -> None:
    """Issue 10: export, plan and apply with neither --app nor --beat-timezone read
    RedBeat's crontab (03:00 Paris) as 03:00 UTC; apply used to adopt it as a no-op and
    store "timezone": "UTC", so redbeat_sync.Scheduler ran it an hour off."""
    out = tmp_path / "schedules"
    no_app = ("--redis-url", redis_url, "--key-prefix", PREFIX)
    exported = cli("export", "--out", str(out), *no_app)
    assert exported.code == 0, exported.all
    assert "assumed beat timezone UTC for 1 cron entry" in exported.stderr
    before = redis_client.hgetall(PREFIX + "nightly")

    planned = cli("plan", str(out), *no_app)
    assert (
        "assumed beat timezone UTC (no --app or --beat-timezone): celery-redbeat runs "
        "this crontab in the Celery app's timezone"
    ) in planned.stdout, planned.all
    refused = cli("apply", str(out), *no_app, "--auto-approve")
    assert refused.code == 1, refused.all
    assert "1 adopted crontab (nightly) would be stored in the assumed beat timezone UTC" in (
        refused.stderr
    )
    # A saved plan carries the guess too; the other guard's flag does not waive it.
    saved = tmp_path / "plan.json"
    assert cli("plan", str(out), *no_app, "--out", str(saved)).code == 0
    refused = cli("apply", str(saved), *no_app, "--allow-stopping-redbeat")
    assert refused.code == 1, refused.all
    assert "assumed beat timezone UTC" in refused.stderr
    assert redis_client.hgetall(PREFIX + "nightly") == before  # nothing written

    # Naming the zone: export and apply with --app store the crontab in Paris.
    assert cli("export", "--out", str(out), "--app", paris_app, "--force").code == 0
    applied = cli("apply", str(out), *no_app, "--beat-timezone", "Europe/Paris", "--auto-approve")
    assert applied.code == 0, applied.all
    extra = json.loads(redis_client.hget(PREFIX + "nightly", "redbeat_sync"))
    assert extra["timezone"] == "Europe/Paris"
    assert _definition(redis_client)["enabled"] is True  # celery-redbeat runs it as before

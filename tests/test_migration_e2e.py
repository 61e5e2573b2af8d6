"""README's "Migrating from RedBeat", run as written against a running celery-redbeat.

A real ``celery beat -S redbeat.RedBeatScheduler`` runs the app's ``beat_schedule``
(one entry every 2 s) with a real worker; one guide's commands run in order with
``--app`` (export, plan, apply; or import, validate, plan, apply: the two recipes are
alternatives); then beat is switched to ``redbeat_sync.Scheduler``.
The worker's record shows the entry kept running under RedBeat while it was adopted,
and after the switch the first slot is exactly the one after RedBeat's last run
(nothing lost, nothing doubled), with the run count continuing.
"""

from __future__ import annotations

import json
import subprocess
import time
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from beat_cluster import Cluster, redbeat_sync_cli

pytestmark = pytest.mark.slow

APP = "tests.beat_app:app"
STATIC = "static-every-2s"
KEY = "redbeat:" + STATIC


def guide(procs: Cluster, *args: str) -> subprocess.CompletedProcess[str]:
    """One ``redbeat-sync`` step of the guide, as a user runs it (from the project root)."""
    done = redbeat_sync_cli(*args, env=procs.env)
    assert done.returncode in (0, 2), done.stdout + done.stderr
    return done


def static_runs(procs: Cluster) -> list[dict]:
    return [r for r in procs.runs() if r["label"] == "static"]


def wait_static(procs: Cluster, count: int, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while len(static_runs(procs)) < count and time.monotonic() < deadline:
        time.sleep(0.2)
    assert len(static_runs(procs)) >= count, procs.logs()


def meta(procs: Cluster) -> dict:
    return json.loads(procs.client.hget(KEY, "meta"))


def _instant(encoded: dict) -> datetime:
    from redbeat_sync.state.codec import decode_datetime

    return decode_datetime(encoded)


def _from_redbeat(cluster: Cluster, schedules: Path) -> None:
    """README, "Migrating from RedBeat", steps 1-3."""
    guide(cluster, "export", "--out", str(schedules), "--app", APP)
    planned = guide(cluster, "plan", str(schedules), "--app", APP)
    _only_adoptions(planned.stdout)
    guide(cluster, "apply", str(schedules), "--app", APP, "--auto-approve")


def _from_beat_schedule(cluster: Cluster, schedules: Path) -> None:
    """README, "Migrating from `beat_schedule`", its four commands."""
    schedules.mkdir()
    out = str(schedules / "beat.yaml")
    guide(cluster, "import", "--from-app", APP, "--out", out)
    guide(cluster, "validate", str(schedules), "--app", APP)
    _only_adoptions(guide(cluster, "plan", str(schedules), "--app", APP).stdout)
    guide(cluster, "apply", str(schedules), "--app", APP, "--auto-approve")


def _only_adoptions(plan_text: str) -> None:
    assert "(adopt)" in plan_text and "taken over as stored" in plan_text, plan_text
    assert "stop running" not in plan_text and "→" not in plan_text, plan_text


@pytest.mark.parametrize("recipe", [_from_redbeat, _from_beat_schedule], ids=["redbeat", "import"])
def test_migrating_a_running_redbeat_loses_and_doubles_nothing(
    cluster: Cluster, tmp_path: Path, recipe
) -> None:
    cluster.env["BEAT_TEST_STATICS"] = "1"  # tests.beat_app's beat_schedule
    cluster.env.pop("BEAT_TEST_LOCK_TIMEOUT", None)  # RedBeat's own default lock
    cluster.worker()
    redbeat_beat = cluster._start(
        "redbeat", "beat", "-S", "redbeat.RedBeatScheduler", "-l", "info",
        "-s", str(tmp_path / "redbeat.db"),
    )  # fmt: skip
    wait_static(cluster, 2)

    recipe(cluster, tmp_path / "schedules")
    definition = json.loads(cluster.client.hget(KEY, "definition"))
    assert definition["enabled"] is True  # celery-redbeat still runs it
    adopted_at = len(static_runs(cluster))
    wait_static(cluster, adopted_at + 2)  # ... and it does

    redbeat_beat.terminate()
    redbeat_beat.wait(30)
    handed_over = meta(cluster)
    count_at_switch = handed_over["total_run_count"]
    runs_at_switch = len(static_runs(cluster))
    ours = cluster.beat()
    wait_static(cluster, runs_at_switch + 3)
    ours.terminate()
    ours.wait(30)

    after = static_runs(cluster)[runs_at_switch:]
    slots = [datetime.fromisoformat(r["slot"]) for r in after]
    assert all(r["slot"] for r in after), after  # every later run was sent by us
    assert len(set(slots)) == len(slots), f"a slot ran twice: {slots}"
    step = timedelta(seconds=2)
    assert slots[0] == _instant(handed_over["last_run_at"]) + step  # none lost or doubled
    for previous, run in zip(slots, after[1:], strict=False):
        assert datetime.fromisoformat(run["covers_from"]) == previous + step
    assert meta(cluster)["total_run_count"] == count_at_switch + len(after)

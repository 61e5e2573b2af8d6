"""Operating beat (issue 12): pause/resume, run now, run history, with real
``celery beat -S redbeat_sync.Scheduler`` and ``celery worker`` processes."""

from __future__ import annotations

import itertools
import json
import signal
import time
from datetime import datetime, timezone

import pytest
from beat_app import RUNS_KEY, TASK
from beat_cluster import Cluster, add_entries
from click.testing import CliRunner, Result

from redbeat_sync.beat.runlog import failing_entries, read_runs, workers_key
from redbeat_sync.cli import main
from redbeat_sync.schedule.entry import Entry, Every
from redbeat_sync.state.audit import read_history
from redbeat_sync.state.layout import Layout

UTC = timezone.utc
LAYOUT = Layout()


def cli(redis_url: str, *args: str) -> Result:
    return CliRunner().invoke(main, [*args, "--redis-url", redis_url])


def labelled(cluster: Cluster, label: str) -> list[dict]:
    return [r for r in cluster.runs() if r["label"] == label]


def wait_until(predicate, timeout: float = 30.0, logs=None) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError("timed out" + (f"\n{logs()}" if logs else ""))


@pytest.mark.slow
def test_paused_entry_sends_nothing_and_does_not_burst_on_resume(
    cluster: Cluster,
    redis_url: str,
) -> None:
    # catch_up is the entry's own misfire policy: resume still skips what was missed.
    add_entries(redis_url, Entry("tick", TASK, Every(1.0), args=["tick"]))
    cluster.worker()
    cluster.beat()
    cluster.leader()
    wait_until(lambda: len(labelled(cluster, "tick")) >= 2, logs=cluster.logs)
    paused = cli(redis_url, "pause", "tick", "-m", "maintenance window", "--who", "ops")
    assert paused.exit_code == 0, paused.output
    assert "only redbeat_sync.Scheduler honours a pause" in paused.output
    paused_at = time.time()
    time.sleep(5.0)
    during = [
        r for r in labelled(cluster, "tick")
        if datetime.fromisoformat(r["slot"]).timestamp() > paused_at + 0.5
    ]  # fmt: skip
    assert during == [], during
    asked_at = time.time()  # the resume's own clock reads later than this
    resumed = cli(redis_url, "resume", "tick", "-m", "done", "--who", "ops")
    assert resumed.exit_code == 0, resumed.output
    resumed_at = time.time()
    wait_until(
        lambda: len([r for r in labelled(cluster, "tick") if r["ran_at"] > resumed_at]) >= 3,
        logs=cluster.logs,
    )
    after = [r for r in labelled(cluster, "tick") if r["ran_at"] > resumed_at]
    for run in after:
        slot = datetime.fromisoformat(run["slot"]).timestamp()
        covers = datetime.fromisoformat(run["covers_from"]).timestamp()
        # No run stands for slots of the paused window: no catch-up on resume.
        assert covers >= slot >= asked_at, (run, asked_at)
    history = read_history(cluster.client, LAYOUT, 10)
    actions = [(h.get("action"), h["who"], h.get("message")) for h in history]
    assert ("pause", "ops", "maintenance window") in actions
    assert ("resume", "ops", "done") in actions


@pytest.mark.slow
def test_pause_until_resumes_by_itself(cluster: Cluster, redis_url: str) -> None:
    add_entries(redis_url, Entry("tick", TASK, Every(1.0), args=["tick"]))
    cluster.worker()
    cluster.beat()
    cluster.leader()
    wait_until(lambda: len(labelled(cluster, "tick")) >= 1, logs=cluster.logs)
    result = cli(redis_url, "pause", "tick", "-m", "short", "--until", "4s")
    assert result.exit_code == 0, result.output
    paused_at = time.time()
    wait_until(lambda: any(r["ran_at"] > paused_at + 4 for r in labelled(cluster, "tick")),
               logs=cluster.logs)  # fmt: skip
    # --until 4s was counted from just before paused_at: its slots before then are out.
    during = [
        r for r in labelled(cluster, "tick")
        if paused_at + 0.5 < datetime.fromisoformat(r["slot"]).timestamp() < paused_at + 3.5
    ]  # fmt: skip
    assert during == []


@pytest.mark.slow
def test_run_now_sends_exactly_one_run_under_a_leader_kill(
    cluster: Cluster,
    redis_url: str,
) -> None:
    add_entries(redis_url, Entry("hourly", TASK, Every(3600.0), args=["hourly"]))
    cluster.worker()
    cluster.beat()
    cluster.beat()
    leader = cluster.leader()
    result = cli(redis_url, "run", "hourly", "-m", "backfill", "--who", "ops")
    assert result.exit_code == 0, result.output
    leader.send_signal(signal.SIGKILL)
    cluster.leader(other_than=leader, timeout=20)
    wait_until(lambda: len(labelled(cluster, "hourly")) >= 1, logs=cluster.logs)
    time.sleep(3.0)  # a second send would arrive by now
    runs = labelled(cluster, "hourly")
    assert len(runs) == 1, runs
    assert runs[0]["slot"] is None  # an extra run, not a slot of the schedule
    assert not cluster.client.hlen(LAYOUT.prefix + ":sync:run-requests")
    meta = json.loads(cluster.client.hget(LAYOUT.entry_key("hourly"), "meta"))
    assert meta.get("total_run_count", 0) == 0  # the schedule's run history is untouched
    history = read_history(cluster.client, LAYOUT, 5)
    assert any(h.get("action") == "run" and h["message"] == "backfill" for h in history)


def test_run_with_no_leader_says_so(redis_url: str) -> None:
    add_entries(redis_url, Entry("hourly", TASK, Every(3600.0)))
    result = cli(redis_url, "run", "hourly")
    assert result.exit_code == 1
    assert "no beat holds the leader lock" in result.output
    queued = cli(redis_url, "run", "hourly", "--queue-if-no-leader", "10m")
    assert queued.exit_code == 0, queued.output
    assert "queued" in queued.output


@pytest.mark.slow
def test_history_records_worker_outcomes_and_run_wait(
    cluster: Cluster,
    redis_url: str,
) -> None:
    add_entries(
        redis_url,
        Entry("ok", TASK, Every(1.0), args=["ok"]),
        Entry("bad", "tests.beat_app.fail", Every(1.0), args=["bad"]),
        Entry("later", TASK, Every(3600.0), args=["later"]),
    )
    cluster.worker()
    cluster.beat()
    cluster.leader()

    def finished(name: str) -> list[dict]:
        runs = read_runs(cluster.client, LAYOUT, name)
        return [r for r in runs if r["state"] in ("succeeded", "failed")]

    wait_until(lambda: len(finished("ok")) >= 2 and len(finished("bad")) >= 2, logs=cluster.logs)
    good = finished("ok")[0]
    assert good["state"] == "succeeded" and good["runtime"] >= 0 and good["slot"]
    bad = finished("bad")[0]
    assert bad["state"] == "failed" and bad["error"] == "ValueError: boom in bad"
    failing = failing_entries(cluster.client, LAYOUT, 2)
    assert "bad" in failing and "ok" not in failing
    wait_until(lambda: len(read_runs(cluster.client, LAYOUT, "bad")) >= 3)
    shown = cli(redis_url, "runs", "bad", "-n", "3", "--format", "json")
    assert shown.exit_code == 0, shown.output
    assert len(json.loads(shown.output)["runs"]) == 3
    waited = cli(redis_url, "run", "later", "--wait", "30")
    assert waited.exit_code == 0, waited.output
    assert "Outcome: succeeded" in waited.output
    # capped: never more than the configured history (20 by default)
    wait_until(lambda: cluster.client.llen(RUNS_KEY) > 0)
    assert cluster.client.llen(LAYOUT.prefix + ":sync:runs:ok") <= 20


@pytest.mark.slow
def test_overlap_skip_never_lets_two_runs_of_a_slow_task_overlap(
    cluster: Cluster,
    redis_url: str,
) -> None:
    add_entries(
        redis_url,
        Entry("slow", "tests.beat_app.slow", Every(1.0), args=["slow", 2.5],
              overlap="skip", overlap_timeout=60.0),
        Entry("free", "tests.beat_app.slow", Every(1.0), args=["free", 2.5]),
    )  # fmt: skip
    cluster.worker()
    # Until a worker reports in, beat cannot know when runs end and holds nothing back.
    wait_until(lambda: cluster.client.hlen(workers_key(LAYOUT)) > 0, logs=cluster.logs)
    cluster.beat()
    cluster.leader()

    def spans(label: str) -> list[dict]:
        lines = [json.loads(r) for r in cluster.client.lrange("test:spans", 0, -1)]
        return sorted((s for s in lines if s["label"] == label), key=lambda s: s["start"])

    wait_until(lambda: len(spans("slow")) >= 3, timeout=60, logs=cluster.logs)
    done = spans("slow")
    for before, after in itertools.pairwise(done):
        assert after["start"] >= before["end"], (before, after)
    free = spans("free")  # the control: without the policy they do overlap
    assert any(b["start"] < a["end"] for a, b in itertools.pairwise(free)), free
    skipped = [r for r in read_runs(cluster.client, LAYOUT, "slow") if r["state"] == "skipped"]
    assert skipped and skipped[0]["reason"].startswith("overlap")

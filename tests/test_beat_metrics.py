"""Beat's Prometheus metrics: a real beat serving ``/metrics``, read back with
prometheus_client's own parser and compared with what a real worker received."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import redis
from beat_app import TASK, broker_url_for, leading, make_app
from beat_cluster import ROOT, Cluster
from prometheus_client.parser import text_string_to_metric_families

from devsupport.devserver import free_port
from redbeat_sync import Scheduler, SchedulerEntry
from redbeat_sync.beat.metrics import OTHER, LabelCap, entry_label_limit
from redbeat_sync.errors import UserError
from redbeat_sync.schedule.entry import Entry, Every, RunState

UTC = timezone.utc
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def fetch(port: int, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as reply:
            return reply.status, reply.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def scrape(port: int) -> Samples:
    """Every sample of /metrics, parsed by prometheus_client's own parser."""
    status, text = fetch(port, "/metrics")
    assert status == 200
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float | None:
    return samples.get((name, frozenset(labels.items())))


def save(redis_url: str, entry: Entry, last_run_at: datetime) -> None:
    app = make_app(redis_url)
    SchedulerEntry.from_entry(entry, RunState(last_run_at, 1), app=app).save()


@pytest.mark.slow
def test_metrics_match_what_the_worker_received(cluster: Cluster, redis_url: str) -> None:
    now = datetime.now(UTC)
    hour = 3600.0
    # Sent once each, then not again for a long while: the counters can be compared
    # exactly with the worker's record.
    save(
        redis_url,
        Entry("once", TASK, Every(hour), args=["once"]),
        now - timedelta(seconds=hour + 10),
    )
    save(
        redis_url,
        Entry("soon", TASK, Every(hour), args=["soon"]),
        now - timedelta(seconds=hour - 4),
    )
    # Three missed slots folded into one run.
    save(
        redis_url,
        Entry("coalesce", TASK, Every(600), args=["coalesce"]),
        now - timedelta(seconds=1900),
    )
    # Too late for its misfire policy: skipped, not sent.
    skip = Entry("late-skip", TASK, Every(hour), args=["late-skip"], misfire="skip")
    save(redis_url, skip, now - timedelta(seconds=2 * hour + 100))
    save(redis_url, Entry("off", TASK, Every(1.0), args=["off"], enabled=False), now)  # fmt: skip
    port = free_port()
    cluster.env.update(BEAT_TEST_METRICS_PORT=str(port), BEAT_TEST_METRICS_ENTRY_LABELS="1")
    cluster.worker()
    cluster.beat()
    cluster.leader()
    cluster.wait_for_runs(3)
    time.sleep(1.0)  # nothing else is due for ten minutes

    received = Counter(r["label"] for r in cluster.runs())
    assert received == {"once": 1, "soon": 1, "coalesce": 1}, received
    samples = scrape(port)
    sent = {
        dict(labels)["entry"]: v
        for (name, labels), v in samples.items()
        if name == "redbeat_sync_runs_sent_total"
    }
    assert sent == {"once": 1.0, "soon": 1.0, "coalesce": 1.0}, sent
    assert value(samples, "redbeat_sync_runs_sent_total", entry="once", task=TASK) == 1.0
    assert (
        value(samples, "redbeat_sync_runs_skipped_total", entry="late-skip", reason="misfire") == 1
    )
    assert (
        value(samples, "redbeat_sync_runs_skipped_total", entry="coalesce", reason="coalesced") == 1
    )
    assert not [k for k in samples if k[0] == "redbeat_sync_send_errors_total"]
    assert value(samples, "redbeat_sync_dispatch_delay_seconds_count") == 3
    # "soon" was sent within a second of its slot; the other two were late on purpose.
    assert value(samples, "redbeat_sync_dispatch_delay_seconds_bucket", le="1.0") == 1
    assert value(samples, "redbeat_sync_leader") == 1
    assert value(samples, "redbeat_sync_leadership_changes_total", change="gained") == 1
    assert value(samples, "redbeat_sync_leadership_changes_total", change="lost") == 0
    assert value(samples, "redbeat_sync_stall_episodes_total") == 0
    assert value(samples, "redbeat_sync_oldest_overdue_seconds") == 0
    assert value(samples, "redbeat_sync_lock_timeout_seconds") == 3.0
    assert (value(samples, "redbeat_sync_tick_duration_seconds_count") or 0) >= 1
    states = {
        s: value(samples, "redbeat_sync_entries", state=s)
        for s in ("enabled", "disabled", "parked", "paused")
    }
    scheduled = cluster.client.zrangebyscore("redbeat::schedule", 0, "+inf")
    assert states == {"enabled": len(scheduled), "disabled": 1, "parked": 0, "paused": 0}, (
        states,
        scheduled,
    )
    # ours four, and Celery's built-in backend_cleanup that beat wrote as a static entry
    assert len(scheduled) == 5, scheduled

    status, body = fetch(port, "/healthz")
    assert status == 200 and json.loads(body)["role"] == "leader", body
    assert fetch(port, "/nope")[0] == 404


# --------------------------------------------------------------------------- in-process


def test_send_errors_are_counted_and_entry_labels_are_off_by_default(redis_url: str) -> None:
    """A run whose options Celery refuses at send time (an entry another writer stored,
    bypassing validate): claimed, not sent, counted as a send error."""
    app = make_app(redis_url, broker_url_for(redis_url), redbeat_sync_metrics_port=0)
    now = datetime.now(UTC)
    for name, options in (("broken", {"expires": "soon"}), ("fine", {})):
        entry = Entry(name, TASK, Every(60.0), options=options)
        SchedulerEntry.from_entry(entry, RunState(now - timedelta(seconds=90), 1), app=app).save()
    beat = Scheduler(app)
    try:
        beat.start()
        leading(beat)
        beat.dispatch_once(now)
        samples = scrape(beat.metrics.port)  # type: ignore[attr-defined]
    finally:
        beat.close()
    assert value(samples, "redbeat_sync_send_errors_total", entry=OTHER, task=TASK) == 1
    assert value(samples, "redbeat_sync_runs_sent_total", entry=OTHER, task=TASK) == 1


def test_missing_prometheus_client_is_one_clear_error(
    redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "prometheus_client", None)  # import now fails
    beat = Scheduler(make_app(redis_url, redbeat_sync_metrics_port=0))
    with pytest.raises(UserError, match=r"pip install 'redbeat-sync\[metrics\]'"):
        beat.start()
    assert not beat.started


def test_busy_port_is_one_clear_error(redis_url: str) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        beat = Scheduler(make_app(redis_url, redbeat_sync_metrics_port=port))
        with pytest.raises(UserError, match=f"cannot serve metrics on 127.0.0.1:{port}"):
            beat.start()


def test_label_cap() -> None:
    cap = LabelCap(2)
    assert [cap(v) for v in ("a", "b", "c", "a", "d")] == ["a", "b", OTHER, "a", OTHER]
    assert LabelCap(0)("a") == OTHER
    assert LabelCap(None)("anything") == "anything"
    assert entry_label_limit(True) is None
    assert entry_label_limit(False) == 0 and entry_label_limit(None) == 0
    assert entry_label_limit("200") == 200
    with pytest.raises(UserError, match="redbeat_sync_metrics_entry_labels"):
        entry_label_limit("lots")


def test_real_beat_without_prometheus_client_exits_with_one_line(
    redis_url: str, tmp_path: Path
) -> None:
    """``celery beat`` itself: exit 1 and the line saying what to install, no lock taken."""
    env = dict(
        os.environ,
        BEAT_TEST_REDIS=redis_url,
        BEAT_TEST_BROKER=broker_url_for(redis_url),
        BEAT_TEST_METRICS_PORT="0",
        PYTHONPATH=str(ROOT),
    )
    hide = "import sys; sys.modules['prometheus_client'] = None; "
    run_beat = (
        "sys.argv = ['celery', '-A', 'tests.beat_app', 'beat', '-S', 'redbeat_sync.Scheduler', "
        f"'-s', {str(tmp_path / 'beat.db')!r}]; from celery.__main__ import main; main()"
    )
    done = subprocess.run(
        [sys.executable, "-c", hide + run_beat],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 1, done.stdout + done.stderr
    assert "pip install 'redbeat-sync[metrics]'" in done.stderr
    assert "Traceback" not in done.stderr
    assert redis.Redis.from_url(redis_url).get("redbeat::lock") is None


def test_healthz_answers_for_this_process(redis_url: str) -> None:
    beat = Scheduler(make_app(redis_url, redbeat_sync_metrics_port=0))
    try:
        beat.start()
        port = beat.metrics.port  # type: ignore[attr-defined]
        status, body = fetch(port, "/healthz")
        assert status == 503 and json.loads(body)["problem"] == "no tick yet"
        leading(beat)
        beat.tick()
        status, body = fetch(port, "/healthz")
        assert status == 200 and json.loads(body)["role"] == "leader", body
        assert fetch(port, "/healthz?max_lag=soon")[0] == 400
        # A tick older than max_lag: the process is hung as far as a probe can tell.
        time.sleep(0.3)
        status, body = fetch(port, "/healthz?max_lag=0.1")
        assert status == 503 and "last tick" in json.loads(body)["problem"], body
    finally:
        beat.close()

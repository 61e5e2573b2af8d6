"""apply says what happened, always (issue 9 §3), through the real CLI and real Redis.

Signals go to a real ``redbeat-sync apply`` subprocess while its batches land; the
OOM case runs against a redis-server started with ``maxmemory 24mb noeviction``.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from click.testing import CliRunner, Result

from devsupport.devserver import RedisServer
from redbeat_sync.cli import main
from redbeat_sync.schedule.entry import Entry, Every
from redbeat_sync.state import audit, writer
from redbeat_sync.state.layout import Layout
from redbeat_sync.state.stored import Put

CLI = [sys.executable, "-m", "redbeat_sync"]
PREFIX = "rs-outcome:"
LAYOUT = Layout(PREFIX)


def big_file(tmp_path: Path, count: int, name: str = "big.yaml") -> Path:
    lines = ["version: 1", "entries:"]
    lines += [
        f"  e{i:06d}: {{task: app.tasks.refresh, schedule: {{every: 60s}}, "
        f"args: [{i}, customer-{i:06d}], options: {{queue: q{i % 7}}}}}"
        for i in range(count)
    ]
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def cli(redis_url: str, *args: str) -> Result:
    env = {"REDBEAT_SYNC_REDIS_URL": redis_url, "REDBEAT_SYNC_KEY_PREFIX": PREFIX, "NO_COLOR": "1"}
    return CliRunner().invoke(main, list(args), env=env)


def start_apply(redis_url: str, path: Path) -> subprocess.Popen[str]:
    env = {**os.environ, "REDBEAT_SYNC_REDIS_URL": redis_url, "REDBEAT_SYNC_KEY_PREFIX": PREFIX}
    return subprocess.Popen(
        [*CLI, "apply", "--auto-approve", str(path)],
        stdout=subprocess.DEVNULL,  # the plan of 40k entries: a pipe nobody reads would block
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def wait_for_first_batch(client: redis.Redis, proc: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 120
    while client.scard(LAYOUT.inventory_key) == 0:
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the first batch never landed"
        time.sleep(0.005)


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_signal_mid_apply_reports_and_audits_what_landed(
    sig: signal.Signals, redis_url: str, redis_client: redis.Redis, tmp_path: Path
) -> None:
    path = big_file(tmp_path, 40_000)  # 4 batches of 10,000
    proc = start_apply(redis_url, path)
    wait_for_first_batch(redis_client, proc)
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=180)

    assert proc.returncode == 1, (out, err)
    assert "Traceback" not in err and "Aborted!" not in err
    landed = redis_client.scard(LAYOUT.inventory_key)
    assert landed in (10_000, 20_000, 30_000)  # whole batches only
    match = re.search(r"(\d+) of 4 batches \((\d+) of 40000 operations\) were written", err)
    assert match, err
    assert int(match.group(2)) == landed
    assert f"interrupted by {sig.name}" in err
    (record,) = audit.read_history(redis_client, LAYOUT)
    assert record["outcome"] == "partial"
    assert record["written"]["created"] == landed
    assert record["written"]["batches"] == int(match.group(1))
    assert redis_client.get(LAYOUT.sync_lock_key) is None  # released
    line = cli(redis_url, "history").output
    assert "[PARTIAL] planned: create e000000" in line and f"written: {landed} created" in line
    # The rest goes in with the next apply, and nothing is redone.
    finish = start_apply(redis_url, path)
    assert finish.wait(timeout=120) == 0, finish.communicate()
    assert redis_client.scard(LAYOUT.inventory_key) == 40_000


@pytest.mark.slow
def test_second_signal_aborts_at_once_and_still_releases_and_audits(
    redis_url: str, redis_client: redis.Redis, tmp_path: Path
) -> None:
    path = big_file(tmp_path, 40_000)
    proc = start_apply(redis_url, path)
    wait_for_first_batch(redis_client, proc)
    proc.send_signal(signal.SIGINT)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=180)

    assert proc.returncode == 1, (out, err)
    assert "Traceback" not in err
    assert "SIGINT" in err and "were written" in err, err
    landed = redis_client.scard(LAYOUT.inventory_key)
    assert landed % 10_000 == 0 and 10_000 <= landed < 40_000
    (record,) = audit.read_history(redis_client, LAYOUT)
    assert record["outcome"] in ("aborted", "partial")
    # What it calls written for sure did land; at most the batch in flight is unknown.
    assert record["written"]["batches"] * 10_000 <= landed
    assert redis_client.get(LAYOUT.sync_lock_key) is None


def set_calls(client: redis.Redis) -> int:
    stats = client.info("commandstats")
    return int(stats.get("cmdstat_set", {}).get("calls", 0))


def test_sigterm_while_waiting_for_the_lock_stops_at_once_and_is_audited(
    redis_url: str, redis_client: redis.Redis, tmp_path: Path
) -> None:
    held = {"id": "0therapp", "holder": "other@host", "host": "elsewhere", "pid": 1}
    redis_client.set(LAYOUT.sync_lock_key, json.dumps(held), px=600_000)
    path = tmp_path / "s.yaml"
    path.write_text(FILES, encoding="utf-8")
    before = set_calls(redis_client)
    env = {**os.environ, "REDBEAT_SYNC_REDIS_URL": redis_url, "REDBEAT_SYNC_KEY_PREFIX": PREFIX}
    proc = subprocess.Popen(
        [*CLI, "apply", "--auto-approve", "--lock-timeout", "120", str(path)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    deadline = time.monotonic() + 60
    while set_calls(redis_client) < before + 2:  # it is polling the held lock
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.01)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)  # at once, not after --lock-timeout
    assert proc.returncode == 1, err
    assert "interrupted by SIGTERM before anything was sent; nothing was written" in err
    (record,) = audit.read_history(redis_client, LAYOUT)
    assert record["outcome"] == "interrupted" and record["written"]["batches"] == 0
    assert json.loads(redis_client.get(LAYOUT.sync_lock_key))["id"] == "0therapp"  # not ours
    assert redis_client.scard(LAYOUT.inventory_key) == 0


@pytest.fixture
def small_redis() -> Iterator[RedisServer]:
    server = RedisServer(extra_args=["--maxmemory", "24mb", "--maxmemory-policy", "noeviction"])
    server.start()
    yield server
    server.stop()


def test_a_plan_that_cannot_fit_under_maxmemory_is_refused_before_writing(
    small_redis: RedisServer, tmp_path: Path
) -> None:
    client = redis.Redis.from_url(small_redis.url, decode_responses=True)
    result = cli(small_redis.url, "apply", "--auto-approve", str(big_file(tmp_path, 20_000)))
    assert result.exit_code == 1, result.output
    assert "maxmemory" in result.output and "nothing was written" in result.output
    assert client.scard(LAYOUT.inventory_key) == 0
    assert client.keys(f"{PREFIX}e*") == []
    (record,) = audit.read_history(client, LAYOUT)
    assert record["outcome"] == "refused" and record["written"]["batches"] == 0
    # A plan that fits still applies (the estimate is not absurdly generous).
    fits = cli(small_redis.url, "apply", "--auto-approve", str(big_file(tmp_path, 3_000, "s.yaml")))
    assert fits.exit_code == 0, fits.output
    assert client.scard(LAYOUT.inventory_key) == 3_000
    client.close()


def test_under_oom_each_batch_lands_whole_or_not_at_all(small_redis: RedisServer) -> None:
    """The README's guarantee, without apply's up-front estimate: whole batches only."""
    client = redis.Redis.from_url(small_redis.url, decode_responses=True)
    ops = [
        Put(Entry(name=f"e{i:06d}", task="t.x", schedule=Every(60), args=("x" * 600, i)), None)
        for i in range(60_000)
    ]
    with pytest.raises(writer.PartialApply) as caught:
        writer.write(client, LAYOUT, ops, batch_size=5_000)
    assert "OutOfMemoryError" in str(caught.value)
    landed = client.scard(LAYOUT.inventory_key)
    assert landed == caught.value.applied_ops == caught.value.report.created
    assert landed % 5_000 == 0 and 0 < landed < 60_000
    assert client.zcard(LAYOUT.schedule_key) == landed
    client.close()


def test_an_audit_record_redis_refuses_is_reported_not_hidden(
    redis_server: RedisServer, redis_client: redis.Redis, tmp_path: Path
) -> None:
    user = "rs-no-xadd"
    redis_client.acl_setuser(
        user, enabled=True, passwords=["+pw-no-xadd"], keys=["*"], channels=["*"],
        commands=["+@all", "-xadd"],
    )  # fmt: skip
    try:
        url = f"redis://{user}:pw-no-xadd@127.0.0.1:{redis_server.port}/0"
        path = tmp_path / "s.yaml"
        path.write_text(FILES, encoding="utf-8")
        result = cli(url, "apply", "--auto-approve", str(path))
        assert result.exit_code == 0, result.output  # everything was written
        assert "Apply complete! 3 created" in result.output
        assert "warning: No audit record could be written (NoPermissionError" in result.output
        assert redis_client.scard(LAYOUT.inventory_key) == 3
        assert redis_client.get(LAYOUT.sync_lock_key) is None
    finally:
        redis_client.acl_deluser(user)


# --------------------------------------------------------------------------- history

FILES = """version: 1
entries:
  heartbeat: {task: app.ping, schedule: {every: 30s}}
  report: {task: app.report, schedule: {cron: '0 3 * * *'}}
  cleanup: {task: app.cleanup, schedule: {cron: '0 4 * * *'}}
"""


def test_history_names_the_entries_each_apply_changed(redis_url: str, tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(FILES, encoding="utf-8")
    assert cli(redis_url, "apply", "--auto-approve", str(path), "-m", "first").exit_code == 0
    path.write_text(
        FILES.replace("heartbeat: {", "heartbeat: {enabled: false, ").replace(
            "  cleanup: {task: app.cleanup, schedule: {cron: '0 4 * * *'}}\n", ""
        ),
        encoding="utf-8",
    )
    second = cli(redis_url, "apply", "--auto-approve", "--allow-mass-delete", str(path))
    assert second.exit_code == 0, second.output

    shown = cli(redis_url, "history")
    newest, oldest = shown.output.strip().splitlines()
    assert "updated heartbeat; deleted cleanup" in newest
    assert "noop" not in newest and "unmanaged" not in newest  # not changes
    assert "created cleanup, heartbeat, report" in oldest and "first" in oldest

    only = cli(redis_url, "history", "--entry", "heartbeat", "--format", "json")

    records = json.loads(only.output)
    assert [r["changes"] for r in records] == [
        {
            "update": {"count": 1, "names": ["heartbeat"]},
            "delete": {"count": 1, "names": ["cleanup"]},
        },
        {"create": {"count": 3, "names": ["cleanup", "heartbeat", "report"]}},
    ]
    one = cli(redis_url, "history", "--entry", "cleanup", "-n", "1", "--format", "json")
    assert len(json.loads(one.output)) == 1
    nobody = cli(redis_url, "history", "--entry", "nobody")
    assert "No applies of 'nobody' recorded." in nobody.output


@pytest.mark.parametrize("count", ["0", "-3"])
def test_history_count_below_one_is_an_error(redis_url: str, count: str) -> None:
    result = cli(redis_url, "history", "-n", count)
    assert result.exit_code == 1 and "-n" in result.output


def test_history_names_are_bounded_for_huge_applies() -> None:
    names = audit.change_names([("create", f"n{i:05d}") for i in range(5000)])
    assert names["create"]["count"] == 5000
    assert len(names["create"]["names"]) == audit.NAMES_PER_KIND


# --------------------------------------------------------------------------- stale lock


def dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid  # reaped: no process has it (until reused, which this test tolerates)


def test_stale_lock_hint_is_a_command_that_works(
    redis_server: RedisServer, redis_client: redis.Redis, tmp_path: Path
) -> None:
    import socket

    password_url = redis_server.url  # no auth on the test server: check masking separately
    holder = {
        "id": "0badc0de",
        "holder": "ci@runner",
        "host": socket.gethostname(),
        "pid": dead_pid(),
        "since": "2026-01-01T00:00:00+00:00",
        "command": "x",
    }
    redis_client.set(LAYOUT.sync_lock_key, json.dumps(holder), px=600_000)
    path = tmp_path / "s.yaml"
    path.write_text(FILES, encoding="utf-8")
    env = {"NO_COLOR": "1"}
    args = ["apply", "--auto-approve", "--lock-timeout", "0", "--redis-url", password_url]
    result = CliRunner().invoke(main, [*args, "--key-prefix", PREFIX, str(path)], env=env)
    assert result.exit_code == 1
    assert "no longer runs on this host" in result.output
    assert "waited 0s for it to be released (--lock-timeout)" in result.output
    command = re.search(
        r"Free the lock with: (redbeat-sync force-unlock .*?)(?:;|$)", result.output
    )
    assert command, result.output
    args = shlex.split(command.group(1).strip())
    assert args[:3] == ["redbeat-sync", "force-unlock", "0badc0de"] and "--key-prefix" in args
    freed = CliRunner().invoke(main, args[1:], env=env)
    assert freed.exit_code == 0, freed.output
    assert redis_client.get(LAYOUT.sync_lock_key) is None


def test_target_flags_mask_the_password() -> None:
    from redbeat_sync.cli._common import Target

    target = Target("redis://u:hunter2@h:6379/0?password=hunter2", "p:", "UTC", {})
    assert "hunter2" not in target.flags()
    assert target.flags() == "--redis-url 'redis://u:***@h:6379/0?password=***' --key-prefix p:"
    from_app = Target("redis://h/0", "p:", "UTC", {}, app="proj:app")
    assert from_app.flags() == "--app proj:app --key-prefix p:"
    both = Target("redis://h/1", "p:", "UTC", {}, app="proj:app", url_from_flag=True)
    assert both.flags() == "--app proj:app --redis-url redis://h/1 --key-prefix p:"

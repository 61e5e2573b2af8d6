"""Sentinel (1 master, 1 replica, 3 sentinels): CLI through redis-sentinel://, and a
real failover (master SIGKILLed) that apply and beat follow without a restart."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from beat_app import leading, make_app, queued
from redis_topologies import (
    SERVICE,
    SPEC_YAML,
    SentinelSetup,
    cli,
    plan_apply_show,
    start_sentinel,
    wait_until,
    write_spec,
)

from devsupport.devserver import RedisServer
from redbeat_sync import Scheduler
from redbeat_sync.beat.scheduler import SLOT_HEADER
from redbeat_sync.state.connection import RedisSettings

pytestmark = pytest.mark.slow  # ~12 s to bring three sentinels to agreement

PREFIX = "{redbeat}:"
PASSWORD = "Sentinel-Pw-4q8z"  # searched for in every output below


@pytest.fixture(scope="module")
def sentinel() -> Iterator[SentinelSetup]:
    setup = start_sentinel(PASSWORD)
    yield setup
    setup.stop()


def test_cli_via_redis_sentinel_url(sentinel: SentinelSetup, tmp_path: Path) -> None:
    url = sentinel.url(password=PASSWORD)
    results = plan_apply_show(url, write_spec(tmp_path), prefix=PREFIX)
    for result in results:
        assert PASSWORD not in result.all
    master = sentinel.master.client(password=PASSWORD)
    assert master.sismember(PREFIX + ":sync:managed", "conn-hourly")
    master.close()
    # Celery's broker spelling, the service name in the options of an app: same store.
    celery_form = ";".join(
        f"sentinel://:{PASSWORD}@127.0.0.1:{s.port}/0" for s in sentinel.sentinels
    )
    shown = cli("show", "--redis-url", celery_form + f"?master_name={SERVICE}",
                "--key-prefix", PREFIX)  # fmt: skip
    assert shown.code == 0, shown.all
    assert "conn-hourly" in shown.stdout and PASSWORD not in shown.all
    # RedBeat's settings: sentinels and service_name in the options, the URL's host unused.
    settings = RedisSettings(
        f"redis-sentinel://:{PASSWORD}@unused-host:1/0",
        {"sentinels": [("127.0.0.1", s.port) for s in sentinel.sentinels],
         "service_name": SERVICE, "socket_timeout": 2},
    )  # fmt: skip
    client = settings.connect()
    assert client.sismember(PREFIX + ":sync:managed", "conn-hourly")
    client.close()
    # A wrong service name: one line, password masked.
    wrong = cli("show", "--redis-url", url.replace(SERVICE, "nosuch"), "--key-prefix", PREFIX)
    assert wrong.code == 1 and len(wrong.stderr.strip().splitlines()) == 1
    assert PASSWORD not in wrong.all and ":***@" in wrong.stderr


def test_apply_and_beat_follow_a_failover(
    sentinel: SentinelSetup,
    redis_server: RedisServer,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    url = sentinel.url(password=PASSWORD)
    broker_url = redis_server.url.rsplit("/", 1)[0] + "/9"
    broker = redis.Redis.from_url(broker_url, decode_responses=True)
    broker.flushdb()
    spec = write_spec(tmp_path)
    first = cli("apply", spec, "--auto-approve", "--redis-url", url, "--key-prefix", PREFIX)
    assert first.code == 0, first.all
    old_port = sentinel.master_port()
    app = make_app(
        url, broker_url, redbeat_key_prefix=PREFIX, redbeat_redis_options={"retry_period": 20}
    )
    beat = Scheduler(app)
    halt = threading.Event()
    errors: list[BaseException] = []

    def loop() -> None:
        try:
            while not halt.is_set():
                beat.tick()
        except BaseException as exc:  # surfaced by the assertion below
            errors.append(exc)

    thread = threading.Thread(target=loop, daemon=True)
    try:
        assert PASSWORD not in beat.info and "***" in beat.info
        beat.start()
        leading(beat)
        thread.start()
        wait_until(lambda: len(queued(broker)) >= 2, 10, "beat sending before the failover")
        master = sentinel.master.client(password=PASSWORD)
        master.execute_command("WAIT", 1, 2000)  # the replica has everything so far
        master.close()

        sent_before = len(queued(broker))
        promoted_at: list[float] = []

        def watch() -> None:  # when the sentinels name the new master
            wait_until(lambda: sentinel.master_port() != old_port, 30, "promotion")
            promoted_at.append(time.monotonic())

        watcher = threading.Thread(target=watch, daemon=True)
        killed = time.monotonic()
        sentinel.master.kill()
        watcher.start()

        # apply right away: its retry_period carries it over the failover
        changed = SPEC_YAML + "  conn-after-failover:\n    task: t.x\n    schedule: {every: 1h}\n"
        spec2 = write_spec(tmp_path, changed)
        retrying = url + "&retry_period=30"
        applied = cli("apply", spec2, "--auto-approve", "--redis-url", retrying,
                      "--key-prefix", PREFIX)  # fmt: skip
        apply_done = time.monotonic() - killed
        assert applied.code == 0, applied.all
        assert PASSWORD not in applied.all

        watcher.join(30)
        assert promoted_at, "the sentinels never promoted the replica"
        sentinel_done = promoted_at[0] - killed
        assert sentinel.master_port() == sentinel.replica.port

        wait_until(lambda: len(queued(broker)) > sent_before, 30, "beat after failover")
        beat_done = time.monotonic() - killed
        wait_until(lambda: len(queued(broker)) > sent_before + 1, 10, "beat to keep sending")
        assert not errors, errors
        new_master = sentinel.replica.client(password=PASSWORD)
        assert new_master.sismember(PREFIX + ":sync:managed", "conn-after-failover")
        assert new_master.get(PREFIX + ":lock") is not None
        new_master.close()

        assert PASSWORD not in caplog.text
        slots = [(m["argsrepr"], m.get(SLOT_HEADER)) for m in queued(broker)]
        assert len(slots) == len(set(slots)), "a slot was sent twice"
        print(
            f"\nFAILOVER: apply succeeded {apply_done:.1f}s after SIGKILL; "
            f"beat sent its first run again {beat_done:.1f}s after SIGKILL "
            f"(sentinel promotion observed by {sentinel_done:.1f}s)"
        )
    finally:
        halt.set()
        beat.close()
        thread.join(10)
        broker.close()

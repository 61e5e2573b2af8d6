"""Beat benchmark: redbeat_sync.Scheduler vs celery-redbeat's scheduler, same Redis.

Run:  .venv/bin/python bench/bench_beat.py [--total 100000] [--due 1000 5000]

1. Dispatch: ``--total`` entries (intervals, crons, rrules in UTC so celery-redbeat
   can run every one) of which ``--due`` are overdue.  Each scheduler, on the same
   freshly written state, sends every due entry; broker publishing is stubbed out
   identically on both sides (``apply_async`` only counts), so the figure is the
   scheduler's own work: finding, loading, deciding, recording runs.
2. Change pick-up: a beat asleep with nothing due for 30 s; an entry made due by
   ``SchedulerEntry.reschedule()`` / ``redbeat-sync apply`` (the writer) - time until
   beat sends it.
3. Failover: two real ``celery beat`` processes with the default lock timeout;
   SIGKILL the leader, time until the standby holds the lock and sends.
4. Operating costs: dispatch of ``--metrics-due`` due entries with Prometheus metrics
   off, on, and on with per-entry labels (``--metrics``); the end-to-end latency of
   ``redbeat-sync health`` against a real running beat (``--probe``).  ``--only-ops``
   runs just these.

Everything runs on a throwaway redis-server this script starts and stops.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import signal
import statistics
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import redis
from celery import Celery

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from devsupport.devserver import running_redis  # noqa: E402
from redbeat_sync.beat.config import DEFAULT_LOCK_TIMEOUT  # noqa: E402
from redbeat_sync.beat.lock import read_beat_lock  # noqa: E402
from redbeat_sync.beat.scheduler import Scheduler  # noqa: E402
from redbeat_sync.schedule.entry import At, Cron, Entry, Every, RRule, RunState  # noqa: E402
from redbeat_sync.state.codec import encode_entry, encode_meta  # noqa: E402
from redbeat_sync.state.layout import Layout  # noqa: E402
from redbeat_sync.state.stored import Put  # noqa: E402
from redbeat_sync.state.writer import write  # noqa: E402

UTC = timezone.utc
LAYOUT = Layout()
TASK = "bench.noop"


def make_app(url: str, **conf: Any) -> Celery:
    app = Celery("bench", broker=url.rsplit("/", 1)[0] + "/1", set_as_current=False)
    app.conf.update(
        redbeat_redis_url=url, timezone="UTC", result_expires=None, beat_max_loop_interval=30
    )
    app.conf.update(conf)
    return app


class CountingScheduler(Scheduler):
    """Ours, with broker publishing stubbed (counts instead of sending)."""

    sent_at: list[float]

    def apply_async(self, entry: Any, producer: Any = None, advance: bool = True, **kw: Any):
        self.sent_at = getattr(self, "sent_at", [])
        self.sent_at.append(time.perf_counter())


def counting_redbeat(app: Celery) -> Any:
    from redbeat import RedBeatScheduler

    class CountingRedBeat(RedBeatScheduler):
        sent = 0

        def apply_async(self, entry: Any, producer: Any = None, advance: bool = True, **kw: Any):
            self.sent += 1

    return CountingRedBeat(app, lazy=True)


# --------------------------------------------------------------------------- state


def schedule_for(i: int) -> Any:
    kind = i % 20
    if kind < 10:
        return Every(float((60, 300, 900, 3600)[i % 4]))
    if kind < 17:
        return Cron(str(i % 60), "*")
    return RRule("hourly", dtstart=datetime(2026, 1, 1, tzinfo=UTC))


def populate(client: redis.Redis, total: int, due: int, *, only_runs: bool = False) -> None:
    """Fresh state: ``due`` overdue entries among ``total``; identical every call.

    ``only_runs``: reset run history and scores only (the same definitions due again,
    like the next midnight for a beat that has been running).
    """
    if not only_runs:
        client.flushdb()
    now = datetime.now(UTC)
    # Not-due entries ran "in two days": nothing in this benchmark reaches them.
    fresh = encode_meta(RunState(now + timedelta(days=2)))
    stale = encode_meta(RunState(now - timedelta(hours=3)))
    due_every = max(1, total // due)
    pipe = client.pipeline(transaction=False)
    for i in range(total):
        is_due = i % due_every == 0 and i // due_every < due
        if only_runs and not is_due:
            continue
        entry = Entry(f"job-{i:06d}", TASK, schedule_for(i), args=[i], options={"queue": "q"})
        key = LAYOUT.entry_key(entry.name)
        if only_runs:
            pipe.hset(key, "meta", stale)
        else:
            pipe.hset(key, mapping={
                "definition": encode_entry(entry, managed=False).definition,
                "meta": stale if is_due else fresh,
            })  # fmt: skip
        score = now - timedelta(minutes=1) if is_due else now + timedelta(days=2)
        pipe.zadd(LAYOUT.schedule_key, {key: int(score.timestamp())})
        if i % 5000 == 4999:
            pipe.execute()
    pipe.execute()


# --------------------------------------------------------------------------- 1. dispatch


def time_ours(beat: CountingScheduler, due: int, at: datetime | None = None) -> float:
    """Time until ``due`` runs are sent (``at``: the time beat believes it is)."""
    beat.sent_at = []
    started = time.perf_counter()
    while len(beat.sent_at) < due:
        beat.dispatch_once(at)
        if time.perf_counter() - started > 120:
            raise RuntimeError(f"ours sent only {len(beat.sent_at)} of {due}")
    return time.perf_counter() - started


def time_theirs(url: str, due: int) -> float:
    sched = counting_redbeat(make_app(url, redbeat_lock_key=None))
    sched.producer  # noqa: B018  (connect to the broker before timing, as for ours)
    started = time.perf_counter()
    while sched.sent < due:
        sched.tick()
        if time.perf_counter() - started > 300:
            raise RuntimeError(f"celery-redbeat sent only {sched.sent} of {due}")
    return time.perf_counter() - started


def bench_dispatch(
    url: str, client: redis.Redis, total: int, dues: list[int], repeats: int
) -> list[str]:
    """Median of ``repeats`` interleaved rounds (the machine is shared and noisy)."""
    lines = []
    for due in dues:
        populate(client, total, due)
        theirs, cold, warm = [], [], []
        for _ in range(repeats):
            populate(client, total, due, only_runs=True)
            theirs.append(time_theirs(url, due))
            populate(client, total, due, only_runs=True)
            beat = CountingScheduler(make_app(url))
            beat.start()
            assert beat.keeper is not None and beat.keeper.became_leader.wait(5)
            beat.producer  # noqa: B018  (connect to the broker before timing, as beat does)
            cold.append(time_ours(beat, due))
            # The same entries due again an hour later (every schedule here is at
            # most hourly), for this beat that has been running since.
            warm.append(time_ours(beat, due, at=datetime.now(UTC) + timedelta(seconds=3700)))
            beat.close()
        t, c, w = (statistics.median(x) for x in (theirs, cold, warm))
        line = (
            f"dispatch {due:>5} due among {total} (median of {repeats}): "
            f"celery-redbeat {t:6.3f}s | redbeat-sync first burst {c:6.3f}s ({t / c:4.1f}x), "
            f"next burst (running beat, 1 h later) {w:6.3f}s ({t / w:4.1f}x)"
        )
        print(line, flush=True)
        lines.append(line)
    return lines


def _ping_rtt(client: redis.Redis, n: int = 200) -> float:
    client.ping()
    started = time.perf_counter()
    for _ in range(n):
        client.ping()
    return (time.perf_counter() - started) / n


def bench_dispatch_remote(port: int, client: redis.Redis, args: argparse.Namespace) -> list[str]:
    from devsupport.devserver import free_port

    proxy_port = free_port()
    proxy = subprocess.Popen(
        [sys.executable, __file__, "--proxy", str(proxy_port), str(port), str(args.rtt_ms)]
    )
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                redis.Redis(port=proxy_port).ping()
                break
            except redis.ConnectionError:
                time.sleep(0.05)
        # asyncio timers are coarse (epoll waits in whole ms): report the RTT measured.
        rtt = _ping_rtt(redis.Redis(port=proxy_port)) * 1000
        direct = _ping_rtt(client) * 1000
        label = f"[Redis RTT {rtt:.2f} ms via proxy, {direct:.2f} ms direct]"
        print(f"-- {label}", flush=True)
        url = f"redis://127.0.0.1:{proxy_port}/0"
        lines = bench_dispatch(url, client, args.total, args.due, args.repeats)
        return [f"{label} {line}" for line in lines]
    finally:
        proxy.kill()
        proxy.wait(5)


# --------------------------------------------------------------------------- 2. pick-up


def bench_pickup(url: str, client: redis.Redis, rounds: int = 10) -> list[str]:
    from redbeat_sync.beat.scheduler_entry import SchedulerEntry

    client.flushdb()
    app = make_app(url)
    beat = CountingScheduler(app)
    beat.sent_at = []
    beat.start()
    assert beat.keeper is not None and beat.keeper.became_leader.wait(5)
    stop = threading.Event()

    def loop() -> None:
        while not stop.is_set():
            beat.tick()

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    save_lat: list[float] = []
    apply_lat: list[float] = []
    try:
        for i in range(rounds):
            time.sleep(0.3)  # asleep: nothing due for 30 s
            entry = SchedulerEntry.from_entry(
                Entry(f"pick-{i}", TASK, Every(3600.0)), RunState(datetime.now(UTC)), app=app
            ).save()
            time.sleep(0.2)
            before = len(beat.sent_at)
            t0 = time.perf_counter()
            entry.reschedule(datetime.now(UTC) - timedelta(hours=2))
            while len(beat.sent_at) == before and time.perf_counter() - t0 < 5:
                time.sleep(0.001)
            save_lat.append(beat.sent_at[-1] - t0)
            time.sleep(0.3)
            before = len(beat.sent_at)
            when = datetime.now(UTC) + timedelta(seconds=0.5)
            write(client, LAYOUT, [Put(Entry(f"apply-{i}", TASK, At(when)), None)])
            t_when = time.perf_counter() + (when - datetime.now(UTC)).total_seconds()
            while len(beat.sent_at) == before and time.perf_counter() - t_when < 5:
                time.sleep(0.001)
            apply_lat.append(beat.sent_at[-1] - t_when)
    finally:
        stop.set()
        if beat.listener is not None:
            beat.listener.event.set()
        thread.join(5)
        beat.close()

    def fmt(values: list[float]) -> str:
        values = sorted(values)
        return f"median {statistics.median(values) * 1000:6.1f} ms, max {values[-1] * 1000:6.1f} ms"

    lines = [
        f"pick-up after save()/reschedule() (beat asleep, max interval 30 s): {fmt(save_lat)}",
        f"pick-up after apply (one-off due 0.5 s later; lateness past due): {fmt(apply_lat)}",
    ]
    for line in lines:
        print(line, flush=True)
    return lines


# --------------------------------------------------------------------------- 3. failover


def bench_failover(url: str, client: redis.Redis, rounds: int = 3) -> list[str]:
    client.flushdb()
    redis.Redis.from_url(url.rsplit("/", 1)[0] + "/1").flushdb()
    env = dict(
        os.environ,
        BEAT_TEST_REDIS=url,
        BEAT_TEST_BROKER=url.rsplit("/", 1)[0] + "/1",
        PYTHONPATH=str(ROOT),
    )
    procs: list[subprocess.Popen[bytes]] = []

    def start() -> subprocess.Popen[bytes]:
        proc = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "tests.beat_app", "beat",
             "-S", "redbeat_sync.Scheduler", "-l", "warning",
             "-s", f"/tmp/bench-beat-{len(procs)}"],
            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        procs.append(proc)
        return proc

    app = make_app(url)
    from redbeat_sync.beat.scheduler_entry import SchedulerEntry

    SchedulerEntry.from_entry(
        Entry("tick", "tests.beat_app.record", Every(0.5), args=["tick"]),
        RunState(datetime.now(UTC)),
        app=app,
    ).save()

    def holder_pid() -> int | None:
        info = read_beat_lock(client, LAYOUT)
        return info["pid"] if info else None

    takeovers: list[float] = []
    first_sends: list[float] = []
    try:
        start()
        start()
        for _ in range(rounds):
            deadline = time.monotonic() + 30
            while holder_pid() is None and time.monotonic() < deadline:
                time.sleep(0.05)
            leader = next(p for p in procs if p.pid == holder_pid())
            time.sleep(2)
            leader.send_signal(signal.SIGKILL)
            leader.wait()
            killed = time.monotonic()
            sent_before = client.llen("celery")  # nothing consumes: count the queue
            broker = redis.Redis.from_url(url.rsplit("/", 1)[0] + "/1")
            sent_before = broker.llen("celery")
            while holder_pid() in (None, leader.pid) and time.monotonic() - killed < 60:
                time.sleep(0.02)
            takeovers.append(time.monotonic() - killed)
            while broker.llen("celery") == sent_before and time.monotonic() - killed < 60:
                time.sleep(0.02)
            first_sends.append(time.monotonic() - killed)
            start()
    finally:
        for proc in procs:
            proc.kill()
            proc.wait(10)
    line = (
        f"failover (lock timeout {DEFAULT_LOCK_TIMEOUT:g}s, leader SIGKILLed, {rounds} rounds): "
        f"standby holds the lock after {statistics.mean(takeovers):.2f}s "
        f"(max {max(takeovers):.2f}s), first send after {statistics.mean(first_sends):.2f}s "
        f"(max {max(first_sends):.2f}s)"
    )
    print(line, flush=True)
    return [line]


# --------------------------------------------------------------------------- 4. operating


def bench_metrics(url: str, client: redis.Redis, total: int, due: int, repeats: int) -> list[str]:
    """Dispatch time of ``due`` runs with metrics off / on / on with per-entry labels
    (interleaved rounds, medians): the overhead per 1,000 sends."""
    modes = {
        "off": {},
        "on": {"redbeat_sync_metrics_port": 0},
        "on, per-entry labels": {
            "redbeat_sync_metrics_port": 0,
            "redbeat_sync_metrics_entry_labels": True,
        },
    }
    populate(client, total, due)
    cold: dict[str, list[float]] = {m: [] for m in modes}
    warm: dict[str, list[float]] = {m: [] for m in modes}
    for _ in range(repeats):
        for mode, conf in modes.items():
            populate(client, total, due, only_runs=True)
            beat = CountingScheduler(make_app(url, **conf))
            beat.start()
            assert beat.keeper is not None and beat.keeper.became_leader.wait(5)
            beat.producer  # noqa: B018
            cold[mode].append(time_ours(beat, due))
            warm[mode].append(time_ours(beat, due, at=datetime.now(UTC) + timedelta(seconds=3700)))
            beat.close()
    lines = []
    base_c, base_w = statistics.median(cold["off"]), statistics.median(warm["off"])
    for mode in modes:
        c, w = statistics.median(cold[mode]), statistics.median(warm[mode])
        lines.append(
            f"metrics {mode:<21}: {due} due among {total} (median of {repeats}): first burst "
            f"{c:6.3f}s ({(c - base_c) * 1000 / due * 1000:+6.1f} ms per 1,000 sends), next "
            f"burst {w:6.3f}s ({(w - base_w) * 1000 / due * 1000:+6.1f} ms per 1,000 sends)"
        )
        print(lines[-1], flush=True)
    return lines


def bench_probe(url: str, client: redis.Redis, rounds: int = 10) -> list[str]:
    """``redbeat-sync health`` end to end (a new process each time, as an exec probe)
    against one real ``celery beat`` that leads."""
    client.flushdb()
    env = dict(os.environ, BEAT_TEST_REDIS=url, BEAT_TEST_BROKER=url.rsplit("/", 1)[0] + "/1",
               PYTHONPATH=str(ROOT))  # fmt: skip
    beat = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "tests.beat_app", "beat",
         "-S", "redbeat_sync.Scheduler", "-l", "warning", "-s", "/tmp/bench-probe-beat"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    command = [str(Path(sys.executable).with_name("redbeat-sync")), "health", "--redis-url", url]
    times: list[float] = []
    try:
        deadline = time.monotonic() + 30
        while subprocess.run(command, capture_output=True).returncode != 0:
            if time.monotonic() > deadline:
                raise RuntimeError("the beat never became healthy")
            time.sleep(0.2)
        for _ in range(rounds):
            started = time.perf_counter()
            done = subprocess.run(command, capture_output=True)
            times.append(time.perf_counter() - started)
            assert done.returncode == 0, done
    finally:
        beat.kill()
        beat.wait(10)
    times.sort()
    line = (
        f"redbeat-sync health end to end ({rounds} probes, one leading beat): "
        f"median {statistics.median(times) * 1000:.0f} ms, max {times[-1] * 1000:.0f} ms"
    )
    print(line, flush=True)
    return [line]


# --------------------------------------------------------------------------- latency


def _delay_line(src: Any, dst: Any, delay: float) -> None:
    """Copy socket ``src`` to ``dst``, each chunk delivered ``delay`` s after it came.

    Threads and ``time.sleep`` (sub-millisecond precision), not asyncio: its timers
    wait in whole milliseconds, which made a "0.5 ms" proxy add 3 ms.
    """
    import queue
    import socket as socket_module

    chunks: queue.Queue[tuple[float, bytes]] = queue.Queue()

    def deliver() -> None:
        while True:
            due, data = chunks.get()
            if not data:
                break
            wait = due - time.perf_counter()
            if wait > 0:
                time.sleep(wait)
            try:
                dst.sendall(data)
            except OSError:
                break
        with contextlib.suppress(OSError):
            dst.shutdown(socket_module.SHUT_WR)

    sender = threading.Thread(target=deliver, daemon=True)
    sender.start()
    while True:
        try:
            data = src.recv(1 << 16)
        except OSError:
            data = b""
        chunks.put((time.perf_counter() + delay, data))
        if not data:
            break
    sender.join()


def serve_proxy(listen_port: int, upstream_port: int, rtt_ms: float) -> None:
    """A TCP proxy adding about ``rtt_ms`` of round-trip time (half each way): Redis on
    another host, for both schedulers alike."""
    import socket as socket_module

    delay = rtt_ms / 2000
    server = socket_module.create_server(("127.0.0.1", listen_port))
    while True:
        client, _ = server.accept()
        upstream = socket_module.create_connection(("127.0.0.1", upstream_port))
        for sock in (client, upstream):
            sock.setsockopt(socket_module.IPPROTO_TCP, socket_module.TCP_NODELAY, 1)
        for src, dst in ((client, upstream), (upstream, client)):
            threading.Thread(target=_delay_line, args=(src, dst, delay), daemon=True).start()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--total", type=int, default=100_000)
    parser.add_argument("--due", type=int, nargs="+", default=[1000, 5000])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--skip-failover", action="store_true")
    parser.add_argument("--metrics-due", type=int, default=1000)
    parser.add_argument("--only-ops", action="store_true", help="only part 4 (metrics, probe)")
    parser.add_argument("--json", help="also write the figures to this file")
    parser.add_argument(
        "--rtt-ms", type=float, default=0.0,
        help="also compare through a proxy adding about this round-trip time (Redis on "
        "another host); the RTT actually measured is printed",
    )  # fmt: skip
    parser.add_argument("--proxy", nargs=3, type=float, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.proxy:  # internal: run as the latency proxy process
        serve_proxy(int(args.proxy[0]), int(args.proxy[1]), args.proxy[2])
        return
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("celery").setLevel(logging.WARNING)
    lines: list[str] = []
    with running_redis() as server:
        url = server.url
        client = redis.Redis.from_url(url, decode_responses=True)
        if args.only_ops:
            lines += bench_metrics(url, client, args.total, args.metrics_due, args.repeats)
            lines += bench_probe(url, client)
            if args.json:
                Path(args.json).write_text(json.dumps(lines, indent=2))
            return
        lines += bench_dispatch(url, client, args.total, args.due, args.repeats)
        if args.rtt_ms:
            lines += bench_dispatch_remote(server.port, client, args)
        lines += bench_pickup(url, client)
        if not args.skip_failover:
            lines += bench_failover(url, client)
        lines += bench_metrics(url, client, args.total, args.metrics_due, args.repeats)
        lines += bench_probe(url, client)
    if args.json:
        Path(args.json).write_text(json.dumps(lines, indent=2))


if __name__ == "__main__":
    main()

"""Crashes in the middle of an apply of 10,000 entries: nothing half-applied.

Real processes only: ``redbeat-sync apply`` as a subprocess against a redis-server
with AOF (``appendfsync always``) that the test SIGKILLs and restarts on the same
port and directory; or the apply client itself SIGKILLed.

The moment of the kill is chosen by watching the server over a raw socket:

- ``lock``:   the sync lock key just appeared (apply is reading state / encoding);
- ``script``: the server stopped answering for a moment, i.e. it is running the
  batch's Lua script (10k entries take ~0.25 s there): the kill lands mid-script.

After each crash the test checks, on the restarted server: the batch is all there
or not at all (inventory, hashes and schedule agree), the apply exited 1 with one
clear line and no traceback, the stale sync lock has a TTL and force-unlock frees
it, and a re-run of apply converges (plan then says "No changes.").
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from devsupport.devserver import RedisServer
from redbeat_sync.state.layout import EXTRA_FIELD, Layout
from redbeat_sync.state.synclock import DEFAULT_TTL

LAYOUT = Layout()
ENTRIES = 10_000
CLI = [sys.executable, "-m", "redbeat_sync"]
#: Every CLI call here must finish within this (10k entries: a few seconds).
CLI_TIMEOUT = 90.0
AOF_ARGS = ["--appendfsync", "always", "--aof-load-truncated", "yes"]


@pytest.fixture(scope="module")
def big_spec(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("fault-apply") / "big.yaml"
    lines = ["version: 1", "entries:"]
    for i in range(ENTRIES):
        lines += [
            f"  job-{i:05d}:",
            "    task: fault.tasks.run",
            f"    schedule: {{every: {60 + i % 7}s}}",
            f"    args: [{i}]",
        ]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture
def aof_server() -> Iterator[RedisServer]:
    server = RedisServer(appendonly=True, extra_args=AOF_ARGS).start()
    try:
        yield server
    finally:
        server.stop()


def cli(*args: str, url: str, timeout: float = CLI_TIMEOUT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, *args, "--redis-url", url],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "NO_COLOR": "1"},
    )


def start_apply(spec: Path, url: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [*CLI, "apply", "--auto-approve", str(spec), "--redis-url", url],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "NO_COLOR": "1"},
    )


class Probe:
    """Asks the server one cheap question at a time over a raw socket.

    A reply that does not come within ``patience`` means the server is busy (it
    runs one script at a time and answers nobody meanwhile).
    """

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=2.0)
        self.query = f"EXISTS {LAYOUT.sync_lock_key}\r\n".encode()

    def lock_held(self, patience: float = 0.02) -> bool | None:
        """True/False, or None when the server did not answer in time (busy)."""
        self.sock.sendall(self.query)
        self.sock.settimeout(patience)
        try:
            reply = self.sock.recv(64)
        except TimeoutError:
            return None
        return reply.startswith(b":1")

    def close(self) -> None:
        self.sock.close()


def wait_for_moment(probe: Probe, proc: subprocess.Popen[str], moment: str) -> float:
    """Block until ``moment`` ("lock" or "script"); returns when (monotonic)."""
    deadline = time.monotonic() + CLI_TIMEOUT
    locked = False
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"apply ended before the {moment}: {proc.stderr.read()}"  # type: ignore[union-attr]
        # The script runs ~0.25 s: 0.1 s without a reply is the script, not a slow box.
        held = probe.lock_held(patience=0.1 if locked else 2.0)
        locked = locked or bool(held)
        if moment == "lock" and held:
            return time.monotonic()
        if moment == "script" and locked and held is None:
            return time.monotonic()
        time.sleep(0.002)
    raise AssertionError(f"never saw the {moment}")


def check_all_or_nothing(client: redis.Redis) -> int:
    """The batch landed whole or not at all, and every index agrees; returns count."""
    inventory = client.smembers(LAYOUT.inventory_key)
    assert len(inventory) in (0, ENTRIES), f"half-applied: {len(inventory)} of {ENTRIES}"
    keys = {LAYOUT.entry_key(name) for name in inventory}
    scheduled = set(client.zrange(LAYOUT.schedule_key, 0, -1))
    assert scheduled == keys, "schedule and inventory disagree"
    entry_keys = set(client.scan_iter(match=f"{LAYOUT.prefix}job-*", count=5000))
    assert entry_keys == keys, "entry hashes and inventory disagree"
    with client.pipeline(transaction=False) as pipe:
        for key in keys:
            pipe.hmget(key, "definition", "meta", EXTRA_FIELD)
        for fields in pipe.execute():
            assert all(fields), f"an entry hash lacks a field: {fields}"
    return len(inventory)


def free_stale_lock_and_converge(spec: Path, url: str, client: redis.Redis) -> float:
    """Stale lock: TTL set, a new apply names it, force-unlock frees it, re-run converges.

    Returns the seconds from the restarted server to "No changes.".
    """
    started = time.monotonic()
    raw = client.get(LAYOUT.sync_lock_key)
    if raw is not None:
        ttl_ms = client.pttl(LAYOUT.sync_lock_key)
        assert 0 < ttl_ms <= DEFAULT_TTL * 1000, "a stale sync lock must expire by itself"
        lock_id = json.loads(raw)["id"]
        if client.scard(LAYOUT.inventory_key) < ENTRIES:  # with nothing to do: no lock taken
            blocked = cli("apply", "--auto-approve", "--lock-timeout", "0.5", str(spec), url=url)
            assert blocked.returncode == 1
            assert "Traceback" not in blocked.stderr
            assert f"redbeat-sync force-unlock {lock_id}" in blocked.stderr, blocked.stderr
        wrong = cli("force-unlock", "00000000", url=url)
        assert wrong.returncode == 1 and "does not match" in wrong.stderr, wrong.stderr
        freed = cli("force-unlock", lock_id, url=url)
        assert freed.returncode == 0, freed.stderr
    rerun = cli("apply", "--auto-approve", str(spec), url=url)
    assert rerun.returncode == 0, rerun.stderr
    assert "Traceback" not in rerun.stderr
    assert check_all_or_nothing(client) == ENTRIES
    again = cli("plan", str(spec), url=url)
    assert again.returncode == 0, again.stderr
    assert again.stdout.strip() == "No changes.", again.stdout[-500:]
    assert client.get(LAYOUT.sync_lock_key) is None
    return time.monotonic() - started


def one_error_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert "Traceback" not in stderr, stderr
    assert len(lines) == 1 and lines[0].startswith("Error: "), stderr
    return lines[0]


@pytest.mark.slow
@pytest.mark.parametrize("moment", ["lock", "script"])
def test_redis_sigkilled_mid_apply(
    moment: str, big_spec: Path, aof_server: RedisServer, record_property: object
) -> None:
    probe = Probe(aof_server.port)
    proc = start_apply(big_spec, aof_server.url)
    try:
        wait_for_moment(probe, proc, moment)
        aof_server.kill()
        killed = time.monotonic()
        _, stderr = proc.communicate(timeout=CLI_TIMEOUT)
    finally:
        probe.close()
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 1
    line = one_error_line(stderr)
    # It says what happened to the write and how to free the lock it could not release.
    assert "may or may not have been written" in line or "lost the connection" in line, line
    # Killed before the first batch was sent: nothing to look for, and it says so.
    assert "run plan" in line.lower() or "nothing was written" in line, line

    aof_server.start()  # same port and directory: loads the AOF
    restarted = time.monotonic()
    client = redis.Redis.from_url(aof_server.url, decode_responses=True)
    try:
        landed = check_all_or_nothing(client)
        if client.exists(LAYOUT.sync_lock_key):
            lock_id = json.loads(client.get(LAYOUT.sync_lock_key))["id"]
            assert f"force-unlock {lock_id}" in line, line
        recovery = free_stale_lock_and_converge(big_spec, aof_server.url, client)
    finally:
        client.close()
    print(
        f"\nFAULT redis-kill@{moment}: landed {landed}/{ENTRIES}, "
        f"restart {restarted - killed:.2f}s, converged in {recovery:.1f}s"
    )


@pytest.mark.slow
@pytest.mark.parametrize("moment", ["lock", "script"])
def test_apply_client_sigkilled_mid_apply(
    moment: str, big_spec: Path, aof_server: RedisServer
) -> None:
    probe = Probe(aof_server.port)
    proc = start_apply(big_spec, aof_server.url)
    try:
        wait_for_moment(probe, proc, moment)
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    finally:
        probe.close()
        if proc.poll() is None:
            proc.kill()
    client = redis.Redis.from_url(aof_server.url, decode_responses=True)
    try:
        # A script the server already runs finishes whatever happens to its client
        # (landed == ENTRIES when the kill really hit mid-script; 0 if it came early).
        landed = check_all_or_nothing(client)
        assert client.exists(LAYOUT.sync_lock_key), "the dead apply's lock should still be there"
        recovery = free_stale_lock_and_converge(big_spec, aof_server.url, client)
    finally:
        client.close()
    print(f"\nFAULT client-kill@{moment}: landed {landed}/{ENTRIES}, converged in {recovery:.1f}s")


@pytest.mark.slow
def test_redis_sigkilled_between_batches(big_spec: Path, aof_server: RedisServer) -> None:
    """Several batches (apply_plan with batch_size 1000): whole batches land, and the
    error says how many; the audit write cannot hide it when Redis is gone."""
    from redbeat_sync.apply import apply_plan
    from redbeat_sync.fileformat.loader import load_paths
    from redbeat_sync.plan.compare import compute_plan
    from redbeat_sync.state.reader import read_state

    batch = 1000
    client = redis.Redis.from_url(aof_server.url, decode_responses=True, socket_timeout=5)
    state = read_state(client, LAYOUT)
    plan = compute_plan(load_paths([big_spec]), state, beat_timezone="UTC", prefix=LAYOUT.prefix)
    errors: list[BaseException] = []

    def run() -> None:
        try:
            apply_plan(client, LAYOUT, plan, batch_size=batch)
        except BaseException as exc:  # the test inspects it
            errors.append(exc)

    watcher = redis.Redis.from_url(aof_server.url, decode_responses=True, socket_timeout=5)
    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    deadline = time.monotonic() + CLI_TIMEOUT
    while watcher.scard(LAYOUT.inventory_key) < 2 * batch and time.monotonic() < deadline:
        time.sleep(0.005)
    aof_server.kill()
    thread.join(CLI_TIMEOUT)
    watcher.close()
    client.close()
    assert not thread.is_alive()
    assert len(errors) == 1, "apply should have failed"
    message = str(errors[0])
    # apply_plan raises ApplyFailed (a UserError) saying how it ended: part-way here.
    assert getattr(errors[0], "outcome", None) == "partial", repr(errors[0])
    assert "batches" in message and "force-unlock" in message, message

    aof_server.start()
    client = redis.Redis.from_url(aof_server.url, decode_responses=True)
    try:
        inventory = client.smembers(LAYOUT.inventory_key)
        assert len(inventory) % batch == 0 and 2 * batch <= len(inventory) < ENTRIES
        # The error names the batches that surely landed; the failed one may have too.
        said = int(message.split(" of ")[0].split()[-1])
        assert len(inventory) // batch in (said, said + 1), message
        keys = {LAYOUT.entry_key(name) for name in inventory}
        assert set(client.zrange(LAYOUT.schedule_key, 0, -1)) == keys
        recovery = free_stale_lock_and_converge(big_spec, aof_server.url, client)
    finally:
        client.close()
    print(
        f"\nFAULT redis-kill@batches: landed {len(inventory)}/{ENTRIES}, converged {recovery:.1f}s"
    )


@pytest.mark.slow
@pytest.mark.parametrize("tear", ["mid-transaction", "after-exec"])
def test_torn_aof_tail_loads_all_or_nothing(
    tear: str, big_spec: Path, aof_server: RedisServer
) -> None:
    """A crash that tore the AOF's last write: the batch's MULTI/EXEC (how Redis logs a
    script's effects) is dropped whole on load (aof-load-truncated yes), never half."""
    done = cli("apply", "--auto-approve", str(big_spec), url=aof_server.url)
    assert done.returncode == 0, done.stderr
    aof_server.kill()
    incr = next(Path(aof_server.workdir, "appendonlydir").glob("*.incr.aof"))
    data = incr.read_bytes()
    begin = data.rindex(b"*1\r\n$5\r\nMULTI\r\n")
    end = data.index(b"*1\r\n$4\r\nEXEC\r\n", begin) + len(b"*1\r\n$4\r\nEXEC\r\n")
    # The lock SET comes before the batch; the audit XADD and the lock DEL after it.
    cut = (begin + end) // 2 if tear == "mid-transaction" else end + 20
    with open(incr, "r+b") as handle:
        handle.truncate(cut)
    aof_server.start()
    client = redis.Redis.from_url(aof_server.url, decode_responses=True)
    try:
        landed = check_all_or_nothing(client)
        assert landed == (0 if tear == "mid-transaction" else ENTRIES)
        assert client.exists(LAYOUT.sync_lock_key), "the lock's DEL was torn off too"
        recovery = free_stale_lock_and_converge(big_spec, aof_server.url, client)
    finally:
        client.close()
    print(f"\nFAULT torn-aof@{tear}: landed {landed}/{ENTRIES}, converged in {recovery:.1f}s")

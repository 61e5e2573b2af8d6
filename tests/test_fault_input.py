"""Hostile schedule files through the real CLI: clear errors, bounded, Redis untouched.

Each file goes through ``redbeat-sync validate`` and ``redbeat-sync plan`` as a
subprocess against a real redis-server holding a small deployment.  For every case:

- exit 1 with ``file:line`` problems (or a sane result for valid input), never a
  traceback;
- it finishes by itself (one still running after ``HANG_BOUND`` is killed and the
  case fails: a bound on waiting, not a speed claim; the seconds are printed) and its
  peak RSS (VmHWM, read from /proc while the child runs) stays under ``RSS_BOUND``;
  the child also runs under RLIMIT_AS, so a memory blow-up fails fast instead of
  swapping the machine;
- Redis byte-for-byte the same afterwards (DUMP and TTL of every key).
"""

from __future__ import annotations

import os
import re
import resource
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis

from devsupport.devserver import RedisServer

CLI = [sys.executable, "-m", "redbeat_sync"]
HANG_BOUND = 120.0
RSS_BOUND_KB = 1024 * 1024  # 1 GiB
ADDRESS_SPACE = int(1.5 * 1024**3)

HEADER = "version: 1\nentries:\n"
ENTRY = "  {name}:\n    task: t.x\n    schedule: {{every: 10s}}\n"


def _limit_memory() -> None:  # runs in the child before exec
    resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE, ADDRESS_SPACE))


@dataclass
class Outcome:
    returncode: int
    stdout: str
    stderr: str
    seconds: float
    peak_rss_kb: int
    hung: bool  # still running at HANG_BOUND: killed


def run_cli(*args: str, url: str) -> Outcome:
    started = time.monotonic()
    proc = subprocess.Popen(
        [*CLI, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "NO_COLOR": "1", "REDBEAT_SYNC_REDIS_URL": url},
        preexec_fn=_limit_memory,
    )
    peak = 0
    status = Path(f"/proc/{proc.pid}/status")
    # Sample the high-water mark until the child exits (pipes drained by a thread).
    out: list[str] = []
    reader = threading.Thread(target=lambda: out.extend(proc.communicate()), daemon=True)
    reader.start()
    while reader.is_alive() and time.monotonic() - started < HANG_BOUND:
        try:
            match = re.search(r"VmHWM:\s+(\d+)", status.read_text())
            if match:
                peak = max(peak, int(match.group(1)))
        except OSError:
            pass
        reader.join(0.02)
    hung = reader.is_alive()
    if hung:
        proc.kill()
        reader.join(10)
    return Outcome(proc.returncode, out[0], out[1], time.monotonic() - started, peak, hung)


def snapshot(client: redis.Redis) -> dict[bytes, tuple[bytes | None, int]]:
    return {key: (client.dump(key), client.pttl(key)) for key in client.scan_iter(count=1000)}


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, redis.Redis]]:
    """A real Redis with a few applied entries (so there is something to not touch)."""
    server = RedisServer().start()
    client = redis.Redis.from_url(server.url)
    seed = tmp_path_factory.mktemp("seed") / "seed.yaml"
    seed.write_text(HEADER + "".join(ENTRY.format(name=f"seed-{i}") for i in range(3)))
    applied = subprocess.run(
        [*CLI, "apply", "--auto-approve", str(seed), "--redis-url", server.url],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert applied.returncode == 0, applied.stderr
    try:
        yield server.url, client
    finally:
        client.close()
        server.stop()


def deep_seq(depth: int) -> str:
    return HEADER + ENTRY.format(name="a") + "    args: " + "[" * depth + "]" * depth + "\n"


def deep_map(depth: int) -> str:
    return (
        HEADER + ENTRY.format(name="a") + "    kwargs: " + "{a: " * depth + "1" + "}" * depth + "\n"
    )


def alias_bomb() -> str:
    lines = ['x0: &x0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    lines += [f"x{i}: &x{i} [" + ",".join([f"*x{i - 1}"] * 9) + "]" for i in range(1, 10)]
    return "\n".join(lines) + "\n" + HEADER + ENTRY.format(name="a") + "    args: *x9\n"


def big_file(path: Path, size: int = 50 * 1024 * 1024) -> None:
    with open(path, "w") as out:
        out.write(HEADER)
        i = 0
        while out.tell() < size:
            out.write(ENTRY.format(name=f"job-{i:07d}") + f"    args: [{i}]\n")
            i += 1


MARKER = "redbeat-sync-pwned"

#: name -> (writes the file, message expected on stderr, line expected or None)
CASES: dict[str, tuple[Callable[[Path], None], str | tuple[str, ...], int | None]] = {
    "duplicate-keys": (
        lambda p: p.write_text(HEADER + ENTRY.format(name="a") + ENTRY.format(name="a")),
        "duplicate key",
        6,
    ),
    "billion-laughs": (lambda p: p.write_text(alias_bomb()), "alias", None),
    "unsafe-tag": (
        lambda p: p.write_text(
            HEADER
            + ENTRY.format(name="a")
            + f"    args: !!python/object/apply:os.system ['touch {p.parent / MARKER}']\n"
        ),
        "not allowed",
        6,
    ),
    "invalid-utf8": (
        lambda p: p.write_bytes(HEADER.encode() + b"  a\xff\xfe:\n    task: t.x\n"),
        "UTF-8",
        3,
    ),
    "nul-byte": (
        lambda p: p.write_bytes(HEADER.encode() + b"  a\x00b:\n    task: t.x\n"),
        "unacceptable character",
        3,
    ),
    # 50 MB of ~650k tiny entries is under the file size limit: the per-file entry cap
    # refuses it, or under RLIMIT_AS the loader runs out of memory first (which of the
    # two depends on the allocator); either must end in one clear line, not a traceback.
    "50-MB-of-entries": (big_file, ("more than 200,000 entries", "out of memory"), None),
    "nested-10k-seq": (lambda p: p.write_text(deep_seq(10_000)), "nest", 6),
    "nested-10k-map": (lambda p: p.write_text(deep_map(10_000)), "nested", 6),
    "name-starts-with-colon": (
        lambda p: p.write_text(HEADER + ENTRY.format(name='":bad"')),
        "must not start with ':'",
        3,
    ),
    "name-with-control-chars": (
        lambda p: p.write_text(HEADER + ENTRY.format(name='"a\\u0007b\\nc"')),
        "control characters",
        3,
    ),
    "name-100k-chars": (
        lambda p: p.write_text(HEADER + ENTRY.format(name='"' + "n" * 100_000 + '"')),
        "invalid YAML",
        3,
    ),
}


#: Cases marked slow: filling 1.5 GB takes a while.
SLOW_CASES = {"50-MB-of-entries"}


def check_bounded(outcome: Outcome, what: str) -> None:
    assert "Traceback" not in outcome.stderr, outcome.stderr[-3000:]
    assert not outcome.hung, f"{what}: still running after {HANG_BOUND:.0f}s (killed)"
    assert outcome.peak_rss_kb < RSS_BOUND_KB, f"{what}: peak RSS {outcome.peak_rss_kb} KB"


@pytest.mark.parametrize(
    "case",
    [pytest.param(c, marks=[pytest.mark.slow] if c in SLOW_CASES else []) for c in sorted(CASES)],
)
def test_hostile_file_rejected_clearly(
    case: str, deployment: tuple[str, redis.Redis], tmp_path: Path
) -> None:
    url, client = deployment
    write, expected, line = CASES[case]
    path = tmp_path / f"{case}.yaml"
    write(path)
    before = snapshot(client)
    for command in ("validate", "plan"):
        outcome = run_cli(command, str(path), url=url)
        check_bounded(outcome, f"{case} {command}")
        assert outcome.returncode == 1, (command, outcome.stdout[-500:], outcome.stderr[-500:])
        problems = outcome.stderr.splitlines()
        assert problems[-1].startswith("Error: "), outcome.stderr[-500:]
        where = f"{path}:{line}:" if line is not None else f"{path}:"
        if case not in SLOW_CASES:  # out of memory: no file or line to point at
            assert any(p.startswith(where) for p in problems), (where, outcome.stderr[-500:])
        accepted = (expected,) if isinstance(expected, str) else expected
        assert any(text in outcome.stderr for text in accepted), outcome.stderr[-500:]
        # Every problem is one printable line: a key's control characters are escaped.
        assert all(p.isprintable() for p in problems), outcome.stderr[-500:]
        print(f"\nFAULT input {case} {command}: {outcome.seconds:.2f}s {outcome.peak_rss_kb} KB")
    assert not (tmp_path / MARKER).exists(), "a YAML tag executed code"
    assert snapshot(client) == before, "Redis changed"


def test_unusual_names_and_huge_arg_round_trip(
    deployment: tuple[str, redis.Redis], tmp_path: Path
) -> None:
    """Names with ':', spaces and unicode, and a 5 MB string argument, are valid:
    plan shows them, apply writes them, and the next plan has no changes."""
    url, client = deployment
    names = ['"a:b c"', '"ünï ☃ 名前"', '"trailing:"', '"x::y"']
    path = tmp_path / "names.yaml"
    seed = "".join(ENTRY.format(name=f"seed-{i}") for i in range(3))  # keep the seed
    huge = ENTRY.format(name="huge-arg") + '    args: ["' + "x" * 5_000_000 + '"]\n'
    path.write_text(HEADER + seed + "".join(ENTRY.format(name=n) for n in names) + huge)
    before = snapshot(client)

    checked = run_cli("validate", str(path), url=url)
    check_bounded(checked, "names validate")
    assert checked.returncode == 0, checked.stderr
    planned = run_cli("plan", str(path), url=url)
    check_bounded(planned, "names plan")
    assert planned.returncode == 0, planned.stderr
    assert "Plan: 5 to create, 0 to update, 0 to delete." in planned.stdout
    assert snapshot(client) == before, "plan wrote to Redis"
    try:
        applied = run_cli("apply", "--auto-approve", str(path), url=url)
        check_bounded(applied, "names apply")
        assert applied.returncode == 0, applied.stderr
        stored = {
            n.decode()
            for n in client.smembers("redbeat::sync:managed")
            if not n.startswith(b"seed")
        }
        assert stored == {"a:b c", "ünï ☃ 名前", "trailing:", "x::y", "huge-arg"}
        assert len(client.hget("redbeat:huge-arg", "definition") or b"") > 5_000_000
        again = run_cli("plan", str(path), url=url)
        check_bounded(again, "names re-plan")
        assert again.returncode == 0 and again.stdout.strip() == "No changes.", again.stdout[-500:]
    finally:
        # Leave the module's deployment as the other cases expect it.
        (tmp_path / "seed.yaml").write_text(HEADER + seed)
        restored = run_cli("apply", "--auto-approve", str(tmp_path / "seed.yaml"), url=url)
        assert restored.returncode == 0, restored.stderr


def test_50_mb_string_is_accepted_within_bounds(
    deployment: tuple[str, redis.Redis], tmp_path: Path
) -> None:
    """One 50 MB scalar is valid YAML and a valid description: a sane result, fast."""
    url, client = deployment
    path = tmp_path / "long-string.yaml"
    path.write_text(
        HEADER + ENTRY.format(name="a") + '    description: "' + "x" * 50_000_000 + '"\n'
    )
    before = snapshot(client)
    checked = run_cli("validate", str(path), url=url)
    check_bounded(checked, "50 MB string validate")
    assert checked.returncode == 0 and "1 entry in 1 file" in checked.stdout, checked.stderr[-500:]
    planned = run_cli("plan", str(path), url=url)
    check_bounded(planned, "50 MB string plan")
    assert planned.returncode == 0, planned.stderr[-500:]
    assert snapshot(client) == before, "plan wrote to Redis"
    print(f"\nFAULT input 50-MB-string: {planned.seconds:.2f}s {planned.peak_rss_kb} KB")

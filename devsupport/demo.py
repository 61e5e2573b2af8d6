"""The README's main job: the whole GitOps loop on a real Redis started for it.

    python -m devsupport.demo [PATHS...]      (default: examples/)

Starts a throwaway redis-server on a free port (never the one on 6379), seeds one
entry the way celery-redbeat would have written it, then runs
validate → plan → apply → show → plan again (No changes) → history, and stops the
server.  Each step is the real ``redbeat-sync`` command in a subprocess.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Sequence

from devsupport.devserver import running_redis

STEPS: list[tuple[str, list[str], set[int]]] = [
    ("Validate the schedule files (offline)", ["validate", "{paths}"], {0}),
    ("Plan against Redis", ["plan", "{paths}"], {0}),
    ("Apply", ["apply", "--auto-approve", "-m", "demo apply", "{paths}"], {0}),
    ("Show what Redis holds now", ["show"], {0}),
    ("Plan again: nothing left to do", ["plan", "--detailed-exitcode", "{paths}"], {0}),
    ("Audit history", ["history"], {0}),
]


def seed_legacy_entry(url: str) -> None:
    """One entry as a RedBeat user would have it (unmanaged until a file names it)."""
    import json

    import redis

    client = redis.Redis.from_url(url)
    definition = {
        "name": "legacy-cleanup",
        "task": "ops.tasks.cleanup",
        "args": None,
        "kwargs": {},
        "options": {},
        "schedule": {"__type__": "interval", "every": 3600.0, "relative": False},
        "enabled": True,
    }
    client.hset("redbeat:legacy-cleanup", "definition", json.dumps(definition))
    client.zadd("redbeat::schedule", {"redbeat:legacy-cleanup": 0})
    client.close()


def run(paths: Sequence[str]) -> int:
    with running_redis() as server:
        env = dict(os.environ, REDBEAT_SYNC_REDIS_URL=server.url)
        print(f"Started a throwaway redis-server at {server.url}\n", flush=True)
        seed_legacy_entry(server.url)
        for title, template, ok_codes in STEPS:
            args: list[str] = []
            for part in template:
                args.extend(paths if part == "{paths}" else [part])
            print(f"=== {title}: redbeat-sync {' '.join(args)}", flush=True)
            code = subprocess.call([sys.executable, "-m", "redbeat_sync", *args], env=env)
            print(flush=True)
            if code not in ok_codes:
                print(f"demo failed at step {title!r} (exit {code})", file=sys.stderr)
                return 1
    print("Demo complete; the redis-server was stopped.")
    return 0


def main() -> None:
    sys.exit(run(sys.argv[1:] or ["examples"]))


if __name__ == "__main__":
    main()

"""Shared pieces of the benchmark: the generated schedule, machine facts, timers.

One list of plain entry descriptions (``make_specs``) feeds both sides, so
celery-redbeat saves exactly the entries that redbeat-sync plans and applies:
a mix of crontab (50 %), interval (35 %) and rrule (15 %) schedules, each with
args, kwargs and options, all in UTC so celery-redbeat can run every one of them.
"""

from __future__ import annotations

import os
import platform
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import redis

from redbeat_sync.schedule.vocabulary import WEEKDAY_NAMES

CRONS = (
    "0 3 * * *",
    "*/15 * * * *",
    "30 9 * * mon-fri",
    "0 */6 * * *",
    "5 0 1 * *",
)
EVERY_SECONDS = (30, 60, 300, 900, 3600, 86400)
TASKS = (
    "app.tasks.reports.send_daily",
    "app.tasks.billing.invoice_run",
    "app.tasks.sync.pull_partner_feed",
    "app.tasks.cleanup.purge_expired",
)
QUEUES = ("default", "reports", "billing", "low")
RRULE_START = datetime(2026, 1, 1, tzinfo=timezone.utc)
#: Entries per generated YAML file: a 100k deployment is split the way teams split
#: their files, and each file stays well under the loader's 32 MB per-file cap.
ENTRIES_PER_FILE = 10_000


@dataclass(frozen=True)
class EntrySpec:
    """One generated entry in plain values (both sides build their own objects)."""

    name: str
    task: str
    kind: str  # "cron" | "every" | "rrule"
    cron: str = ""
    every: int = 0
    rrule: dict[str, Any] | None = None
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] | None = None
    options: dict[str, Any] | None = None


def make_specs(n: int) -> list[EntrySpec]:
    specs: list[EntrySpec] = []
    for i in range(n):
        tenant = f"tenant-{i // 10:06d}"
        name = f"{tenant}.job-{i % 10}"
        common: dict[str, Any] = {
            "name": name,
            "task": TASKS[i % len(TASKS)],
            "args": (i, tenant),
            "kwargs": {"tenant_id": i // 10, "region": "eu-west-1", "dry_run": i % 7 == 0},
            "options": {"queue": QUEUES[i % len(QUEUES)], "priority": i % 10, "expires": 3600},
        }
        bucket = i % 20
        if bucket < 10:
            minute = i % 60
            cron = CRONS[i % len(CRONS)] if bucket < 5 else f"{minute} {i % 24} * * *"
            specs.append(EntrySpec(kind="cron", cron=cron, **common))
        elif bucket < 17:
            specs.append(
                EntrySpec(kind="every", every=EVERY_SECONDS[i % len(EVERY_SECONDS)], **common)
            )
        else:
            rule: dict[str, Any] = {"freq": "daily", "byhour": [9, 17], "byminute": [i % 60]}
            if bucket == 19:
                rule = {"freq": "weekly", "byweekday": [0, 2, 4], "byhour": [8], "byminute": [0]}
            specs.append(EntrySpec(kind="rrule", rrule=rule, **common))
    return specs


# --------------------------------------------------------------------------- YAML side


def _flow(values: list[Any]) -> str:
    return "[" + ", ".join(str(v) for v in values) + "]"


def _yaml_entry(spec: EntrySpec) -> str:
    """Block-style YAML of one entry, the way a person writes it."""
    lines = [f"  {spec.name}:", f"    task: {spec.task}"]
    if spec.kind == "cron":
        lines.append(f'    schedule: {{cron: "{spec.cron}"}}')
    elif spec.kind == "every":
        lines.append(f"    schedule: {{every: {spec.every}s}}")
    else:
        assert spec.rrule is not None
        rule = spec.rrule
        lines += ["    schedule:", "      rrule:", f"        freq: {rule['freq']}"]
        lines.append(f"        dtstart: {RRULE_START.isoformat()}")
        if "byweekday" in rule:
            days = [WEEKDAY_NAMES[d] for d in rule["byweekday"]]
            lines.append(f"        byweekday: {_flow(days)}")
        lines.append(f"        byhour: {_flow(rule['byhour'])}")
        lines.append(f"        byminute: {_flow(rule['byminute'])}")
    kwargs = spec.kwargs or {}
    options = spec.options or {}
    lines.append(f"    args: [{spec.args[0]}, {spec.args[1]}]")
    lines += [
        "    kwargs:",
        f"      tenant_id: {kwargs['tenant_id']}",
        f"      region: {kwargs['region']}",
        f"      dry_run: {'true' if kwargs['dry_run'] else 'false'}",
        "    options:",
        f"      queue: {options['queue']}",
        f"      priority: {options['priority']}",
        f"      expires: {options['expires']}",
    ]
    return "\n".join(lines) + "\n"


def write_yaml(specs: list[EntrySpec], directory: Path) -> list[Path]:
    """Write ``specs`` as v1 schedule files of at most ENTRIES_PER_FILE entries each."""
    directory.mkdir(parents=True, exist_ok=True)
    paths: list[Path] = []
    for part, start in enumerate(range(0, max(len(specs), 1), ENTRIES_PER_FILE)):
        path = directory / f"schedules-{part:03d}.yaml"
        chunk = specs[start : start + ENTRIES_PER_FILE]
        body = "".join(_yaml_entry(spec) for spec in chunk)
        path.write_text("version: 1\nentries:\n" + body, encoding="utf-8")
        paths.append(path)
    return paths


# --------------------------------------------------------------------------- celery-redbeat side


def redbeat_schedule(spec: EntrySpec) -> Any:
    """The celery / celery-redbeat schedule object of one entry."""
    from celery.schedules import crontab, schedule
    from redbeat.schedules import rrule

    if spec.kind == "cron":
        minute, hour, day_of_month, month_of_year, day_of_week = spec.cron.split()
        return crontab(
            minute=minute,
            hour=hour,
            day_of_month=day_of_month,
            month_of_year=month_of_year,
            day_of_week=day_of_week,
        )
    if spec.kind == "every":
        return schedule(timedelta(seconds=spec.every))
    assert spec.rrule is not None
    return rrule(dtstart=RRULE_START, **spec.rrule)


# --------------------------------------------------------------------------- facts and timing


def machine_facts(client: redis.Redis) -> dict[str, Any]:
    info = client.info("server")
    cpu_model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        load = os.getloadavg()
    except OSError:
        load = (0.0, 0.0, 0.0)
    return {
        "cores": os.cpu_count(),
        "cpu": cpu_model,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "redis_version": info.get("redis_version"),
        "loadavg_at_start": [round(x, 2) for x in load],
        "git_commit": _git_commit(),
    }


def _git_commit() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
            cwd=Path(__file__).resolve().parent,
        )
        return out.stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return ""


@contextmanager
def timer(into: dict[str, float], key: str) -> Iterator[None]:
    start = time.perf_counter()
    yield
    into[key] = time.perf_counter() - start


def best_of(repeats: int, func: Callable[[], Any]) -> tuple[float, Any]:
    """Fastest wall time of ``repeats`` calls, and the last result."""
    best = float("inf")
    result: Any = None
    for _ in range(max(repeats, 1)):
        start = time.perf_counter()
        result = func()
        best = min(best, time.perf_counter() - start)
    return best, result

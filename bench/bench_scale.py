"""Benchmark: the offline work at scale, in-process (no Redis), one run.

    .venv/bin/python bench/bench_scale.py [N] [FILES]      (default 100000 entries, 4 files)

Prints, for N generated entries: loading and validating the files (load_paths), the
load report over them (compute_load, 7 days), and refusing a rule that can never fire
(dateutil alone walks ~10 s to year 9999); then fire times for 20k entries sharing 4
cron expressions, a minutely rrule started 10 years ago, and refusing an alias bomb.
These were wall-clock assertions in the test suite; a loaded machine made them fail,
so they are figures here.  About 6-10 s for loading 100k entries on a busy 2-core
machine; a quadratic slip shows as minutes.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

from redbeat_sync.fileformat.loader import Spec, load_paths
from redbeat_sync.insights.load import compute_load


def write_schedule_files(directory: Path, count: int, files: int = 4) -> list[Path]:
    """``count`` realistic entries (all schedule kinds, defaults, options) over ``files``."""
    paths = []
    per_file = -(-count // files)
    for number in range(files):
        lines = [
            "version: 1",
            "defaults:",
            "  timezone: Europe/Paris",
            "  options: {queue: default}",
            "  labels: {generated: 'yes'}",
            "entries:",
        ]
        for i in range(number * per_file, min(count, (number + 1) * per_file)):
            kind = i % 4
            lines.append(f"  tenant-{i}:report:")
            lines.append(f"    task: app.tasks.report_{i % 50}")
            if kind == 0:
                lines.append(f'    schedule: {{cron: "{i % 60} {i % 24} * * mon-fri"}}')
            elif kind == 1:
                lines.append(f"    schedule: {{every: {i % 100 + 1}m}}")
            elif kind == 2:
                lines.append(
                    f"    schedule: {{rrule: {{freq: daily, byhour: [{i % 24}], byminute: 5}}}}"
                )
            else:
                lines.append("    schedule: {at: 2030-01-01T09:00:00}")
            lines.append(f'    args: [{i}, "tenant-{i}"]')
            lines.append(f"    kwargs: {{tenant: {i}, full: true}}")
            lines.append(f"    options: {{priority: {i % 10}, expires: 3600}}")
            lines.append(f"    labels: {{team: t{i % 7}}}")
        path = directory / f"schedule-{number}.yaml"
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        paths.append(path)
    return paths


def seconds(work: Callable[[], object]) -> float:
    started = time.perf_counter()
    work()
    return time.perf_counter() - started


def main(total: int, files: int) -> None:
    import tempfile

    from redbeat_sync.errors import ProblemsFound

    with tempfile.TemporaryDirectory() as folder:
        write_schedule_files(Path(folder), total, files)
        size = sum(p.stat().st_size for p in Path(folder).iterdir())
        loaded: list[Spec] = []
        took = seconds(lambda: loaded.append(load_paths([Path(folder)])))
        print(f"load_paths: {total} entries, {files} files, {size / 1e6:.1f} MB: {took:.2f} s")
        entries = [item.entry for item in loaded[0].entries]
        now = datetime(2026, 1, 5, tzinfo=timezone.utc)
        took = seconds(lambda: compute_load(entries, window="7d", now=now))
        print(f"compute_load: {len(entries)} entries, 7 days: {took:.2f} s")
        never = Path(folder, "never.yaml")
        never.write_text(
            "version: 1\nentries:\n  e: {task: a.b, schedule: "
            "{rrule: {freq: secondly, bymonth: 2, bymonthday: 30}}}\n"
        )

        def refuse() -> None:
            try:
                load_paths([never])
            except ProblemsFound:
                return
            raise SystemExit("a rule that can never fire was accepted")

        print(f"refusing a rule that never fires: {seconds(refuse):.2f} s")
    timing_figures()


def timing_figures() -> None:
    """Figures the fast suite once asserted in seconds; it now checks the mechanism
    (tests/test_timing.py, tests/test_spec_yamlload.py) and these say what it saves."""
    from redbeat_sync.fileformat.yamlload import load_text
    from redbeat_sync.schedule import timing
    from redbeat_sync.schedule.entry import Cron, Entry, RRule

    expressions = ["*/5 * * * *", "0 3 * * *", "30 8 * * mon-fri", "0 0 1 * *"]
    entries = [
        Entry(f"e{i}", "t", Cron.from_expression(expressions[i % 4]), timezone="Europe/Paris")
        for i in range(20_000)
    ]
    now = datetime.now(timezone.utc)

    def fire_times() -> None:
        for entry in entries:
            timing.next_fire_times(entry, 3, now)

    print(f"next 3 fire times, 20000 entries on 4 expressions: {seconds(fire_times):.2f} s")
    rule = RRule("minutely", interval=7, dtstart=datetime(2015, 1, 1, tzinfo=timezone.utc))
    long_ago = Entry("r", "t", rule)
    after = datetime(2025, 6, 1, 12, 0, 30, tzinfo=timezone.utc)
    took = seconds(lambda: timing.next_fire_after(long_ago, after))
    print(f"next fire of a minutely rrule started 10 years ago: {took * 1000:.1f} ms")
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for level in range(1, 10):
        ref = ",".join([f"*{chr(96 + level)}"] * 9)
        lines.append(f"{chr(97 + level)}: &{chr(97 + level)} [{ref}]")
    bomb = "\n".join(lines) + "\n"
    print(f"refusing a 9**10 alias bomb: {seconds(lambda: load_text(bomb)) * 1000:.1f} ms")


if __name__ == "__main__":
    main(
        int(sys.argv[1]) if len(sys.argv) > 1 else 100_000,
        int(sys.argv[2]) if len(sys.argv) > 2 else 4,
    )

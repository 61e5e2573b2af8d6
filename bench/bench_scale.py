"""Loading and validating 100k entries must take seconds, not minutes.

Run ``python tests/test_spec_perf.py [N] [FILES]`` to print the timing.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

from redbeat_sync.spec.loader import load_paths


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


def timed_load(directory: Path) -> tuple[int, float]:
    started = time.perf_counter()
    spec = load_paths([directory])
    return len(spec.entries), time.perf_counter() - started


@pytest.mark.slow
def test_100k_entries_load_in_seconds(tmp_path: Path) -> None:
    write_schedule_files(tmp_path, 100_000)
    count, seconds = timed_load(tmp_path)
    assert count == 100_000
    # About 6-10 s on a busy 2-core machine; the bound only catches a quadratic slip.
    assert seconds < 60, f"loading 100k entries took {seconds:.1f}s"


def test_10k_entries_load_quickly(tmp_path: Path) -> None:
    write_schedule_files(tmp_path, 10_000, files=1)
    count, seconds = timed_load(tmp_path)
    assert count == 10_000 and seconds < 15


if __name__ == "__main__":  # pragma: no cover - manual measurement
    import tempfile

    total = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    files = int(sys.argv[2]) if len(sys.argv) > 2 else 4
    with tempfile.TemporaryDirectory() as folder:
        write_schedule_files(Path(folder), total, files)
        size = sum(p.stat().st_size for p in Path(folder).iterdir())
        count, seconds = timed_load(Path(folder))
        print(f"{count} entries, {files} files, {size / 1e6:.1f} MB: {seconds:.2f} s")

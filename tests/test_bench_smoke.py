"""bench/bench_sync.py still runs end to end (tiny size; no figure is asserted)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_bench_sync_prints_end_to_end_figures_first(tmp_path: Path) -> None:
    out = tmp_path / "figures.json"
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "bench_sync.py"), "--sizes", "20",
         "--json", str(out)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    table = done.stdout.split("redbeat-sync vs celery-redbeat", 1)[1]
    assert table.index("END TO END") < table.index("LIBRARY")
    assert "`apply DIR --auto-approve` vs save script" in table
    (result,) = json.loads(out.read_text())["results"]
    e2e = result["e2e"]
    for key in ("peer_save", "peer_list", "cli_plan_create", "cli_apply_planfile",
                "cli_apply_files", "cli_plan_noop", "cli_startup"):  # fmt: skip
        assert len(e2e[key]["runs"]) == 3 and e2e[key]["median"] > 0, key
    assert e2e["peer_save"]["loop_only_median"] > 0

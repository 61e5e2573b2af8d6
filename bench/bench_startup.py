"""Benchmark: CLI start-up against the imports it cannot avoid, in one run.

    .venv/bin/python bench/bench_startup.py [--repeat 15]

Times (best of N wall clock, each a fresh process):
  redbeat-sync --help            vs  python -c "import click"                 target <= 3x
  redbeat-sync validate examples/ vs  python -c "import click, yaml, pydantic"  target <= 2x
and lists which heavy modules each command imports (Celery, kombu, redis, the pydantic
models), from ``python -X importtime``.  Exit status 1 when a target is missed.  For
reference it also times the floor under validate: click, yaml and one pydantic model.

The package timed is this checkout's (it goes first on PYTHONPATH; the line "runs ..."
says which one the console script imported), with its bytecode compiled first, as an
installed package has it: without it every run would time Python's compiler too.
"""

from __future__ import annotations

import argparse
import compileall
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
# the installed console script, as users (and the pre-commit hook) run it
_SCRIPT = Path(PY).with_name("redbeat-sync")
HEAVY = ("celery", "kombu", "redis", "pydantic", "redbeat_sync.fileformat.models", "croniter")
# This checkout first: an editable install elsewhere must not be what is timed.
ENV = {
    **os.environ,
    "PYTHONDONTWRITEBYTECODE": "1",
    "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
}


PYDANTIC_FLOOR = "import click, yaml, pydantic\nclass M(pydantic.BaseModel):\n    x: int = 0"


def cli_command() -> list[str]:
    """The console script when it imports this checkout's package, else ``python -m``."""
    # From the script's own directory, as the script runs (its sys.path[0]).
    found = subprocess.run([PY, "-c", "import redbeat_sync; print(redbeat_sync.__file__)"],
                           cwd=Path(PY).parent, env=ENV, capture_output=True, text=True,
                           check=False).stdout.strip()  # fmt: skip
    print(f"runs {found or 'no redbeat_sync'}")
    mine = Path(found).resolve().is_relative_to(ROOT / "redbeat_sync") if found else False
    return [str(_SCRIPT)] if _SCRIPT.exists() and mine else [PY, "-m", "redbeat_sync"]


def best(cmd: list[str], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        subprocess.run(cmd, cwd=ROOT, env=ENV, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, check=False)  # fmt: skip
        times.append(time.perf_counter() - started)
    return min(times)


def heavy_imports(args: list[str]) -> list[str]:
    """Which heavy modules ``redbeat-sync ARGS`` imports (``python -X importtime``)."""
    done = subprocess.run([PY, "-X", "importtime", "-m", "redbeat_sync", *args], cwd=ROOT,
                          env=ENV, capture_output=True, text=True, check=False)  # fmt: skip
    seen = set()
    for line in done.stderr.splitlines():
        if "|" not in line:
            continue
        name = line.rsplit("|", 1)[1].strip()
        for heavy in HEAVY:
            if name == heavy or name.startswith(heavy + "."):
                seen.add(heavy)
    return sorted(seen)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=15)
    repeat = parser.parse_args().repeat
    compileall.compile_dir(ROOT / "redbeat_sync", quiet=1)
    cli = cli_command()
    pairs = [
        (["--help"], [PY, "-c", "import click"], 3.0),
        (["validate", "examples/"], [PY, "-c", "import click, yaml, pydantic"], 2.0),
    ]  # fmt: skip
    missed = False
    for args, base, target in pairs:
        label = " ".join(args)
        ours, theirs = best([*cli, *args], repeat), best(base, repeat)
        ratio = ours / theirs
        missed |= ratio > target
        print(f"redbeat-sync {label:<20} {ours * 1000:7.1f} ms   baseline "
              f"{theirs * 1000:7.1f} ms   {ratio:4.1f}x (target <= {target:.0f}x)"
              f"   heavy imports: {', '.join(heavy_imports(args)) or 'none'}")  # fmt: skip
    # ``import pydantic`` alone loads almost nothing (pydantic imports lazily); the first
    # model class loads its machinery.  Any CLI validating with pydantic pays this floor.
    floor = best([PY, "-c", PYDANTIC_FLOOR], repeat)
    print(f"for reference: click, yaml, pydantic and one model class {floor * 1000:7.1f} ms")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())

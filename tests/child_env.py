"""Environments for child processes that must not inherit the caller's settings."""

from __future__ import annotations

import os


def bare_env(path: str = "/usr/bin:/bin", **values: str) -> dict[str, str]:
    """``PATH`` and ``values`` only, plus coverage.py's own variables, so that
    ``sh dev.sh coverage`` still measures the child (nothing else leaks in)."""
    coverage = {k: v for k, v in os.environ.items() if k.startswith("COVERAGE_")}
    return {**coverage, "PATH": path, **values}

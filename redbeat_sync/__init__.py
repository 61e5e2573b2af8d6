"""redbeat-sync: Celery beat schedules as code, on RedBeat's Redis layout.

The scheduler API is imported lazily (PEP 562) so ``import redbeat_sync`` stays
cheap for the CLI, which never needs Celery's beat machinery.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

__version__ = "0.2.0.dev0"

#: public name -> module that defines it (RedBeat's names as aliases)
_LAZY = {
    "Scheduler": "redbeat_sync.beat.scheduler",
    "RedBeatScheduler": "redbeat_sync.beat.scheduler",
    "acquire_distributed_beat_lock": "redbeat_sync.beat.scheduler",
    "SchedulerEntry": "redbeat_sync.beat.scheduler_entry",
    "RedBeatSchedulerEntry": "redbeat_sync.beat.scheduler_entry",
    "RedBeatConfig": "redbeat_sync.beat.config",
    "get_redis": "redbeat_sync.beat.config",
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'redbeat_sync' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)

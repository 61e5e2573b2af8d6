"""Report run outcomes to the run history: import this module in your workers.

    app.conf.imports = [..., "redbeat_sync.worker"]

Through Celery's signals, every task that beat sent (it carries the
``redbeat_sync_entry`` header) gets its history record updated: ``started``,
then ``succeeded`` / ``failed`` / ``retried``, with its runtime and, on failure,
the exception's type and message (bounded, redacted).  Tasks not sent by beat are
left alone.  A Redis error while reporting is logged, never raised into the task.
The worker also stamps ``<prefix>:sync:workers`` so beat and ``plan`` know outcomes
are reported (``overlap: skip`` relies on them).
"""

from __future__ import annotations

import logging
import socket
import time
from datetime import datetime, timezone
from typing import Any

from celery import signals

from .beat.config import ensure_conf, get_redis
from .beat.runlog import ENTRY_HEADER, bounded_error, update_run, workers_key

logger = logging.getLogger(__name__)
UTC = timezone.utc

_started: dict[str, float] = {}  # task id -> monotonic start, for the runtime


def _entry_of(task: Any) -> str | None:
    request = getattr(task, "request", None)
    name = getattr(request, ENTRY_HEADER, None) if request is not None else None
    return name if isinstance(name, str) and name else None


def _report(task: Any, task_id: str | None, patch: dict[str, Any]) -> None:
    name = _entry_of(task)
    if name is None or not task_id:
        return
    try:
        app = task.app
        client = get_redis(app)
        layout = ensure_conf(app).layout
        update_run(client, layout, name, task_id, patch)
        client.hset(workers_key(layout), socket.gethostname(), time.time())
    except Exception as exc:  # reporting must never break the task
        logger.warning("redbeat_sync.worker: could not record the run of %s: %s", name, exc)


@signals.task_prerun.connect
def _on_start(sender: Any = None, task_id: str | None = None, **_: Any) -> None:
    if task_id and _entry_of(sender):
        _started[task_id] = time.monotonic()
    _report(sender, task_id, {"state": "started", "started_at": datetime.now(UTC).isoformat(),
                              "worker": socket.gethostname()})  # fmt: skip


def _ended(sender: Any, task_id: str | None, state: str, exc: BaseException | None = None) -> None:
    began = _started.pop(task_id, None) if task_id else None
    patch: dict[str, Any] = {"state": state, "ended_at": datetime.now(UTC).isoformat()}
    if began is not None:
        patch["runtime"] = round(time.monotonic() - began, 6)
    if exc is not None:
        patch["error"] = bounded_error(exc)
    _report(sender, task_id, patch)


@signals.task_success.connect
def _on_success(sender: Any = None, **_: Any) -> None:
    request = getattr(sender, "request", None)
    _ended(sender, getattr(request, "id", None), "succeeded")


@signals.task_failure.connect
def _on_failure(
    sender: Any = None, task_id: str | None = None, exception: BaseException | None = None, **_: Any
) -> None:
    _ended(sender, task_id, "failed", exception)


@signals.task_retry.connect
def _on_retry(sender: Any = None, request: Any = None, reason: Any = None, **_: Any) -> None:
    task_id = getattr(request, "id", None)
    _started.pop(task_id, None) if task_id else None
    error = reason if isinstance(reason, BaseException) else None
    patch: dict[str, Any] = {"state": "retried", "error": bounded_error(error) if error else None}
    _report(sender, task_id, patch)


@signals.worker_ready.connect
def _on_ready(sender: Any = None, **_: Any) -> None:
    app = getattr(sender, "app", None)
    try:
        client = get_redis(app)
        client.hset(workers_key(ensure_conf(app).layout), socket.gethostname(), time.time())
    except Exception as exc:
        logger.warning("redbeat_sync.worker: could not report in: %s", exc)


__all__ = ["ENTRY_HEADER"]

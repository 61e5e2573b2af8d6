"""Run now: a request for one extra run of an entry, sent by the leading beat.

The CLI never sends the task itself: it writes a request into
``<prefix>:sync:run-requests`` (field = entry name, at most one pending per entry)
and makes the entry due.  The leader's claim script deletes the request in the
same atomic step that claims the run (``beat/claim.py``), so two beats, or a leader
and its successor, can never both send it.  The run does not touch the entry's
``last_run_at`` or score beyond making beat look at it.

What beat sent is written to ``<prefix>:sync:run:<id>`` (task id, host, time;
kept a day) for ``redbeat-sync run --wait``.  The request id is the Celery task id.
"""

from __future__ import annotations

import json
import socket
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import redis

from ..redact import redact
from .layout import Layout

UTC = timezone.utc
#: Header naming the run-now request a task was sent for.
REQUEST_HEADER = "redbeat_sync_run_request"
_SENT_TTL = 24 * 3600


def requests_key(layout: Layout) -> str:
    return layout.prefix + ":sync:run-requests"


def sent_key(layout: Layout, request_id: str) -> str:
    return layout.prefix + ":sync:run:" + request_id


@dataclass(frozen=True)
class RunRequest:
    id: str
    by: str
    reason: str | None
    requested_at: datetime | None
    expires_at: datetime | None

    def expired(self, now: datetime) -> bool:
        return self.expires_at is not None and self.expires_at <= now


def _when(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


def parse_request(raw: str | bytes | None) -> RunRequest | None:
    if not raw:
        return None
    try:
        data = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(data, dict) or not isinstance(data.get("id"), str):
        return None
    return RunRequest(
        data["id"], str(data.get("by") or "?"), data.get("reason"),
        _when(data.get("requested_at")), _when(data.get("expires_at")),
    )  # fmt: skip


class AlreadyRequested(Exception):
    def __init__(self, pending: RunRequest | None) -> None:
        super().__init__("a run is already requested")
        self.pending = pending


def request_run(
    client: redis.Redis,
    layout: Layout,
    name: str,
    *,
    who: str,
    reason: str | None,
    expires_at: datetime | None,
    now: datetime | None = None,
) -> str:
    """Write the request (AlreadyRequested if one is pending) and wake beat; its id."""
    now = now or datetime.now(UTC)
    reason = redact(reason) if reason else reason  # free text, stored and shown
    request_id = str(uuid.uuid4())
    value = json.dumps({
        "id": request_id, "by": who, "reason": reason, "host": socket.gethostname(),
        "requested_at": now.isoformat(timespec="seconds"),
        "expires_at": expires_at.isoformat(timespec="seconds") if expires_at else None,
    })  # fmt: skip
    if not client.hsetnx(requests_key(layout), name, value):
        raise AlreadyRequested(parse_request(client.hget(requests_key(layout), name)))
    # Due now, so the leader looks at the entry in its next pass.
    client.zadd(layout.schedule_key, {layout.entry_key(name): int(now.timestamp())}, xx=True)
    client.publish(layout.changes_channel, json.dumps({"count": 1, "names": [name]}))
    return request_id


def cancel_request(client: redis.Redis, layout: Layout, name: str, request_id: str) -> bool:
    """Withdraw our own request if still pending (True if it was)."""
    raw = client.hget(requests_key(layout), name)
    found = parse_request(raw)
    if found is None or found.id != request_id:
        return False
    return bool(client.hdel(requests_key(layout), name))


def requeue_request(client: redis.Redis, layout: Layout, name: str, request: RunRequest) -> None:
    """Put back a request whose run was claimed but never sent (the lease ran out)."""
    value = json.dumps({
        "id": request.id, "by": request.by, "reason": request.reason,
        "requested_at": request.requested_at.isoformat() if request.requested_at else None,
        "expires_at": request.expires_at.isoformat() if request.expires_at else None,
    })  # fmt: skip
    client.hsetnx(requests_key(layout), name, value)
    client.zadd(
        layout.schedule_key, {layout.entry_key(name): int(datetime.now(UTC).timestamp())}, xx=True
    )


def record_sent(
    client: redis.Redis, layout: Layout, request: RunRequest, name: str, task_id: str,
    *, skipped: str | None = None,
) -> None:  # fmt: skip
    """What beat did with the request: sent it, or (``skipped``: why) held it back."""
    value = json.dumps({
        "name": name, "task_id": task_id, "host": socket.gethostname(),
        "sent_at": datetime.now(UTC).isoformat(), "skipped": skipped,
    })  # fmt: skip
    client.set(sent_key(layout, request.id), value, ex=_SENT_TTL)


def read_sent(client: redis.Redis, layout: Layout, request_id: str) -> dict[str, Any] | None:
    raw = client.get(sent_key(layout, request_id))
    return json.loads(raw) if raw else None


__all__ = [
    "REQUEST_HEADER",
    "AlreadyRequested",
    "RunRequest",
    "cancel_request",
    "parse_request",
    "read_sent",
    "record_sent",
    "request_run",
    "requests_key",
    "requeue_request",
    "sent_key",
]

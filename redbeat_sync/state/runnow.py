"""Run now: a request for one extra run of an entry, sent by the leading beat.

The CLI never sends the task itself: it writes a request into
``<prefix>:sync:run-requests`` (field = entry name, at most one per entry) and makes
the entry due.  A request lives until it is settled:

1. pending: as written by the CLI;
2. taken: the leader's claim script (``beat/claim.py``), in the same atomic step that
   claims the run, rewrites it with ``taken_by`` = its lock token and ``taken_at``.
   Only the lock holder can take one (the claim is fenced by the lock), and a leader
   never sends one taken under its own token twice;
3. gone: ``record_sent`` deletes it in the same atomic step that writes what beat did
   with it, right after the send.

A request taken under a token that no longer holds the lock belongs to a leader that
died (or stalled past its lock) between its claim and ``record_sent``: the next
leader takes it again and sends it.  So a leader killed between claim and send no
longer loses the run; what is left is the other side: a leader killed after the
broker accepted the message and before ``record_sent`` (one Redis round trip) makes
its successor send it a second time, with the same task id.  For a run an operator
asked for, a rare duplicate they can see (same id) beats a silent loss, and that
window is much shorter than claim -> send was (overlap check, history write,
building and publishing the message, a broker connect on first use).  A leader whose
lease runs out before sending hands its take back (``requeue_request``).  Without a
leader lock (``redbeat_lock_key = None``) there is no successor to take over: the
claim deletes the request, at most once, as before.

The run does not touch the entry's ``last_run_at`` or score beyond making beat look
at it.  What beat sent is written to ``<prefix>:sync:run:<id>`` (task id, host, time;
kept a day) for ``redbeat-sync run --wait``.  The request id is the Celery task id.
"""

from __future__ import annotations

import json
import socket
import uuid
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from typing import Any

import redis

from ..redact import redact
from ..values import stored_moment, stored_object
from .layout import Layout

UTC = timezone.utc
#: Header naming the run-now request a task was sent for.
REQUEST_HEADER = "redbeat_sync_run_request"
_SENT_TTL = 24 * 3600

#: Settles one request atomically, compared by its id (never another request that
#: replaced it) and by who has taken it.  KEYS[1] request hash, KEYS[2] sent record
#: key (used only when ARGV[5] ~= '').  ARGV[1] entry name, ARGV[2] request id,
#: ARGV[3] taker required: '*' any, '' none (still pending), else that lock token;
#: ARGV[4] new value ('' = delete the request); ARGV[5] sent record to write (SET
#: whether or not the request is still there), ARGV[6] its TTL in seconds.
#: Returns 1 if the request was changed, 0 if it was not there as required.
SETTLE_SCRIPT = """
if ARGV[5] ~= '' then
  redis.call('SET', KEYS[2], ARGV[5], 'EX', ARGV[6])
end
local raw = redis.call('HGET', KEYS[1], ARGV[1])
if not raw then
  return 0
end
local ok, value = pcall(cjson.decode, raw)
if not ok or type(value) ~= 'table' or value.id ~= ARGV[2] then
  return 0
end
local taker = value.taken_by
if type(taker) ~= 'string' then
  taker = ''
end
if ARGV[3] ~= '*' and taker ~= ARGV[3] then
  return 0
end
if ARGV[4] == '' then
  redis.call('HDEL', KEYS[1], ARGV[1])
else
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[4])
end
return 1
"""


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
    host: str | None = None
    taken_by: str | None = None  # the lock token of the leader that claimed its run
    taken_at: datetime | None = None

    def expired(self, now: datetime) -> bool:
        return self.expires_at is not None and self.expires_at <= now

    def taken(self, token: str, now: datetime) -> RunRequest:
        """This request as claimed by the leader holding ``token``."""
        return replace(self, taken_by=token, taken_at=now)

    def pending(self) -> RunRequest:
        return replace(self, taken_by=None, taken_at=None)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat(timespec="seconds") if value is not None else None


def encode_request(request: RunRequest) -> str:
    """The stored value (JSON; ``taken_by``/``taken_at`` only once taken)."""
    data: dict[str, Any] = {
        "id": request.id, "by": request.by, "reason": request.reason, "host": request.host,
        "requested_at": _iso(request.requested_at), "expires_at": _iso(request.expires_at),
    }  # fmt: skip
    if request.taken_by is not None:
        data["taken_by"] = request.taken_by
        data["taken_at"] = _iso(request.taken_at)
    return json.dumps(data)


def parse_request(raw: str | bytes | None) -> RunRequest | None:
    data = stored_object(raw)
    if data is None or not isinstance(data.get("id"), str):
        return None
    taken_by = data.get("taken_by")
    return RunRequest(
        data["id"], str(data.get("by") or "?"), data.get("reason"),
        stored_moment(data.get("requested_at")), stored_moment(data.get("expires_at")),
        host=data.get("host") if isinstance(data.get("host"), str) else None,
        taken_by=taken_by if isinstance(taken_by, str) else None,
        taken_at=stored_moment(data.get("taken_at")),
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
    request = RunRequest(
        request_id, who, reason, now, expires_at, host=socket.gethostname()
    )  # fmt: skip
    if not client.hsetnx(requests_key(layout), name, encode_request(request)):
        raise AlreadyRequested(parse_request(client.hget(requests_key(layout), name)))
    # Due now, so the leader looks at the entry in its next pass.
    client.zadd(layout.schedule_key, {layout.entry_key(name): int(now.timestamp())}, xx=True)
    client.publish(layout.changes_channel, json.dumps({"count": 1, "names": [name]}))
    return request_id


def _settle(
    client: redis.Redis, layout: Layout, name: str, request_id: str, *, taker: str,
    new_value: str = "", sent: tuple[str, str] | None = None,
) -> bool:  # fmt: skip
    """``SETTLE_SCRIPT``: the one way a request is changed once written."""
    sent_to, sent_value = sent if sent is not None else (requests_key(layout), "")
    script = client.register_script(SETTLE_SCRIPT)
    keys = [requests_key(layout), sent_to]
    return bool(script(keys=keys, args=[name, request_id, taker, new_value, sent_value, _SENT_TTL]))


def cancel_request(client: redis.Redis, layout: Layout, name: str, request_id: str) -> bool:
    """Withdraw our own request if still pending (True if it was); one a leader has
    taken is being sent and stays."""
    return _settle(client, layout, name, request_id, taker="")


def requeue_request(client: redis.Redis, layout: Layout, name: str, request: RunRequest) -> None:
    """Make a request taken by ``request.taken_by`` whose run was never sent (the
    lease ran out) pending again, so the next leader sends it; one another leader
    has taken since, or one already settled, is left alone."""
    if request.taken_by is None:  # claimed without a lock: deleted by the claim
        return
    back = encode_request(request.pending())
    _settle(client, layout, name, request.id, taker=request.taken_by, new_value=back)
    client.zadd(
        layout.schedule_key, {layout.entry_key(name): int(datetime.now(UTC).timestamp())}, xx=True
    )


def record_sent(
    client: redis.Redis, layout: Layout, request: RunRequest, name: str, task_id: str,
    *, skipped: str | None = None,
) -> None:  # fmt: skip
    """What beat did with the request: sent it, or (``skipped``: why) held it back;
    and, in the same atomic step, the request deleted (whoever holds it taken now:
    the run it asked for has gone out)."""
    value = json.dumps({
        "name": name, "task_id": task_id, "host": socket.gethostname(),
        "sent_at": datetime.now(UTC).isoformat(), "skipped": skipped,
    })  # fmt: skip
    _settle(client, layout, name, request.id, taker="*", sent=(sent_key(layout, request.id), value))


def read_sent(client: redis.Redis, layout: Layout, request_id: str) -> dict[str, Any] | None:
    raw = client.get(sent_key(layout, request_id))
    return json.loads(raw) if raw else None


__all__ = [
    "REQUEST_HEADER",
    "SETTLE_SCRIPT",
    "AlreadyRequested",
    "RunRequest",
    "cancel_request",
    "encode_request",
    "parse_request",
    "read_sent",
    "record_sent",
    "request_run",
    "requests_key",
    "requeue_request",
    "sent_key",
]

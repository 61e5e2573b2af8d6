"""Apply a plan: lock, check it is still current, guard against mass deletes, write, audit.

The order matters:

1. take the sync lock, so two applies never interleave;
2. re-read the state under the lock and refuse the plan if the state's fingerprint is
   not the one the plan was made from (someone changed Redis since: the reviewed plan
   is no longer what would happen);
3. refuse plans that delete every managed entry or more than ``max_deletes`` (a wrong
   path or an empty file would otherwise wipe a deployment) unless explicitly allowed;
4. hand the writer plain operations, each guarded by the digest the plan saw;
5. append an audit record, then release the lock.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import socket
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from typing import ParamSpec, TypeVar

import redis

from .bulk import with_gc_paused
from .errors import UserError
from .plan.actions import Action, Plan
from .plan.compare import is_reschedule
from .state import audit, reader, writer
from .state.codec import encode_entry
from .state.layout import Layout
from .state.model import Move, Put, Release, Remove, StoredEntry, WriteOp
from .state.synclock import SyncLock, default_holder
from .state.topology import refuse_evicting

P = ParamSpec("P")
R = TypeVar("R")
MIN_MAX_DELETES = 10
MAX_DELETE_SHARE = 0.25


@dataclass(frozen=True)
class ApplyResult:
    report: writer.WriteReport
    audit_id: str | None  # stream id of the history record (None: nothing to apply)
    plan_digest: str
    counts: dict[str, int]  # the plan's summary: create, update, delete, adopt, ...

    def summary(self) -> str:
        """``1 created, 2 updated, 0 deleted, 1 adopted.`` (adopted only when any)."""
        counts = self.counts
        text = f"{counts['create']} created, {counts['update']} updated, {counts['delete']} deleted"
        if counts.get("adopt"):
            text += f", {counts['adopt']} adopted"
        if counts.get("move"):
            text += f", {counts['move']} moved"
        if counts.get("release"):
            text += f", {counts['release']} released"
        return text + "."


def plan_digest(plan: Plan) -> str:
    """sha256 naming the exact plan in the audit trail.

    It covers what the plan was made from (prefix, beat timezone, state fingerprint)
    and per action its kind, names, the digest it expects and, for a change, the text
    it writes (``encode_entry``, as the writer stores it).  A no-op writes nothing and
    its stored fields are already in the fingerprint.  Rendering the whole plan as
    JSON instead took seconds for 100k entries.
    """
    h = hashlib.sha256()
    h.update(f"plan\0{plan.prefix}\0{plan.beat_timezone}\0{plan.fingerprint}\0".encode())
    for action in plan.actions:
        h.update(f"{action.kind}\0{action.name}\0{action.moved_from or ''}\0".encode())
        if action.kind == "noop":
            continue
        h.update(f"{action.expect_digest or ''}\0".encode())
        if action.desired is not None:
            # After a write, the writer's encoding (remembered on the entry).
            encoded = encode_entry(action.desired, beat_timezone=plan.beat_timezone)
            h.update(f"{encoded.definition}\0{encoded.extra or ''}\0".encode())
    return "sha256:" + h.hexdigest()


def default_max_deletes(managed_count: int) -> int:
    return max(MIN_MAX_DELETES, int(managed_count * MAX_DELETE_SHARE))


def check_prune_guards(
    plan: Plan, managed_count: int, *, max_deletes: int | None, allow_mass_delete: bool
) -> None:
    """Refuse suspicious mass deletions (UserError with the counts)."""
    if allow_mass_delete:
        return
    deletes = plan.counts["delete"]
    if deletes == 0:
        return
    hint = "if that is intended, pass --allow-mass-delete"
    if managed_count > 0 and deletes >= managed_count:
        raise UserError(
            f"refusing to delete all {managed_count} managed entries "
            f"(the files name none of them: wrong path or empty file?); {hint}"
        )
    limit = default_max_deletes(managed_count) if max_deletes is None else max_deletes
    if deletes > limit:
        raise UserError(
            f"refusing to delete {deletes} of {managed_count} managed entries "
            f"(limit {limit}); {hint} or raise --max-deletes"
        )


def action_to_op(action: Action, beat_timezone: str = "UTC") -> WriteOp | None:
    """The writer operation for one action (None for a no-op)."""
    if action.kind == "noop":
        return None
    if action.kind == "delete":
        return Remove(action.name, action.expect_digest)
    if action.kind == "release":
        # No stored entry (abandoning a name whose key is gone): only the name goes.
        keep = release_extra(action.current, beat_timezone) if action.current else None
        return Release(action.name, action.expect_digest, keep)
    if action.kind == "move":
        assert action.desired is not None and action.current is not None
        return Move(
            entry=action.desired,
            old_name=action.current.name,
            expect_old_digest=action.current.digest,
            run=action.current.run,
        )
    assert action.desired is not None, f"{action.kind} without a desired entry"
    run = action.current.run if action.current is not None else None
    extra = {"last_run_at_hint": run} if run is not None else {}
    adopting = action.kind == "adopt"
    return Put(
        entry=action.desired,
        expect_digest=action.expect_digest,
        reschedule=(
            action.kind == "reschedule"
            or (adopting and is_reschedule(action.changes))
            # An undecodable entry's old schedule is unknown: recompute its due time.
            or (action.current is not None and action.current.entry is None)
            # Re-enabled: beat parks disabled entries at score -1, so give it a real one.
            or _re_enabled(action)
        ),
        rewrite_definition=not (adopting and not action.changes),
        **extra,
    )


def _re_enabled(action: Action) -> bool:
    return any(c.path == "enabled" and c.old is False and c.new is True for c in action.changes)


def release_extra(stored: StoredEntry, beat_timezone: str = "UTC") -> str | None:
    """Our field as a released entry keeps it: None when nothing in it is still needed.

    An entry stored inert for RedBeat keeps its real schedule here, and zone, window,
    jitter or misfire change how redbeat_sync.Scheduler runs it: dropping the field
    would change the entry. Only the ownership marker goes then.
    """
    if stored.extra_raw is None or stored.entry is None:
        return None
    # What an unmanaged entry would need stored besides RedBeat's fields (prune aside).
    plain = replace(stored.entry, prune=True)
    if encode_entry(plain, beat_timezone=beat_timezone, managed=False).extra is None:
        return None
    try:
        extra = json.loads(stored.extra_raw)
    except ValueError:
        return None
    extra["managed"] = False
    extra.pop("prune", None)  # no longer ours to prune or keep
    return json.dumps(extra, sort_keys=True)


def plan_to_ops(plan: Plan) -> list[WriteOp]:
    ops = (action_to_op(action, plan.beat_timezone) for action in plan.actions)
    return [op for op in ops if op is not None]


def _stale_message(plan: Plan, fresh_entries: dict[str, object], fingerprint: str) -> str:
    changed: list[str] = []
    for action in plan.changes:
        now_there = fresh_entries.get(action.moved_from or action.name)
        digest_now = getattr(now_there, "digest", None)
        if digest_now != action.expect_digest:
            changed.append(action.moved_from or action.name)
        if action.moved_from and action.name in fresh_entries:  # the new name appeared
            changed.append(action.name)
    detail = f"fingerprint {plan.fingerprint[:12]} → {fingerprint[:12]}"
    if changed:
        more = f" and {len(changed) - 5} more" if len(changed) > 5 else ""
        shown = ", ".join(changed[:5]) + more
        detail += f"; changed: {shown}"
    else:
        detail += "; entries this plan leaves alone were created, changed or removed"
    return f"the state changed since this plan was made ({detail}); run plan again"


@with_gc_paused  # ~10 acyclic containers per entry: see bulk.py
def apply_plan(
    client: redis.Redis,
    layout: Layout,
    plan: Plan,
    *,
    beat_timezone: str = "UTC",
    max_deletes: int | None = None,
    allow_mass_delete: bool = False,
    lock_timeout: float = 30.0,
    message: str | None = None,
    who: str | None = None,
    git_sha: str | None = None,
    now: datetime | None = None,
    batch_size: int = writer.DEFAULT_BATCH_SIZE,
    allow_evicting_redis: bool = False,
) -> ApplyResult:
    """Make Redis match ``plan``; writes nothing when the plan is stale or unsafe.

    Refuses a Redis whose ``maxmemory-policy`` may evict schedule entries
    (``allkeys-*``) unless ``allow_evicting_redis``.
    """
    if plan.prefix != layout.prefix:
        raise UserError(f"the plan was made for prefix {plan.prefix!r}, not {layout.prefix!r}")
    if plan.beat_timezone != beat_timezone:
        raise UserError(
            f"the plan was made for beat timezone {plan.beat_timezone}, not {beat_timezone}; "
            "run plan again"
        )
    refuse_evicting(client, allow=allow_evicting_redis)
    who = who or default_holder()
    counts = plan.summary()
    lock = SyncLock(client, layout, holder=who)
    lock.acquire(lock_timeout)
    try:
        # The raw fields suffice to tell whether anything changed since the plan;
        # only a stale plan pays for a full read, to say what changed.
        fingerprint, inventory = reader.read_fingerprint_and_inventory(client, layout)
        if fingerprint != plan.fingerprint:
            state = reader.read_state(client, layout, beat_timezone=beat_timezone)
            raise UserError(_stale_message(plan, dict(state.entries), state.fingerprint))
        check_prune_guards(
            plan,
            len(inventory),
            max_deletes=max_deletes,
            allow_mass_delete=allow_mass_delete,
        )
        ops = plan_to_ops(plan)
        if not ops:
            return ApplyResult(writer.WriteReport(), None, plan_digest(plan), counts)
        # The digest is filled in after the write: the writer encodes every entry
        # while Redis runs the batches, and the digest then reuses those encodings.
        record = audit.make_record(
            who=who,
            plan_digest="",
            counts=counts,
            message=message,
            git_sha=git_sha or os.environ.get("GITHUB_SHA") or None,
            host=socket.gethostname(),
            when=now or datetime.now(timezone.utc),
            prefix=layout.prefix,
            fingerprint_before=plan.fingerprint,
        )
        try:
            report = writer.write(
                client,
                layout,
                ops,
                beat_timezone=beat_timezone,
                now=now,
                batch_size=batch_size,
                # Long multi-batch applies keep their lock alive, and stop if it was lost.
                before_batch=lock.refresh,
            )
        except writer.PartialApply as exc:
            # Some batches landed: the trail must say so, or nobody can tell later.
            record.update(outcome="partial", written=_written(exc.report), error=str(exc))
            record["plan_digest"] = plan_digest(plan)
            # Usually Redis itself is gone: the error below then says what landed.
            with contextlib.suppress(redis.RedisError):
                audit.append_record(client, layout, record)
            raise
        digest = plan_digest(plan)
        record.update(outcome="applied", written=_written(report), plan_digest=digest)
        audit_id = audit.append_record(client, layout, record)
        return ApplyResult(report, audit_id, digest, counts)
    except (UserError, redis.RedisError) as exc:
        # Release here so that a Redis gone mid-apply cannot replace the error that
        # says what was written by a bare "connection refused" from the release.
        try:
            lock.release()
        except redis.RedisError:
            raise UserError(f"{_one_line(exc)} {_lock_left(lock)}") from exc
        raise
    finally:
        lock.release()  # no-op when already released above


def _one_line(exc: BaseException) -> str:
    if isinstance(exc, UserError):
        return str(exc)
    return (
        f"lost the connection to Redis during apply ({type(exc).__name__}: {exc}); "
        "run plan again to see what was written."
    )


def _lock_left(lock: SyncLock) -> str:
    return (
        f"The sync lock (id {lock.lock_id}) could not be released: it expires by itself "
        f"within {lock.ttl:.0f}s, or free it with: redbeat-sync force-unlock {lock.lock_id}"
    )


def _written(report: writer.WriteReport) -> dict[str, int]:
    return {
        "created": report.created,
        "updated": report.updated,
        "deleted": report.deleted,
        "released": report.released,
        "moved": report.moved,
        "batches": report.batches,
    }

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
from .interrupts import Interrupted, StopRequest, stop_between_batches
from .plan.actions import Action, Plan
from .plan.compare import is_reschedule
from .plan.kinds import KINDS
from .plan.memory import refuse_if_it_cannot_fit
from .redact import redact
from .schedule.vocabulary import DEFAULT_TIMEZONE
from .state import audit, reader, writer
from .state.codec import EntryEncoder, encode_entry
from .state.eviction import refuse_evicting
from .state.layout import Layout
from .state.stored import Move, Put, Release, Remove, StoredEntry, WriteOp
from .state.synclock import SyncLock, default_holder

P = ParamSpec("P")
R = TypeVar("R")
MIN_MAX_DELETES = 10
MAX_DELETE_SHARE = 0.25


class ApplyFailed(UserError):
    """An apply that did not complete: how it ended (``outcome``) and what it wrote."""

    def __init__(self, message: str, outcome: str, written: dict[str, int] | None) -> None:
        super().__init__(message)
        self.outcome = outcome  # refused | failed | partial | interrupted | aborted
        self.written = written


@dataclass(frozen=True)
class ApplyResult:
    report: writer.WriteReport
    audit_id: str | None  # stream id of the history record (None: nothing to apply)
    plan_digest: str
    counts: dict[str, int]  # the plan's summary: create, update, delete, adopt, ...
    notes: tuple[str, ...] = ()  # e.g. the audit record or the lock release failed

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


def plan_digest(plan: Plan, encoder: EntryEncoder | None = None) -> str:
    """sha256 naming the exact plan in the audit trail.

    It covers what the plan was made from (prefix, beat timezone, state fingerprint)
    and per action its kind, names, the digest it expects and, for a change, the text
    it writes (``encode_entry``, as the writer stores it).  A no-op writes nothing and
    its stored fields are already in the fingerprint.  Rendering the whole plan as
    JSON instead took seconds for 100k entries.  ``encoder`` (the one the writer used,
    for the plan's beat timezone) spares encoding every change again.
    """
    encoder = encoder or EntryEncoder(beat_timezone=plan.beat_timezone)
    h = hashlib.sha256()
    h.update(f"plan\0{plan.prefix}\0{plan.beat_timezone}\0{plan.fingerprint}\0".encode())
    for action in plan.actions:
        h.update(f"{action.kind}\0{action.name}\0{action.moved_from or ''}\0".encode())
        if KINDS[action.kind].writes == "nothing":
            continue
        h.update(f"{action.expect_digest or ''}\0".encode())
        if action.desired is not None:
            # After a write, the writer's encoding (kept in its encoder).
            encoded = encoder.encode(action.desired)
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


def action_to_op(action: Action, beat_timezone: str = DEFAULT_TIMEZONE) -> WriteOp | None:
    """The writer operation for one action (None for a no-op), by what its kind writes."""
    writes = KINDS[action.kind].writes
    if writes == "nothing":
        return None
    if writes == "remove":
        return Remove(action.name, action.expect_digest)
    if writes == "release":
        # No stored entry (abandoning a name whose key is gone): only the name goes.
        keep = release_extra(action.current, beat_timezone) if action.current else None
        return Release(action.name, action.expect_digest, keep)
    if writes == "move":
        assert action.desired is not None and action.current is not None
        return Move(
            entry=action.desired,
            old_name=action.current.name,
            expect_old_digest=action.current.digest,
            run=action.current.run,
        )
    return _put(action)


def _put(action: Action) -> Put:
    """A whole entry written: create, update, reschedule, adopt."""
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


def release_extra(stored: StoredEntry, beat_timezone: str = DEFAULT_TIMEZONE) -> str | None:
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


def change_pairs(plan: Plan) -> list[tuple[str, str]]:
    """(kind, name) per change as the audit trail names them (reschedules are updates)."""
    pairs: list[tuple[str, str]] = []
    for action in plan.changes:
        kind = KINDS[action.kind].label
        name = action.name
        if action.moved_from:
            name = f"{action.moved_from}{audit.MOVE_ARROW}{action.name}"
        pairs.append((kind, name))
    return pairs


def plan_to_ops(plan: Plan) -> list[WriteOp]:
    ops = (action_to_op(action, plan.beat_timezone) for action in plan.actions)
    return [op for op in ops if op is not None]


def _managed_count_if_unchanged(client: redis.Redis, layout: Layout, plan: Plan) -> int:
    """How many entries the deployment manages; UserError if the state changed since
    ``plan`` was made.  The plan's own read path (``read_state``): its fingerprint
    needs only the raw fields, nothing is decoded unless a stale plan must say what
    changed, and the state read is let go here, before the write."""
    state = reader.read_state(client, layout, beat_timezone=plan.beat_timezone)
    if state.fingerprint != plan.fingerprint:
        raise UserError(_stale_message(plan, dict(state.entries), state.fingerprint))
    return len(state.inventory)


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
    beat_timezone: str = DEFAULT_TIMEZONE,
    max_deletes: int | None = None,
    allow_mass_delete: bool = False,
    lock_timeout: float = 30.0,
    message: str | None = None,
    who: str | None = None,
    git_sha: str | None = None,
    now: datetime | None = None,
    batch_size: int = writer.DEFAULT_BATCH_SIZE,
    allow_evicting_redis: bool = False,
    command: str | None = None,
    target_flags: str | None = None,
    plan_file: str | None = None,
) -> ApplyResult:
    """Make Redis match ``plan``; writes nothing when the plan is stale, unsafe or too big.

    Refuses a Redis whose ``maxmemory-policy`` may evict schedule entries
    (``allkeys-*``) unless ``allow_evicting_redis``, and a plan estimated not to fit
    under ``maxmemory``.  However it ends (applied, refused, failed part-way, stopped
    by SIGINT/SIGTERM) it appends an audit record saying what was written, and the
    error raised says it too.  ``command`` (subcommand and flag names, no values) is
    stored with the sync lock; ``target_flags`` are the flags a printed
    ``force-unlock`` command needs to reach this deployment.
    """
    who = who or default_holder()
    record = audit.make_record(
        who=who,
        plan_digest="",
        counts=audit.change_counts(plan.summary()),
        message=message,
        git_sha=git_sha or os.environ.get("GITHUB_SHA") or None,
        host=socket.gethostname(),
        when=now or datetime.now(timezone.utc),
        prefix=layout.prefix,
        fingerprint_before=plan.fingerprint,
        changes=audit.change_names(change_pairs(plan)),
        **({"plan_file": plan_file} if plan_file else {}),
    )
    lock = SyncLock(client, layout, holder=who, command=command, target_flags=target_flags)
    run = _Run(client, layout, plan, record, lock)
    with stop_between_batches() as stop:
        try:
            return run.apply(
                beat_timezone=beat_timezone,
                max_deletes=max_deletes,
                allow_mass_delete=allow_mass_delete,
                lock_timeout=lock_timeout,
                now=now,
                batch_size=batch_size,
                allow_evicting_redis=allow_evicting_redis,
                stop=stop,
            )
        except KeyboardInterrupt:
            stop.cleaning_up = True  # a further signal must not cut the report short
            raise run.aborted(stop.signal_name or "SIGINT", batch_size) from None
        except writer.PartialApply as exc:
            stop.cleaning_up = True  # the record and the lock release must not be cut short
            raise run.ended("partial", exc, written_counts(exc.report)) from exc
        except (UserError, redis.RedisError) as exc:
            stop.cleaning_up = True
            refused = isinstance(exc, writer.StateChanged) or not (
                run.writing or isinstance(exc, redis.RedisError)
            )
            outcome = "refused" if refused else "failed"
            if isinstance(exc, Interrupted):
                outcome = "interrupted"
            if isinstance(exc, writer.StateChanged):  # its guards held back the whole batch
                run.writing = False
            raise run.ended(outcome, exc, None) from exc
        except Exception as exc:  # a bug: still record and unlock, then let it show
            stop.cleaning_up = True
            run.ended("failed", exc, None)
            raise


class _Run:
    """One apply's state between its steps: what was confirmed written, lock, record."""

    def __init__(
        self,
        client: redis.Redis,
        layout: Layout,
        plan: Plan,
        record: dict[str, object],
        lock: SyncLock,
    ) -> None:
        self.client = client
        self.layout = layout
        self.plan = plan
        self.record = record
        self.lock = lock
        self.writing = False  # the first batch was sent (it may have landed)
        self.batches_started = 0
        self.total_batches = 0
        self.total_ops = 0
        self.landed: writer.WriteReport | None = None  # set once every batch was written
        # Each change encoded once for the memory estimate, the writer and the digest.
        self.encoder = EntryEncoder(beat_timezone=plan.beat_timezone)

    def apply(
        self,
        *,
        beat_timezone: str,
        max_deletes: int | None,
        allow_mass_delete: bool,
        lock_timeout: float,
        now: datetime | None,
        batch_size: int,
        allow_evicting_redis: bool,
        stop: StopRequest,
    ) -> ApplyResult:
        plan, layout, client = self.plan, self.layout, self.client
        counts = plan.summary()
        if plan.prefix != layout.prefix:
            raise UserError(f"the plan was made for prefix {plan.prefix!r}, not {layout.prefix!r}")
        if plan.beat_timezone != beat_timezone:
            raise UserError(
                f"the plan was made for beat timezone {plan.beat_timezone}, not {beat_timezone}; "
                "run plan again"
            )
        refuse_evicting(client, allow=allow_evicting_redis)
        self.lock.acquire(lock_timeout)
        # Under the lock: a stale plan is refused, then a mass delete unless allowed.
        check_prune_guards(
            plan,
            _managed_count_if_unchanged(client, layout, plan),
            max_deletes=max_deletes,
            allow_mass_delete=allow_mass_delete,
        )
        ops = plan_to_ops(plan)
        if not ops:
            self.lock.release()
            return ApplyResult(writer.WriteReport(), None, plan_digest(plan), counts)
        refuse_if_it_cannot_fit(client, plan.changes, layout.prefix, self.encoder, batch_size)
        self.total_ops = len(ops)
        self.total_batches = -(-len(ops) // batch_size)

        def before_batch() -> None:
            stop.check()  # a signal asked to stop: nothing more is sent
            self.lock.refresh()  # long applies keep their lock, and stop if it was lost
            self.batches_started += 1
            self.writing = True

        stop.deferring = True  # from here a first signal waits for the batch in flight
        try:
            report = writer.write(
                client,
                layout,
                ops,
                beat_timezone=beat_timezone,
                now=now,
                batch_size=batch_size,
                before_batch=before_batch,
                encoder=self.encoder,
            )
        finally:
            stop.deferring = False
        # The digest is made after the write: the writer encoded every entry while
        # Redis ran the batches, and the digest reuses those encodings.
        self.landed = report
        digest = plan_digest(plan, self.encoder)
        self.record.update(outcome="applied", written=written_counts(report), plan_digest=digest)
        notes: list[str] = []
        audit_id = None
        try:
            audit_id = audit.append_record(client, layout, self.record)
        except redis.RedisError as exc:
            notes.append(f"No audit record could be written ({_short(exc)}).")
        try:
            self.lock.release()
        except redis.RedisError:
            notes.append(_lock_left(self.lock))
        return ApplyResult(report, audit_id, digest, counts, tuple(notes))

    def ended(
        self, outcome: str, exc: BaseException, written: dict[str, int] | None
    ) -> ApplyFailed:
        """Audit how the apply ended, free the lock; the error to raise, saying both."""
        text = _one_line(exc, self.writing)
        if written is None and not self.writing:
            written = written_counts(writer.WriteReport())
            if "nothing was written" not in text.lower():
                text = f"{text.rstrip('.')}; nothing was written."
        elif written is None:  # the first batch was sent and its outcome is unknown
            written = {"batches": 0, "in_flight_batch": 1}
        return self._finish(outcome, text, written)

    def aborted(self, signal_name: str, batch_size: int) -> ApplyFailed:
        """A second signal cut the apply short: say what is known to have landed."""
        confirmed = max(0, self.batches_started - 1)
        ops = min(confirmed * batch_size, self.total_ops)
        if self.landed is not None:
            text = (
                f"aborted by a second {signal_name} after all {self.landed.batches} batches "
                f"({self.total_ops} operations) were written."
            )
            return self._finish("applied", text, written_counts(self.landed))
        if not self.writing:
            text = f"interrupted by {signal_name} before anything was sent; nothing was written."
        else:
            text = (
                f"aborted by a second {signal_name}: {confirmed} of {self.total_batches} "
                f"batches ({ops} of {self.total_ops} operations) were written; batch "
                f"{confirmed + 1} was being written and may or may not have landed "
                "(whole or not at all). Run plan to see where things stand."
            )
        written = {"batches": confirmed, "operations": ops}
        if self.writing:
            written["in_flight_batch"] = confirmed + 1
        return self._finish("aborted" if self.writing else "interrupted", text, written)

    def _finish(self, outcome: str, text: str, written: dict[str, int] | None) -> ApplyFailed:
        self.record.update(outcome=outcome, error=text)
        if written is not None:
            self.record["written"] = written
        with contextlib.suppress(Exception):  # a digest is nice to have, not worth a 2nd error
            self.record["plan_digest"] = plan_digest(self.plan, self.encoder)
        notes = []
        try:
            audit.append_record(self.client, self.layout, self.record)
        except redis.RedisError as exc:
            notes.append(f"No audit record could be written ({_short(exc)}).")
        try:
            # Also when we don't know we hold it: a SET NX cut short by a signal may
            # have landed. The release script deletes only a lock with our id.
            self.lock.release(even_if_unsure=True)
        except redis.RedisError:
            notes.append(_lock_left(self.lock))
        return ApplyFailed(" ".join([text, *notes]), outcome, written)


def _short(exc: BaseException) -> str:
    return redact(f"{type(exc).__name__}: {exc}".splitlines()[0])


def _one_line(exc: BaseException, writing: bool) -> str:
    if isinstance(exc, UserError):
        return str(exc)
    if not isinstance(exc, redis.RedisError):
        return f"apply failed ({_short(exc)})"
    lost = isinstance(exc, (redis.ConnectionError, redis.TimeoutError))
    what = "lost the connection to Redis" if lost else "Redis refused a command"
    if writing:
        return f"{what} during apply ({_short(exc)}); run plan again to see what was written."
    return f"{what} before apply wrote anything ({_short(exc)})"


def _lock_left(lock: SyncLock) -> str:
    return (
        f"The sync lock (id {lock.lock_id}) could not be released: it expires by itself "
        f"within {lock.ttl:.0f}s, or free it with: {lock.unlock_command(lock.lock_id)}"
    )


def written_counts(report: writer.WriteReport) -> dict[str, int]:
    """What a write report says landed, as audit records and ``apply --format json`` show it."""
    return {
        "created": report.created,
        "updated": report.updated,
        "deleted": report.deleted,
        "released": report.released,
        "moved": report.moved,
        "batches": report.batches,
    }

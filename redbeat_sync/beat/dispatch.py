"""Find, load, decide and claim due entries in batches: three round trips per batch.

1. ``ZRANGEBYSCORE schedule 0 now LIMIT 0 batch``: the due keys (scores < 0 are
   parked entries and are never read here);
2. one load script call for the whole batch (``claim.LOAD_SCRIPT``): meta, and the
   definition only where it changed since this beat decoded it;
3. one claim script call claiming every run decided on, fenced by the lock.

RedBeat needs about two sequential round trips per due entry; thousands of due
entries took it seconds, and far longer when Redis is across a network.

Decoded entries are cached by the digest of their stored fields (computed in
Redis), so a running beat decodes an entry again only after it changed.
"""

from __future__ import annotations

import dataclasses
import logging
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, cast

import redis

from ..schedule import timing
from ..schedule.entry import Entry, RunState
from ..schedule.vocabulary import DEFAULT_TIMEZONE
from ..state import codec
from ..state.layout import DEFINITION_FIELD, EXTRA_FIELD, Layout
from ..state.pause import PauseState
from ..state.pause import parse as parse_pause
from ..state.runnow import RunRequest, encode_request, parse_request
from ..state.stored import field_digest
from .claim import Claim, Claimer
from .decide import DEFAULT_SKIP_GRACE, Decision, decide
from .metacache import MetaCodec

logger = logging.getLogger("celery.beat")
UTC = timezone.utc

DEFAULT_BATCH_SIZE = 1000
#: Decoded entries kept (about 1-2 KB each): the ones that fire are the ones re-read.
_CACHE_SIZE = 50_000


# Plain slotted dataclasses, not frozen: built once per due entry, and frozen ones
# cost several times more to construct.
@dataclass(slots=True)
class Loaded:
    name: str
    key: str
    entry: Entry | None
    run: RunState
    digest: str
    meta_raw: str
    error: str | None = None
    share: int | None = None  # Dispatcher._share_id of the entry
    pause_raw: str = ""  # the entry's pause overlay value ("" when none)
    request_raw: str = ""  # its pending run-now request ("" when none)


@dataclass(slots=True)
class Due:
    """A claimed run, ready to send."""

    entry: Entry
    # Shared by the entries decided alike (its ``run`` is not this entry's): only
    # ``run`` below is per entry.  Sharing saves building one Decision per entry.
    decision: Decision
    run: RunState | None  # this entry's new run history (None: not run or skipped)
    # What the claim replaced, so an unsent run can be handed back (``Dispatcher.hand_back``).
    claim: Claim | None = None
    score_before: float = 0.0
    # set: this is the run-now run that request asked for (as taken by this claim)
    request: RunRequest | None = None


@dataclass
class BatchResult:
    runs: list[Due]
    read: int  # keys read from the schedule
    full: bool  # the batch was full of real work: more may be due right now
    # earliest next fire time (sub-second) among the entries decided: waiting ones and
    # the next slot of those just run
    next_fire: datetime | None
    lost: int = 0  # claims that lost a compare-and-set: re-read them soon
    # lowest score among the entries decided due (run or skip): the most overdue one.
    # An early score (celery-redbeat's save() writes one) whose entry waits is no delay.
    earliest_due: float | None = None
    decided: set[str] = field(default_factory=set)  # keys read and decided
    skipped: list[Due] = field(default_factory=list)  # late runs the misfire policy dropped


class Dispatcher:
    def __init__(
        self,
        client: redis.Redis,
        layout: Layout,
        claimer: Claimer,
        *,
        beat_timezone: str = DEFAULT_TIMEZONE,
        batch_size: int = DEFAULT_BATCH_SIZE,
        grace: float = DEFAULT_SKIP_GRACE,
        retry_broken: float = 300.0,
    ) -> None:
        self.client = client
        self.layout = layout
        self.claimer = claimer
        self.beat_timezone = beat_timezone
        self.batch_size = batch_size
        self.grace = grace
        self.retry_broken = retry_broken  # seconds before an undecodable entry is re-read
        # name -> (digest, entry, share id): see _share_id
        self._decoded: OrderedDict[str, tuple[str, Entry, int | None]] = OrderedDict()
        self._shares: dict[tuple[Any, ...], int] = {}
        self._next_share = 0
        # name -> (digest, meta, run, pause overlay) as this beat's last winning claim
        # wrote/saw them
        self._written: dict[str, tuple[str, str, RunState, str]] = {}
        self._reported: dict[str, str] = {}  # name -> digest we already logged as broken
        self._meta = MetaCodec()  # meta text per slot: one json call per slot, not per entry

    # --- reading ------------------------------------------------------------------
    def due_keys(self, now: datetime) -> list[str]:
        return [key for key, _score in self.due_scores(now)]

    def due_scores(self, now: datetime, offset: int = 0) -> list[tuple[str, float]]:
        """The due keys with their scores, most overdue first (at most a batch)."""
        found = self.client.zrangebyscore(
            self.layout.schedule_key, 0, now.timestamp(), start=offset, num=self.batch_size,
            withscores=True,
        )  # fmt: skip
        return cast("list[tuple[str, float]]", found)  # the client decodes responses

    def earliest(self) -> tuple[str, float] | None:
        """The key and score of the entry due first (parked ones, < 0, never run)."""
        found = self.client.zrangebyscore(
            self.layout.schedule_key, 0, "+inf", start=0, num=1, withscores=True
        )
        return (str(found[0][0]), float(found[0][1])) if found else None

    def load_due(self, keys: Sequence[str]) -> list[Loaded]:
        """The due entries: from what this beat wrote at its last claim of each, when it
        has that, else from Redis.

        Skipping the read is safe because the claim compares digest and meta with what
        Redis holds: if anyone changed the entry since (an apply, a reschedule(),
        another beat), the claim is refused, the memory dropped, and the entry read
        again at once.  A running beat then reads only keys and writes claims.
        """
        loaded: list[Loaded] = []
        misses: list[str] = []
        for key in keys:
            name = self.layout.name_of(key)
            mine = self._written.get(name)
            cached = self._decoded.get(name)
            if mine is not None and cached is not None and cached[0] == mine[0]:
                loaded.append(
                    Loaded(
                        name, key, cached[1], mine[2], mine[0], mine[1], None, cached[2],
                        pause_raw=mine[3],
                    )
                )  # fmt: skip
            else:
                misses.append(key)
        if misses:
            loaded.extend(self.load(misses))
        return loaded

    def _remember(
        self, claims: Sequence[Claim], pending: Sequence[Due | None], ok: list[bool]
    ) -> None:
        for claim, due, won in zip(claims, pending, ok, strict=True):
            if due is None:
                continue
            name = due.entry.name
            if won and due.run is not None and claim.new_meta:
                pause = "" if claim.drop_pause else claim.pause_seen
                self._written[name] = (claim.digest, claim.new_meta, due.run, pause)
                if len(self._written) > _CACHE_SIZE:
                    self._written.pop(next(iter(self._written)))
            elif not won:
                self._written.pop(name, None)

    def load(self, keys: Sequence[str]) -> list[Loaded]:
        """The entries as Redis holds them now (one script call)."""
        names = [self.layout.name_of(key) for key in keys]
        known = [self._decoded[n][0] if n in self._decoded else "" for n in names]
        rows = self.claimer.load(keys, known)
        loaded: list[Loaded] = []
        gone: list[str] = []
        for key, name, row in zip(keys, names, rows, strict=True):
            digest, meta, definition, extra, pause, request = row
            if not digest:
                gone.append(key)
                continue
            item = self._decode(name, key, digest, meta, definition, extra)
            item.pause_raw, item.request_raw = pause, request
            loaded.append(item)
        if gone:
            self._drop_orphans(gone)
        return loaded

    def _drop_orphans(self, gone: Sequence[str]) -> None:
        """Remove schedule members whose hash is gone.

        An apply deletes the hash and the member together, so a key named by its
        change notification (or read just before the delete) is usually already out
        of the sorted set: that is expected and only worth a debug line.  A member
        still there without its hash is a real inconsistency (a hash deleted by hand,
        evicted, or written by a tool that forgot the member): warn.
        """
        removed = self.client.zrem(self.layout.schedule_key, *gone)
        if removed:
            logger.warning(
                "beat: Removing %d schedule member(s) without an entry hash: %s",
                removed,
                ", ".join(sorted(self.layout.name_of(k) for k in gone)[:5]),
            )
        else:
            logger.debug("beat: %d entry(ies) deleted meanwhile: nothing to remove", len(gone))

    def _decode(
        self,
        name: str,
        key: str,
        digest: str,
        meta: str | None,
        definition: str | None,
        extra: str | None,
    ) -> Loaded:
        meta_raw = meta or ""
        try:
            run = self._meta.decode(meta)
            cached = self._decoded.get(name)
            if definition is None and cached is not None and cached[0] == digest:
                entry, share = cached[1], cached[2]
                self._decoded.move_to_end(name)
            else:
                if definition is None:  # evicted between the call and now: read it
                    definition, extra = cast(
                        "list[str | None]", self.client.hmget(key, DEFINITION_FIELD, EXTRA_FIELD)
                    )
                    if definition is None:
                        raise codec.DecodeError("deleted while being read")
                    digest = field_digest(definition, extra)
                entry, _marked = codec.decode_entry(
                    name, definition, extra, beat_timezone=self.beat_timezone
                )
                share = self._share_id(entry)
                self._decoded[name] = (digest, entry, share)
                if len(self._decoded) > _CACHE_SIZE:
                    self._decoded.popitem(last=False)
        except codec.DecodeError as exc:
            return Loaded(name, key, None, RunState(), digest, meta_raw, error=str(exc))
        return Loaded(name, key, entry, run, digest, meta_raw, None, share)

    def _share_id(self, entry: Entry) -> int | None:
        """A number naming everything but ``last_run_at`` that ``decide`` depends on:
        entries with the same one (and the same ``last_run_at``) get the same answer.

        Computed once per decoded entry, so a burst hashes (number, slot) per entry
        instead of the whole schedule.  Numbers are never reused, so forgetting the
        table only stops sharing with entries decoded before.  None: decide alone
        (jitter depends on the name; unhashable schedule values).
        """
        if entry.jitter:
            return None
        base = (
            entry.schedule, entry.timezone, entry.start_at, entry.end_at, entry.enabled,
            entry.misfire, entry.deadline,
        )  # fmt: skip
        try:
            found = self._shares.get(base)
        except TypeError:
            return None
        if found is None:
            if len(self._shares) >= _CACHE_SIZE:
                self._shares.clear()
            found = self._shares[base] = self._next_share
            self._next_share += 1
        return found

    # --- one batch ------------------------------------------------------------------
    def run_batch(self, now: datetime, token: str | None) -> BatchResult:
        """Claim every run due at ``now`` in one batch; raises claim.LockLost.

        A full page of entries that only wait for a fire time later in this very
        second (scores are floored) is no reason to loop, but the entries after it
        may fire earlier in that second: the next page is read in the same pass,
        until a page has real work or is not full.
        """
        result = BatchResult([], 0, False, None)
        offset = 0
        while True:
            found = self.due_scores(now, offset)
            if not found:
                return result
            page = self._claim_page(found, now, token)
            if result.earliest_due is None:
                result.earliest_due = page.earliest_due
            result.runs.extend(page.runs)
            result.skipped.extend(page.skipped)
            result.decided.update(page.decided)
            result.read += page.read
            result.lost += page.lost
            result.full = page.full
            if page.next_fire is not None:
                fire = result.next_fire
                result.next_fire = page.next_fire if fire is None else min(fire, page.next_fire)
            if page.full or page.read < self.batch_size:
                return result
            offset += page.read

    def _claim_page(
        self, found: Sequence[tuple[str, float]], now: datetime, token: str | None
    ) -> BatchResult:
        scores = dict(found)
        keys = list(scores)
        loaded = self.load_due(keys)
        claims, pending = self.decide_all(loaded, now, token=token)
        claimed = self.claimer.claim(claims, token)
        self._remember(claims, pending, claimed)
        runs: list[Due] = []
        for claim, due, ok in zip(claims, pending, claimed, strict=True):
            if ok and due is not None:
                due.claim, due.score_before = claim, scores.get(claim.key, 0.0)
                runs.append(due)
        # Every entry decided has its next fire time here, the ones just run included:
        # when that time falls in the second already under way, the new score is not
        # in the future, and only this tells beat how long to wait for it.
        fires = [d.decision.fire_at for d in pending if d is not None and d.decision.fire_at]
        busy = any(d is None or d.decision.kind != "wait" for d in pending)
        overdue = [
            scores.get(claim.key, 0.0)
            for claim, due in zip(claims, pending, strict=True)
            if due is not None and due.decision.kind in ("run", "skip")
        ]
        return BatchResult(
            [r for r in runs if r.decision.kind == "run"],
            len(keys),
            len(keys) >= self.batch_size and busy,
            min(fires) if fires else None,
            lost=claimed.count(False),
            earliest_due=min(overdue) if overdue else None,
            decided=set(keys),
            skipped=[r for r in runs if r.decision.kind == "skip"],
        )

    def hand_back(self, unsent: Sequence[Due]) -> int:
        """Undo the claims of runs that were claimed but will not be sent (the lease
        expired first); returns how many were handed back.

        Each entry gets back the ``meta`` and score it had before the claim, so the
        leader that sends next decides that run again under the entry's misfire policy.
        Fenced per entry by the claim itself: only where Redis still holds exactly the
        meta and definition our claim left.  Where another beat has run the entry
        since, the handed-back run is not restored (restoring it would undo that
        beat's run): it is lost, and the caller says so.
        """
        records = [d for d in unsent if d.claim is not None and d.claim.new_meta]
        if not records:
            return 0
        restored = self.claimer.hand_back(
            [(d.claim, d.score_before) for d in records if d.claim is not None]
        )
        for due in records:
            self._written.pop(due.entry.name, None)  # Redis holds something else now
        return sum(restored)

    def decide_all(
        self,
        loaded: Iterable[Loaded],
        now: datetime,
        *,
        only_rescore: bool = False,
        token: str | None = None,
    ) -> tuple[list[Claim], list[Due | None]]:
        """The claims to make and, in the same order, what each one is for.

        ``only_rescore``: never run or skip anything, only correct scores (used for
        entries re-checked after a change notification).  ``token``: the lock token
        the claims will be made under (run-now requests are taken under it).
        """
        claims: list[Claim] = []
        pending: list[Due | None] = []
        memo: dict[tuple[Any, ...], Decision] = {}
        for item in loaded:
            if item.entry is None:
                self._report_broken(item)
                retry_at = int(now.timestamp() + self.retry_broken)
                claims.append(self._claim(item, "", retry_at))
                pending.append(None)
                continue
            pause = parse_pause(item.pause_raw) if item.pause_raw else None
            if pause is not None and pause.active(now):
                # Paused: parked (or woken at ``until`` to resume); meta untouched.
                score = timing.score(pause.until) if pause.until is not None else -1
                claims.append(self._claim(item, "", score))
                pending.append(Due(item.entry, Decision("park", score), None))
                continue
            if item.request_raw:
                claims.append(self._requested(item, now, only_rescore, pending, token))
                continue
            try:
                if pause is not None and pause.skip_before(now) is not None:
                    decision, new_run = self._decide_resumed(item.entry, item.run, now, pause)
                else:
                    decision, new_run = self._decide(item.entry, item.run, now, memo, item.share)
            except Exception:  # one bad schedule must not stop every other entry
                logger.exception("beat: Cannot compute the next run of %r", item.name)
                retry_at = int(now.timestamp() + self.retry_broken)
                claims.append(self._claim(item, "", retry_at))
                pending.append(None)
                continue
            if only_rescore and decision.kind in ("run", "skip"):
                decision, new_run = Decision("wait", int(now.timestamp()), fire_at=now), None
            new_meta = self._meta.encode(new_run) if new_run is not None else ""
            claim = self._claim(item, new_meta, decision.score)
            # A resume marker (or an expired pause) is spent once the missed slots
            # have been decided: the claim deletes it with the same atomic write.
            claim.drop_pause = pause is not None and decision.kind in ("run", "skip")
            claims.append(claim)
            pending.append(Due(item.entry, decision, new_run))
        return claims, pending

    @staticmethod
    def _claim(item: Loaded, new_meta: str, score: int) -> Claim:
        """A claim compared with everything ``item`` was read with (overlays included)."""
        return Claim(
            item.key, item.digest, item.meta_raw, new_meta, score,
            pause_seen=item.pause_raw, request_seen=item.request_raw,
        )  # fmt: skip

    def _requested(
        self,
        item: Loaded,
        now: datetime,
        only_rescore: bool,
        pending: list[Due | None],
        token: str | None,
    ) -> Claim:
        """The claim for an entry with a run-now request: the claim takes the request
        under our lock token and the extra run is sent (``record_sent`` deletes it
        then); meta is left alone, and the score is "now" so the very next pass
        decides the entry's own schedule as usual.

        A request taken under another token was claimed by a leader that no longer
        holds the lock (the claim is fenced: it wins only while ``token`` does) and
        died or stalled before ``record_sent``: it is taken again and sent.  One taken
        under our own token was taken in an earlier pass of this beat, which sends
        what it claims in the same pass, so it went through our send and only its
        settling failed (Redis error): dropped, never sent twice by one leader.
        """
        assert item.entry is not None
        score = int(now.timestamp())
        request = parse_request(item.request_raw)
        claim = self._claim(item, "", score)
        if only_rescore:
            pending.append(None)
            return claim
        why = None
        if request is None:
            why = "unreadable"
        elif token is not None and request.taken_by == token:
            why = "already sent by this beat (recording it failed)"
        elif request.expired(now):
            why = "expired"
        if request is None or why is not None:
            logger.warning("beat: Run-now request for %r %s: dropped", item.name, why)
            claim.consume_request = True
            pending.append(None)
            return claim
        if request.taken_by is not None:
            logger.warning(
                "beat: Run-now request %s for %r was taken at %s by a leader that is gone "
                "before it was recorded as sent: sending it",
                request.id, item.name, request.taken_at,
            )  # fmt: skip
        if token is None:  # no lock, no successor: the claim deletes it (at most once)
            claim.consume_request = True
            request = request.pending()
        else:
            request = request.taken(token, now)
            claim.take_request = encode_request(request)
        pending.append(Due(item.entry, Decision("run", score), None, request=request))
        return claim

    def _decide_resumed(
        self, entry: Entry, run: RunState, now: datetime, pause: PauseState
    ) -> tuple[Decision, RunState | None]:
        """Decide an entry just resumed: slots that fell due while it was paused are
        skipped (they count as late as they are), not caught up in a burst."""
        skip_before = pause.skip_before(now)
        due = timing.next_due(entry, run.last_run_at, now)
        if skip_before is not None and due is not None and due < skip_before:
            # Send only a slot that falls at or after the resume (and on time): one
            # from inside the paused window is skipped, however recent.
            since_resume = max(0.0, (now - skip_before).total_seconds())
            entry = dataclasses.replace(
                entry, misfire="deadline", deadline=min(self.grace, since_resume)
            )
        alone = decide(entry, run, now, grace=self.grace)
        covers = alone.covers_from
        if alone.kind == "run" and skip_before is not None and covers and covers < skip_before:
            # The slot sent is on time; the ones before it were missed while paused
            # and are skipped, so the run stands for itself only.
            alone = dataclasses.replace(alone, covers_from=alone.slot)
        return alone, alone.run

    def _decide(
        self,
        entry: Entry,
        run: RunState,
        now: datetime,
        memo: dict[tuple[Any, ...], Decision],
        share: int | None = None,
    ) -> tuple[Decision, RunState | None]:
        """``decide`` and the entry's new run history; the Decision is shared by
        entries that must get the same answer (its ``run`` is not this entry's).

        ``last_run_at`` is a slot, so entries on one schedule that fired together
        have the same one: thousands due at midnight cost one computation.  Jitter
        depends on the name, so jittered entries are decided one by one.
        """
        if entry.jitter:
            alone = decide(entry, run, now, grace=self.grace)
            return alone, alone.run
        key: tuple[Any, ...]
        if share is not None:
            key = (share, run.last_run_at)
        else:
            key = (
                entry.schedule, entry.timezone, entry.start_at, entry.end_at, entry.enabled,
                entry.misfire, entry.deadline, run.last_run_at,
            )  # fmt: skip
        try:
            shared = memo[key]
        except KeyError:
            shared = memo[key] = decide(entry, RunState(run.last_run_at), now, grace=self.grace)
        except TypeError:  # unhashable schedule value: no sharing
            alone = decide(entry, run, now, grace=self.grace)
            return alone, alone.run
        if shared.run is None:
            return shared, None
        count = run.total_run_count + (1 if shared.kind == "run" else 0)
        return shared, RunState(shared.run.last_run_at, count)

    def _report_broken(self, item: Loaded) -> None:
        if self._reported.get(item.name) != item.digest:
            self._reported[item.name] = item.digest
            logger.error(
                "beat: Entry %r cannot be loaded (%s); looking again in %ds",
                item.name,
                item.error,
                self.retry_broken,
            )

    # --- re-checks after a change -------------------------------------------------------
    def recheck(self, names: Iterable[str], now: datetime, token: str | None) -> int:
        """Correct the scores of changed entries (e.g. a parked entry re-enabled).

        Only entries whose score differs from what it should be are written.
        """
        keys = [self.layout.entry_key(n) for n in names]
        return self._recheck_keys(keys, now, token)

    def recheck_parked(self, now: datetime, token: str | None, limit: int = 10_000) -> int:
        """Re-check parked entries (score < 0): after an unnamed bulk change."""
        keys = self.client.zrangebyscore(self.layout.schedule_key, "-inf", "(0", start=0, num=limit)
        return self._recheck_keys(cast("list[str]", keys), now, token)

    def _recheck_keys(self, keys: Sequence[str], now: datetime, token: str | None) -> int:
        fixed = 0
        for start in range(0, len(keys), self.batch_size):
            chunk = list(keys[start : start + self.batch_size])
            with self.client.pipeline(transaction=False) as pipe:
                for key in chunk:
                    pipe.zscore(self.layout.schedule_key, key)
                scores = pipe.execute()
            loaded = self.load(chunk)
            current = {k: s for k, s in zip(chunk, scores, strict=True)}
            claims, _pending = self.decide_all(loaded, now, only_rescore=True)
            # Only move scores; run history is the due path's business.
            wanted = [
                dataclasses.replace(
                    c, new_meta="", take_request="", consume_request=False, drop_pause=False
                )
                for c in claims
                if current.get(c.key) is None or int(current[c.key]) != c.score
            ]
            fixed += sum(self.claimer.claim(wanted, token))
        return fixed


__all__ = ["DEFAULT_BATCH_SIZE", "BatchResult", "Dispatcher", "Due", "Loaded"]

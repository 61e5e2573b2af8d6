"""Use cases: what plan, apply, drift and abandon do, as plain functions.

The CLI (``cli/``) and the GitHub Action (through the CLI) are faces over these: they
parse flags, print and choose exit codes; the work is here, once (alembic's
``command.py`` is the model).  A deployment is anything with the ``Deployment`` shape;
the CLI's ``Target`` is one.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from typing import Protocol

import redis

from .beat.runlog import worker_seen
from .drift import Drift, drift_from_plan
from .errors import UserError
from .fileformat.loader import Spec, load_paths_checked
from .plan.actions import Action, Plan, RedisTarget
from .plan.compare import compute_plan
from .plan.planfile import load_plan
from .state.layout import Layout
from .state.pause import read_pauses
from .state.reader import read_state
from .state.stored import State


class Deployment(Protocol):
    """Where schedules live: a Redis, a key prefix, the zone beat runs in."""

    @property
    def prefix(self) -> str: ...

    @property
    def beat_timezone(self) -> str: ...

    @property
    def beat_timezone_source(self) -> str | None: ...

    @property
    def beat_timezone_assumed(self) -> bool: ...

    @property
    def layout(self) -> Layout: ...

    def connect(self) -> redis.Redis: ...

    def redis_target(self, client: redis.Redis) -> RedisTarget: ...


#: Extra checks on the loaded files before Redis is touched (the CLI's --app task check).
SpecCheck = Callable[[Spec], None]


def _no_check(_spec: Spec) -> None:
    return None


def read_deployment(where: Deployment) -> tuple[redis.Redis, State]:
    client = where.connect()
    return client, read_state(client, where.layout, beat_timezone=where.beat_timezone)


def plan_from_files(
    paths: Sequence[str], where: Deployment, check: SpecCheck = _no_check
) -> tuple[Plan, State]:
    """Files → spec → (Redis) state → plan: the one path plan, apply and drift share.

    Bad files fail before Redis is touched, and so does ``check``: the problems of
    both at once.
    """
    spec = load_paths_checked(list(paths), check)
    client, state = read_deployment(where)
    plan = compute_plan(
        spec,
        state,
        beat_timezone=where.beat_timezone,
        prefix=where.prefix,
        beat_timezone_assumed=where.beat_timezone_assumed,
    )
    plan.target = where.redis_target(client)  # a saved plan applies only there
    add_operational_notes(client, where.layout, plan)
    return plan, state


def add_operational_notes(client: redis.Redis, layout: Layout, plan: Plan) -> None:
    """Pauses of the planned entries (shown, never undone), and whether anyone
    reports the run ends ``overlap: skip`` relies on."""
    names = [a.name for a in plan.actions if a.kind != "delete"]
    paused = read_pauses(client, layout, names)
    now = datetime.now(timezone.utc)
    plan.paused = {n: p.describe() for n, p in paused.items() if p.active(now)}
    skip = sorted(
        a.name for a in plan.actions
        if a.desired is not None and a.desired.overlap == "skip"
    )  # fmt: skip
    if skip and not worker_seen(client, layout):
        plan.warnings.append(
            f"overlap: skip ({', '.join(skip[:5])}{', ...' if len(skip) > 5 else ''}) needs "
            "redbeat_sync.worker in the workers (Celery `imports`), and no worker has "
            "reported in: until one does, beat does not hold runs back"
        )


def saved_plan(path: str, where: Deployment) -> tuple[redis.Redis, Plan]:
    """A plan file and a client of its deployment; refused when it was made for another
    Redis, database, prefix or beat timezone."""
    plan = load_plan(path)
    if plan.prefix != where.prefix:
        raise UserError(f"the plan was made for prefix {plan.prefix!r}, not {where.prefix!r}")
    if where.beat_timezone_source and plan.beat_timezone != where.beat_timezone:
        # The plan's entries were encoded for its zone: applying it "for" another one
        # would silently use the plan's.  Say so instead.
        raise UserError(
            f"the plan was made for beat timezone {plan.beat_timezone!r}, but "
            f"{where.beat_timezone_source} says {where.beat_timezone!r}; make a new plan "
            "with that timezone, or apply this one without it"
        )
    client = where.connect()
    _check_same_redis(plan, where.redis_target(client))
    return client, plan


def _check_same_redis(plan: Plan, here: RedisTarget) -> None:
    """Two empty databases have the same fingerprint: the fingerprint check cannot tell
    them apart, the recorded target can."""
    if plan.target is None:
        raise UserError(
            "the plan file does not say which Redis it was made against; "
            "make it with `redbeat-sync plan --out` and apply that"
        )
    if not plan.target.same_server(here):
        raise UserError(
            f"the plan was made against {plan.target.describe()}, not {here.describe()}; "
            "nothing was written: give the same --redis-url/--app, or plan again here"
        )


def drift(paths: Sequence[str], where: Deployment, check: SpecCheck = _no_check) -> Drift:
    """What differs between Redis and the files, worded as drift (writes nothing)."""
    plan, state = plan_from_files(paths, where, check)
    return drift_from_plan(plan, state)


def release_plan(state: State, names: Sequence[str], *, prefix: str, beat_timezone: str) -> Plan:
    """A plan releasing ``names`` (UserError naming every name that is not managed)."""
    unknown = [name for name in names if name not in state.inventory]
    if unknown:
        raise UserError(
            f"not managed by redbeat-sync ({prefix}): {', '.join(sorted(unknown))}; "
            "nothing was changed"
        )
    actions = []
    for name in sorted(set(names)):
        stored = state.entries.get(name)
        note = "no longer managed; left in Redis as it is"
        if stored is None:
            note = "already gone from Redis: only forgets it"
        actions.append(Action("release", name, None, stored, warnings=[note]))
    return Plan(
        actions=actions,
        fingerprint=state.fingerprint,
        unmanaged=[],
        prefix=prefix,
        created_at=datetime.now(timezone.utc),
        beat_timezone=beat_timezone,
    )


def abandon_plan(names: Sequence[str], where: Deployment) -> tuple[redis.Redis, Plan]:
    """The client and the plan that releases ``names`` (apply it with apply.apply_plan)."""
    client, state = read_deployment(where)
    plan = release_plan(state, names, prefix=where.prefix, beat_timezone=where.beat_timezone)
    return client, plan

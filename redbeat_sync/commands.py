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

from .drift import Drift, drift_from_plan
from .errors import UserError
from .fileformat.loader import Spec, load_paths
from .plan.actions import Action, Plan
from .plan.compare import compute_plan
from .plan.planfile import load_plan
from .state.layout import Layout
from .state.model import State
from .state.reader import read_state


class Deployment(Protocol):
    """Where schedules live: a Redis, a key prefix, the zone beat runs in."""

    @property
    def prefix(self) -> str: ...

    @property
    def beat_timezone(self) -> str: ...

    @property
    def beat_timezone_source(self) -> str | None: ...

    @property
    def layout(self) -> Layout: ...

    def connect(self) -> redis.Redis: ...


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

    Bad files fail before Redis is touched, and so does ``check``.
    """
    spec = load_paths(list(paths))
    check(spec)
    _client, state = read_deployment(where)
    plan = compute_plan(spec, state, beat_timezone=where.beat_timezone, prefix=where.prefix)
    return plan, state


def saved_plan(path: str, where: Deployment) -> Plan:
    """A plan file, refused when it was made for another prefix or beat timezone."""
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
    return plan


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

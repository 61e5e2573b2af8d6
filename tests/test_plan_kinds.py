"""The action-kind table (plan/kinds.py) is the one place kinds differ."""

from __future__ import annotations

from typing import get_args

from redbeat_sync.plan.kinds import ACTION_ORDER, CHANGING, KINDS, ActionKind
from redbeat_sync.state.audit import CHANGE_KINDS


def test_every_kind_has_one_row_in_plan_order() -> None:
    assert set(KINDS) == set(get_args(ActionKind))
    assert ACTION_ORDER[0] == "create" and ACTION_ORDER[-1] == "noop"
    assert all(name == kind.name for name, kind in KINDS.items())


def test_the_audit_trail_names_exactly_the_changing_labels() -> None:
    # audit.py sits below the plan layer, so it keeps its own tuple: they must agree.
    assert {KINDS[k].label for k in CHANGING} == set(CHANGE_KINDS)


def test_only_noop_writes_nothing_and_has_no_sign() -> None:
    silent = {k for k, v in KINDS.items() if v.writes == "nothing" or not v.symbol}
    assert silent == {"noop"}

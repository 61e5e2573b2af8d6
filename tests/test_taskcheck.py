"""``validate --app``: whether an entry's args and kwargs fit its task's signature.

Every misfit is named at once (Python's own binding stops at the first); and the
list is empty exactly when Python binds the call.
"""

from __future__ import annotations

import inspect
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from redbeat_sync.taskcheck import _misfits, signature_problem


class Task:
    """What the check reads of a Celery task: its name and its ``run``."""

    def __init__(self, name: str, run: Any) -> None:
        self.name, self.run = name, run


def report(day: str, *, color: str = "blue") -> None: ...


def add(x: int, y: int, /, scale: int = 1) -> None: ...


def anything(first: int, *rest: int, **options: Any) -> None: ...


def test_every_misfit_is_named() -> None:
    field, why = signature_problem(Task("proj.report", report), [], {"colour": "red"}) or ("", "")
    assert field == "kwargs"
    assert "unexpected keyword argument 'colour'" in why
    assert "missing required argument 'day'" in why
    assert why.startswith("arguments do not fit proj.report(day: ")


def test_too_many_positionals_and_a_value_given_twice() -> None:
    problem = signature_problem(Task("proj.add", add), [1, 2, 3, 4], {"scale": 2, "x": 1})
    assert problem is not None
    field, why = problem
    assert field == "args"  # the positional arguments alone already do not fit
    assert "too many positional arguments (4 given, 3 taken)" in why
    assert "'scale' is given twice" in why
    assert "unexpected keyword argument 'x'" in why  # x is positional-only


def test_a_call_that_binds_has_no_problem() -> None:
    assert signature_problem(Task("t", report), ["mon"], {"color": "red"}) is None
    assert signature_problem(Task("t", anything), [1, 2, 3], {"any": 1}) is None


VALUES = st.integers(0, 3)
NAMES = st.sampled_from(["day", "color", "x", "y", "scale", "first", "rest", "options", "z"])


@pytest.mark.parametrize("function", [report, add, anything], ids=lambda f: f.__name__)
@settings(max_examples=200, deadline=None)
@given(args=st.lists(VALUES, max_size=5), kwargs=st.dictionaries(NAMES, VALUES, max_size=3))
def test_misfits_are_empty_exactly_when_python_binds(
    function: Any, args: list[Any], kwargs: dict[str, Any]
) -> None:
    signature = inspect.signature(function)
    try:
        signature.bind(*args, **kwargs)
        binds = True
    except TypeError:
        binds = False
    assert (_misfits(signature, args, kwargs) == []) is binds

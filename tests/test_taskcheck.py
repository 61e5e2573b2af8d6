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

from redbeat_sync.taskcheck import _misfits, signature_problems


class Task:
    """What the check reads of a Celery task: its name and its ``run``."""

    def __init__(self, name: str, run: Any) -> None:
        self.name, self.run = name, run


def report(day: str, *, color: str = "blue") -> None: ...


def add(x: int, y: int, /, scale: int = 1) -> None: ...


def anything(first: int, *rest: int, **options: Any) -> None: ...


def posonly(a: int, b: int, /, c: int = 1) -> None: ...


def test_every_misfit_is_named() -> None:
    [(field, why)] = signature_problems(Task("proj.report", report), [], {"colour": "red"})
    assert field == "kwargs"
    assert "unexpected keyword argument 'colour'" in why
    assert "missing required argument 'day'" in why
    assert why.startswith("arguments do not fit proj.report(day: ")


def test_each_misfit_goes_to_the_field_to_fix() -> None:
    found = dict(signature_problems(Task("proj.add", add), [1, 2, 3, 4], {"scale": 2, "x": 1}))
    assert list(found) == ["args", "kwargs"]
    assert "too many positional arguments (4 given, 3 taken)" in found["args"]
    assert "'scale' is given twice" in found["kwargs"]
    assert "'x' is positional-only: give it in args" in found["kwargs"]
    assert "too many" not in found["kwargs"] and "twice" not in found["args"]


def test_positional_only_and_keyword_only_say_where_they_belong() -> None:
    [(field, why)] = signature_problems(Task("t", posonly), [], {"a": 1, "b": 2})
    assert field == "kwargs"
    assert "'a' is positional-only: give it in args" in why
    assert "missing" not in why  # named once, as misplaced
    [(field, why)] = signature_problems(Task("t", report), ["mon", "red"], {})
    assert field == "args"
    assert (
        "too many positional arguments (2 given, 1 taken); 'color' can only be given in kwargs"
        in why
    )


def test_a_call_that_binds_has_no_problem() -> None:
    assert signature_problems(Task("t", report), ["mon"], {"color": "red"}) == []
    assert signature_problems(Task("t", anything), [1, 2, 3], {"any": 1}) == []


VALUES = st.integers(0, 3)
NAMES = st.sampled_from(
    ["day", "color", "x", "y", "scale", "first", "rest", "options", "z", "a", "b", "c"]
)


@pytest.mark.parametrize("function", [report, add, anything, posonly], ids=lambda f: f.__name__)
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

"""Pausing the cyclic garbage collector around bulk work.

Loading, decoding, planning and applying 100k entries build millions of small acyclic
containers; CPython's cyclic GC would re-scan the growing heap again and again (a third
to three quarters of the time at that size).  Nothing built there is cyclic, so
reference counting frees it all anyway; collection resumes when the work is done.
"""

from __future__ import annotations

import contextlib
import functools
import gc
from collections.abc import Callable, Iterator
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
R = TypeVar("R")


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def with_gc_paused(func: Callable[P, R]) -> Callable[P, R]:
    """Decorator form of ``gc_paused``."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        with gc_paused():
            return func(*args, **kwargs)

    return wrapper

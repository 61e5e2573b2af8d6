"""Check the files' task names and arguments against a Celery app's registered tasks.

A typo in a task name is otherwise only found when beat sends the task and a worker
rejects it, maybe at 3 a.m.  The app's tasks are loaded the way a worker loads them:
the ``imports``/``include`` settings and ``autodiscover_tasks`` packages
(``loader.import_default_modules``), then ``app.tasks``.  No task is called and no
broker or Redis is touched.
"""

from __future__ import annotations

import difflib
import inspect
from collections.abc import Iterable, Mapping
from typing import Any

from .errors import Problem, UserError, field_path
from .fileformat.loader import SpecEntry


def registered_tasks(app: Any) -> Mapping[str, Any]:
    """The app's tasks after importing its task modules (like a worker does)."""
    try:
        app.loader.import_default_modules()
        tasks = app.tasks  # finalizes the app: pending @app.task are registered
    except Exception as exc:  # the user's task modules may fail in any way
        raise UserError(f"cannot load the Celery app's tasks: {type(exc).__name__}: {exc}") from exc
    return dict(tasks)


def _user_tasks(tasks: Mapping[str, Any]) -> list[str]:
    """Names to suggest from: Celery's own ``celery.*`` tasks are noise."""
    return sorted(name for name in tasks if not name.startswith("celery."))


def signature_problem(task: Any, args: list[Any], kwargs: dict[str, Any]) -> tuple[str, str] | None:
    """``(field, why)`` when ``task(*args, **kwargs)`` would fail to bind, else None.

    ``field`` is the one to fix: ``args`` when the positional arguments alone do not
    fit, ``kwargs`` when the keyword arguments add the misfit (unknown name, a value
    given twice) or when a required argument is missing and kwargs are in use.  ``why``
    names every misfit, not only the first one Python's binding stops at.
    """
    try:
        # ``run`` is a bound method for bind=True and class-based tasks: self is skipped.
        signature = inspect.signature(task.run)
    except (TypeError, ValueError):  # builtins and C functions: nothing to check
        return None
    try:
        signature.bind(*args, **kwargs)
    except TypeError as exc:
        field = "kwargs" if kwargs else "args"
        try:
            signature.bind_partial(*args)
        except TypeError:
            field = "args"
        why = "; ".join(_misfits(signature, args, kwargs)) or str(exc)
        return field, f"arguments do not fit {task.name}{signature}: {why}"
    return None


def _misfits(signature: inspect.Signature, args: list[Any], kwargs: dict[str, Any]) -> list[str]:
    """Each reason ``signature.bind(*args, **kwargs)`` fails, in the order of a call."""
    kinds = inspect.Parameter
    parameters = signature.parameters
    positional = [
        p
        for p in parameters.values()
        if p.kind in (kinds.POSITIONAL_ONLY, kinds.POSITIONAL_OR_KEYWORD)
    ]
    takes_more_args = any(p.kind == kinds.VAR_POSITIONAL for p in parameters.values())
    takes_more_kwargs = any(p.kind == kinds.VAR_KEYWORD for p in parameters.values())
    found: list[str] = []
    if len(args) > len(positional) and not takes_more_args:
        found.append(f"too many positional arguments ({len(args)} given, {len(positional)} taken)")
    given = {p.name for p in positional[: len(args)]}
    for name in kwargs:
        parameter = parameters.get(name)
        by_keyword = parameter is not None and parameter.kind in (
            kinds.POSITIONAL_OR_KEYWORD,
            kinds.KEYWORD_ONLY,
        )
        if not by_keyword:
            if not takes_more_kwargs:
                found.append(f"unexpected keyword argument {name!r}")
        elif name in given:
            found.append(f"{name!r} is given twice (in args and in kwargs)")
        else:
            given.add(name)
    missing = [
        repr(p.name)
        for p in parameters.values()
        if p.default is p.empty
        and p.kind not in (kinds.VAR_POSITIONAL, kinds.VAR_KEYWORD)
        and p.name not in given
    ]
    if missing:
        found.append(
            f"missing required argument{'s' if len(missing) > 1 else ''} {', '.join(missing)}"
        )
    return found


def check_tasks(entries: Iterable[SpecEntry], tasks: Mapping[str, Any]) -> list[Problem]:
    """One problem per entry whose task is unknown or whose arguments do not bind."""
    problems: list[Problem] = []
    known = _user_tasks(tasks)
    for item in entries:
        entry = item.entry
        task = tasks.get(entry.task)
        if task is None:
            close = difflib.get_close_matches(entry.task, known, n=1, cutoff=0.6)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            message = f"unknown task {entry.task!r}: the Celery app does not register it{hint}"
            where = field_path(("entries", entry.name, "task"))
            problems.append(Problem(item.file, item.line, item.column, where, message))
            continue
        problem = signature_problem(task, list(entry.args), dict(entry.kwargs))
        if problem:
            field, message = problem
            where = field_path(("entries", entry.name, field))
            problems.append(Problem(item.file, item.line, item.column, where, message))
    return problems

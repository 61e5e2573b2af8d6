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
from .fileformat import yamlload
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


def signature_problems(task: Any, args: list[Any], kwargs: dict[str, Any]) -> list[tuple[str, str]]:
    """``(field, why)`` per field to fix when ``task(*args, **kwargs)`` would not bind.

    ``args`` gets what the positional arguments do wrong, ``kwargs`` what the keyword
    arguments do (an unknown name, a value given twice, a positional-only name); a
    missing argument goes to ``kwargs`` when kwargs are in use, else to ``args``.  Each
    names every misfit of its field, not only the first one Python's binding stops at.
    """
    try:
        # ``run`` is a bound method for bind=True and class-based tasks: self is skipped.
        signature = inspect.signature(task.run)
    except (TypeError, ValueError):  # builtins and C functions: nothing to check
        return []
    try:
        signature.bind(*args, **kwargs)
    except TypeError as exc:
        found = _misfits(signature, args, kwargs) or [("kwargs" if kwargs else "args", str(exc))]
        fields = dict.fromkeys(field for field, _ in found)  # in order: args first
        return [
            (
                field,
                f"arguments do not fit {task.name}{signature}: "
                + "; ".join(why for where, why in found if where == field),
            )
            for field in fields
        ]
    return []


def _misfits(
    signature: inspect.Signature, args: list[Any], kwargs: dict[str, Any]
) -> list[tuple[str, str]]:
    """Each reason ``signature.bind(*args, **kwargs)`` fails, with the field to fix."""
    kinds = inspect.Parameter
    parameters = signature.parameters
    positional = [
        p
        for p in parameters.values()
        if p.kind in (kinds.POSITIONAL_ONLY, kinds.POSITIONAL_OR_KEYWORD)
    ]
    keyword_only = [p.name for p in parameters.values() if p.kind == kinds.KEYWORD_ONLY]
    takes_more_args = any(p.kind == kinds.VAR_POSITIONAL for p in parameters.values())
    takes_more_kwargs = any(p.kind == kinds.VAR_KEYWORD for p in parameters.values())
    found: list[tuple[str, str]] = []
    if len(args) > len(positional) and not takes_more_args:
        why = f"too many positional arguments ({len(args)} given, {len(positional)} taken)"
        if keyword_only:
            why += f"; {_names(keyword_only)} can only be given in kwargs"
        found.append(("args", why))
    given = {p.name for p in positional[: len(args)]}
    misplaced: set[str] = set()
    for name in kwargs:
        parameter = parameters.get(name)
        if parameter is not None and parameter.kind == kinds.POSITIONAL_ONLY:
            if not takes_more_kwargs:  # else the name lands in **kwargs
                found.append(("kwargs", f"{name!r} is positional-only: give it in args"))
                misplaced.add(name)
        elif parameter is None or parameter.kind in (kinds.VAR_POSITIONAL, kinds.VAR_KEYWORD):
            if not takes_more_kwargs:
                found.append(("kwargs", f"unexpected keyword argument {name!r}"))
        elif name in given:
            found.append(("kwargs", f"{name!r} is given twice (in args and in kwargs)"))
        else:
            given.add(name)
    missing = [
        p.name
        for p in parameters.values()
        if p.default is p.empty
        and p.kind not in (kinds.VAR_POSITIONAL, kinds.VAR_KEYWORD)
        and p.name not in given
        and p.name not in misplaced
    ]
    if missing:
        plural = "s" if len(missing) > 1 else ""
        found.append(
            ("kwargs" if kwargs else "args", f"missing required argument{plural} {_names(missing)}")
        )
    return found


def _names(names: list[str]) -> str:
    return ", ".join(repr(name) for name in names)


def check_tasks(entries: Iterable[SpecEntry], tasks: Mapping[str, Any]) -> list[Problem]:
    """Problems of entries whose task is unknown or whose arguments do not bind, each
    at the field to fix (its value's line and column)."""
    problems: list[Problem] = []
    known = _user_tasks(tasks)
    where_written = _FieldPositions()
    for item in entries:
        entry = item.entry
        task = tasks.get(entry.task)
        found: list[tuple[str, str]]
        if task is None:
            close = difflib.get_close_matches(entry.task, known, n=1, cutoff=0.6)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            found = [
                ("task", f"unknown task {entry.task!r}: the Celery app does not register it{hint}")
            ]
        else:
            found = signature_problems(task, list(entry.args), dict(entry.kwargs))
        for field, message in found:
            line, column = where_written.of(item, field)
            where = field_path(("entries", entry.name, field))
            problems.append(Problem(item.file, line, column, where, message))
    return problems


class _FieldPositions:
    """Where an entry's field is written.  A clean load keeps only the entries'
    positions (reading every value's costs time on big files); a file is read again,
    with them all, once there is a problem in it to point at."""

    def __init__(self) -> None:
        self._documents: dict[str, yamlload.YamlDocument] = {}

    def of(self, item: SpecEntry, field: str) -> tuple[int, int]:
        if item.file not in self._documents:
            self._documents[item.file] = yamlload.read_file(item.file)
        document = self._documents[item.file]
        if not document.ok:  # changed since it was loaded: the entry's own position
            return item.line, item.column
        return yamlload.locate(document.pos, ("entries", item.entry.name, field))

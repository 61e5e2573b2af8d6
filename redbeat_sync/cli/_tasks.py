"""``--app`` on validate and plan: the files' tasks must exist in the app and bind."""

from __future__ import annotations

from collections.abc import Callable

from ..errors import ProblemsFound
from ..fileformat.loader import Spec
from ..taskcheck import check_tasks, registered_tasks
from ._common import load_celery_app


def task_check(app_spec: str | None) -> Callable[[Spec], None]:
    """With ``--app``: a check that raises ProblemsFound (file:line per entry) when a
    task is unknown or misused; the app is imported on the first check.  Without it, a
    check that passes."""

    def check(spec: Spec) -> None:
        if not app_spec:
            return
        problems = check_tasks(spec.entries, registered_tasks(load_celery_app(app_spec)))
        if problems:
            raise ProblemsFound(problems)

    return check

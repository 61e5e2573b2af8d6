"""``--app`` on validate and plan: the files' tasks must exist in the app and bind."""

from __future__ import annotations

from ..errors import ProblemsFound
from ..fileformat.loader import Spec
from ..taskcheck import check_tasks, registered_tasks
from ._common import load_celery_app


def check_app_tasks(spec: Spec, app_spec: str | None) -> None:
    """Raise ProblemsFound (file:line per entry) when a task is unknown or misused."""
    if not app_spec:
        return
    problems = check_tasks(spec.entries, registered_tasks(load_celery_app(app_spec)))
    if problems:
        raise ProblemsFound(problems)

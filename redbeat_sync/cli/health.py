"""``redbeat-sync health``: exit 0 when beat is working, 1 with the reason when not.

For Kubernetes/Docker exec probes and CI/cron checks (README: Operating beat).
"""

from __future__ import annotations

import json

import click

from ..schedule.durations import DURATION_HELP, parse_duration
from ._common import EXIT_ERROR, EXIT_OK, Target, connection_options, format_option, run_guarded


class _Duration(click.ParamType):  # type: ignore[type-arg]  # generic only in newer click
    name = "DURATION"

    def convert(
        self, value: object, param: click.Parameter | None, ctx: click.Context | None
    ) -> float:
        if isinstance(value, float):
            return value
        try:
            return parse_duration(str(value))
        except ValueError as exc:
            self.fail(str(exc), param, ctx)


def _lock_key(target: Target) -> str | None:
    """The app's ``redbeat_lock_key`` when --app names one (else the prefix's default)."""
    if not target.app:
        return None
    from ..beat.config import RedBeatConfig
    from ._common import load_celery_app

    return RedBeatConfig(load_celery_app(target.app)).lock_key


@click.command("health")
@click.option(
    "--max-lag",
    type=_Duration(),
    default=None,
    help=f"Longest the leader's heartbeat may be old, and an entry overdue: {DURATION_HELP}. "
    "Default: the leader's lock timeout plus 5s.",
)
@format_option("json: the whole report (lock, every beat's heartbeat, the oldest overdue entry).")
@connection_options
@click.pass_context
def command(ctx: click.Context, max_lag: float | None, fmt: str, target: Target) -> None:
    """Exit 0 if a beat leads, its heartbeat is fresh and nothing is overdue; else 1.

    Prints one line: OK and who leads, or which condition failed (no leader, stale
    heartbeat since T, stall watchdog, entry X overdue by N s).
    """

    def body() -> int:
        from ..beat.health import check_health

        client = target.connect()
        report = check_health(client, target.layout, max_lag=max_lag, lock_key=_lock_key(target))
        if fmt == "json":
            click.echo(json.dumps(report.as_json(), indent=2, default=str))
        else:
            click.echo(report.line())
        return EXIT_OK if report.ok else EXIT_ERROR

    ctx.exit(run_guarded(body))

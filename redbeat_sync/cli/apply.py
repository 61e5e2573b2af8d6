"""``redbeat-sync apply PATHS | PLANFILE``: make Redis match the files, safely."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from ..errors import UserError
from ._common import EXIT_OK, Target, echo_err, invocation, run_guarded, target_options
from .plan import app_task_check, echo_plan, output_options
from .validate import problems_as_json

if TYPE_CHECKING:
    import redis

    from ..apply import ApplyResult
    from ..plan.actions import Plan

PLAN_KIND = "redbeat-sync-plan"


def looks_like_plan_file(paths: tuple[str, ...]) -> bool:
    """A single JSON file saved by `plan --out` (schedule files are YAML)."""
    if len(paths) != 1 or not Path(paths[0]).is_file():
        return False
    try:
        with open(paths[0], encoding="utf-8") as handle:
            head = handle.read(4096).lstrip()
    except (OSError, UnicodeDecodeError):
        return False
    return head.startswith("{") and PLAN_KIND in head


def applied_json(plan: Plan, result: ApplyResult) -> dict[str, object]:
    """The ``apply`` field ``apply --format json`` adds to the plan: counts and names."""
    from ..apply import change_pairs, written_counts  # here: loads redis (cli/__init__)
    from ..state.audit import change_counts, change_names

    return {
        "outcome": "applied",
        "counts": change_counts(result.counts),
        "changes": change_names(change_pairs(plan), limit=len(plan.actions)),
        "written": written_counts(result.report),
        "audit_id": result.audit_id,
        "plan_digest": result.plan_digest,
    }


def confirm_or_refuse(auto_approve: bool, *, action: str = "apply") -> None:
    """Ask for 'yes' on a terminal; UserError without one (``action``: apply, abandon)."""
    if auto_approve:
        return
    if not sys.stdin.isatty():
        # Only apply takes a reviewed plan file; abandon has none to offer.
        alternative = " or apply a reviewed plan file" if action == "apply" else ""
        raise UserError(
            f"refusing to {action} without approval: no terminal to ask on; "
            f"pass --auto-approve (e.g. in CI){alternative}"
        )
    answer = click.prompt(
        "Do you want to perform these actions? Only 'yes' will be accepted to approve",
        default="",
        show_default=False,
    )
    if answer.strip() != "yes":
        raise UserError(f"{action} cancelled; nothing was written")


@click.command("apply")
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@output_options
@click.option("--auto-approve", is_flag=True, help="Apply without asking (for CI).")
@click.option(
    "--allow-stopping-redbeat",
    is_flag=True,
    help="Adopt entries even when celery-redbeat's scheduler would stop running them "
    "(stored for redbeat_sync.Scheduler only).",
)
@click.option(
    "--lock-timeout",
    default=30.0,
    show_default=True,
    help="Seconds to wait for another apply to finish.",
)
@click.option(
    "--max-deletes",
    type=click.IntRange(min=0),
    default=None,
    help="Refuse plans deleting more entries (default: max(10, 25% of managed)).",
)
@click.option("--allow-mass-delete", is_flag=True, help="Skip the prune guards.")
@click.option(
    "--allow-evicting-redis",
    is_flag=True,
    help="Apply even if Redis's maxmemory-policy (allkeys-*) may evict schedule entries.",
)
@click.option("-m", "--message", help="Note stored in the audit record.")
@click.option("--git-sha", envvar="GITHUB_SHA", help="Commit stored in the audit record.")
@click.option("--who", help="Who applies (default: user@host).")
@target_options
@click.pass_context
def command(
    ctx: click.Context,
    paths: tuple[str, ...],
    fmt: str,
    color: bool | None,
    auto_approve: bool,
    allow_stopping_redbeat: bool,
    lock_timeout: float,
    max_deletes: int | None,
    allow_mass_delete: bool,
    allow_evicting_redis: bool,
    message: str | None,
    git_sha: str | None,
    who: str | None,
    target: Target,
) -> None:
    """Apply schedule files (after showing the plan), or exactly a saved plan."""
    # Here, not at the top: the use cases load redis and the models (cli/__init__).
    from .. import commands
    from ..apply import ApplyFailed, apply_plan
    from ..plan.compare import adopt_refusal
    from ..plan.render_json import plan_to_json

    def body() -> int:
        saved = looks_like_plan_file(paths)
        client: redis.Redis | None = None
        if saved:
            client, plan = commands.saved_plan(paths[0], target)
        else:
            with problems_as_json(fmt):
                plan, _state = commands.plan_from_files(paths, target, app_task_check(target))
        as_json = fmt == "json"
        if not as_json:
            echo_plan(plan, fmt, color)
        elif not (saved or auto_approve or not plan.has_changes):
            echo_plan(plan, "text", color, err=True)  # for the human asked to approve

        def emit_json(outcome: object) -> None:
            document = plan_to_json(plan)
            document["apply"] = outcome  # one document: the plan and what became of it
            click.echo(json.dumps(document, indent=2, ensure_ascii=False, default=str))

        if not plan.has_changes:
            if as_json:
                emit_json(None)
            return EXIT_OK
        refusal = adopt_refusal(plan, allow_stopping_redbeat=allow_stopping_redbeat)
        if refusal:
            raise UserError(refusal)
        if not saved:  # a saved plan was reviewed when it was made
            confirm_or_refuse(auto_approve)
        try:
            result = apply_plan(
                client if client is not None else target.connect(),
                target.layout,
                plan,
                beat_timezone=plan.beat_timezone,
                max_deletes=max_deletes,
                allow_mass_delete=allow_mass_delete,
                allow_evicting_redis=allow_evicting_redis,
                lock_timeout=lock_timeout,
                message=message,
                who=who,
                git_sha=git_sha,
                command=invocation(ctx),
                target_flags=target.flags(),
                plan_file=paths[0] if saved else None,
            )
        except ApplyFailed as exc:
            if as_json:
                emit_json({"outcome": exc.outcome, "written": exc.written, "error": str(exc)})
            raise
        if as_json:
            emit_json(applied_json(plan, result))
        else:
            click.echo(f"Apply complete! {result.summary()}")
        for note in result.notes:
            echo_err(f"warning: {note}")
        return EXIT_OK

    ctx.exit(run_guarded(body))

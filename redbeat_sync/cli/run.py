"""``redbeat-sync run NAME``: one extra run, sent by the leading beat."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

import click

from ..errors import UserError
from ..redact import redact
from ..schedule.durations import parse_duration
from ._common import EXIT_ERROR, EXIT_OK, Target, echo_err, run_guarded, target_options

UTC = timezone.utc
_POLL = 0.2


def _seconds(text: str, flag: str) -> float:
    try:
        return parse_duration(text, positive=True)
    except ValueError as exc:
        raise UserError(f"{flag} {text!r}: {exc}") from None


@click.command("run")
@click.argument("name")
@click.option("-m", "--reason", help="Why (kept in the audit trail).")
@click.option("--who", help="Who asks (default: user@host).")
@click.option(
    "--wait", "wait_text", is_flag=False, flag_value="60", default=None, metavar="[TIMEOUT]",
    help="Wait until beat has sent it and, when the workers import redbeat_sync.worker, "
    "for its outcome (default timeout 60s); exit 1 if it failed or the time ran out.",
)  # fmt: skip
@click.option(
    "--queue-if-no-leader", "queue_text", metavar="EXPIRY",
    help="With no leading beat, queue the request anyway; dropped unsent after EXPIRY.",
)  # fmt: skip
@click.option("--lock-key", help="The beat lock key (redbeat_lock_key), if not the default.")
@target_options
@click.pass_context
def command(
    ctx: click.Context, name: str, reason: str | None, who: str | None, wait_text: str | None,
    queue_text: str | None, lock_key: str | None, target: Target,
) -> None:  # fmt: skip
    """Run entry NAME once now, with its task, args, kwargs and options.

    The leading redbeat_sync.Scheduler sends it (celery-redbeat's scheduler does not
    read the request); the schedule and last_run_at are unchanged.
    """
    # Here, not at the top: these load redis (cli/__init__).
    from ..beat.lock import read_beat_lock
    from ..state.audit import append_record, make_record
    from ..state.pause import read_pauses
    from ..state.reader import read_entries
    from ..state.runnow import AlreadyRequested, request_run
    from ..state.synclock import default_holder

    def body() -> int:
        now = datetime.now(UTC)
        wait = _seconds(wait_text, "--wait") if wait_text else None
        expiry = _seconds(queue_text, "--queue-if-no-leader") if queue_text else None
        client = target.connect()
        layout = target.layout
        if not read_entries(client, layout, [name], beat_timezone=target.beat_timezone):
            raise UserError(f"no such entry: {name}")
        paused = read_pauses(client, layout, [name]).get(name)
        if paused is not None and paused.active(now):
            raise UserError(f"{name} is {paused.describe()}; resume it first")
        leader = read_beat_lock(client, layout, key=lock_key)
        if leader is not None and leader["holder"] != "redbeat-sync":
            raise UserError(
                "the beat holding the lock is celery-redbeat's scheduler, which does not "
                "send run-now requests; run redbeat_sync.Scheduler"
            )
        if leader is None and expiry is None:
            raise UserError(
                "no beat holds the leader lock: nothing would send the run "
                "(start redbeat_sync.Scheduler, or queue it with --queue-if-no-leader EXPIRY)"
            )
        expires = now + timedelta(seconds=expiry) if expiry is not None else None
        requester = who or default_holder()
        try:
            request_id = request_run(
                client, layout, name, who=requester, reason=reason, expires_at=expires, now=now
            )
        except AlreadyRequested as exc:
            pending = exc.pending
            by = f" by {pending.by} (id {pending.id})" if pending else ""
            raise UserError(f"a run of {name} is already requested{by}; not sent yet") from None
        append_record(client, layout, make_record(
            who=requester, plan_digest="", counts={"run": 1}, action="run",
            message=redact(reason) if reason else None,
            changes={"run": {"count": 1, "names": [name]}}, request_id=request_id,
        ))  # fmt: skip
        where = "queued (no leader yet)" if leader is None else "requested"
        click.echo(f"Run of {name} {where}: id {request_id}")
        if wait is None:
            return EXIT_OK
        return _wait(client, target, name, request_id, wait)

    ctx.exit(run_guarded(body))


def _wait(client: object, target: Target, name: str, request_id: str, timeout: float) -> int:
    from ..beat.runlog import outcome_of, worker_seen
    from ..state.runnow import cancel_request, read_sent

    layout = target.layout
    deadline = time.monotonic() + timeout
    sent = None
    while time.monotonic() < deadline:
        sent = read_sent(client, layout, request_id)  # type: ignore[arg-type]
        if sent is not None:
            break
        time.sleep(_POLL)
    if sent is None:
        withdrawn = cancel_request(client, layout, name, request_id)  # type: ignore[arg-type]
        echo_err(f"Error: beat did not send the run within {timeout:g}s"
                 + ("; request withdrawn" if withdrawn else ""))  # fmt: skip
        return EXIT_ERROR
    if sent.get("skipped"):
        echo_err(f"Error: beat did not send the run: {sent['skipped']}")
        return EXIT_ERROR
    click.echo(f"Sent by {sent.get('host')} at {sent.get('sent_at')} (task id {request_id})")
    if not worker_seen(client, layout):  # type: ignore[arg-type]
        click.echo("No worker imports redbeat_sync.worker: its outcome is not reported.")
        return EXIT_OK
    while time.monotonic() < deadline:
        outcome = outcome_of(client, layout, name, request_id)  # type: ignore[arg-type]
        if outcome is not None and outcome.get("state") in ("succeeded", "failed"):
            detail = outcome.get("error") or ""
            click.echo(f"Outcome: {outcome['state']}" + (f" ({detail})" if detail else ""))
            return EXIT_OK if outcome["state"] == "succeeded" else EXIT_ERROR
        time.sleep(_POLL)
    echo_err(f"Error: no outcome within {timeout:g}s (the run was sent)")
    return EXIT_ERROR

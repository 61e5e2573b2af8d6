"""Entry lifecycle against a real redis-server: moved_from renames, prune: false releases.

Run history is written by celery-redbeat itself (``RedBeatSchedulerEntry.save()`` and
``.next()``, what its beat does after a dispatch), so a move is checked against the
peer's own format.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timezone

import pytest
import redis
from beat_app import make_app
from celery import Celery
from click.testing import CliRunner, Result
from redbeat.schedulers import RedBeatSchedulerEntry

from redbeat_sync.apply import apply_plan
from redbeat_sync.beat.runlog import append_runs, read_runs, sent_record
from redbeat_sync.cli import main
from redbeat_sync.errors import ProblemsFound, UserError
from redbeat_sync.fileformat.loader import load_text
from redbeat_sync.plan.actions import Plan
from redbeat_sync.plan.compare import compute_plan
from redbeat_sync.plan.planfile import load_plan, save_plan
from redbeat_sync.plan.render_json import render_json
from redbeat_sync.plan.render_markdown import render_markdown
from redbeat_sync.plan.render_text import render_text
from redbeat_sync.schedule import timing
from redbeat_sync.state.codec import decode_meta
from redbeat_sync.state.layout import Layout
from redbeat_sync.state.reader import read_state

LAYOUT = Layout("rs-life:")
SCHEDULE_KEY = LAYOUT.schedule_key


@pytest.fixture
def app(redis_url: str) -> Iterator[Celery]:
    """A Celery app on the test's Redis with our prefix, for celery-redbeat's entries."""
    celery_app = make_app(redis_url, redbeat_key_prefix=LAYOUT.prefix)
    yield celery_app
    celery_app.close()


def yaml_file(*entries: str, defaults: str = "") -> str:
    body = "".join(f"  {line}\n" for line in entries)
    head = f"defaults: {defaults}\n" if defaults else ""
    return f"version: 1\n{head}entries:\n{body}"


def plan_of(client: redis.Redis, text: str) -> Plan:
    state = read_state(client, LAYOUT)
    return compute_plan(load_text(text), state, prefix=LAYOUT.prefix)


def apply(client: redis.Redis, plan: Plan):  # type: ignore[no-untyped-def]
    return apply_plan(client, LAYOUT, plan, lock_timeout=2.0, who="tester@ci")


def run_by_redbeat(app: Celery, name: str, times: int) -> None:
    """What RedBeat's beat does after dispatching: ``next()`` bumps and saves meta."""
    stored = RedBeatSchedulerEntry.from_key(LAYOUT.entry_key(name), app=app)
    for _ in range(times):
        stored = stored.next()


OLD = "old-report: {task: app.tasks.report, schedule: {every: 1h}, args: [1]}"
NEW_MOVED = (
    "new-report: {task: app.tasks.report, schedule: {every: 1h}, args: [1], moved_from: old-report}"
)


def test_move_keeps_run_history_written_by_redbeat(app: Celery, redis_client: redis.Redis) -> None:
    apply(redis_client, plan_of(redis_client, yaml_file(OLD)))
    run_by_redbeat(app, "old-report", 3)
    meta_before = redis_client.hget(LAYOUT.entry_key("old-report"), "meta")
    assert decode_meta(meta_before).total_run_count == 3

    plan = plan_of(redis_client, yaml_file(NEW_MOVED))
    assert [(a.kind, a.name, a.moved_from) for a in plan.changes] == [
        ("move", "new-report", "old-report")
    ]
    assert plan.counts["delete"] == 0 and plan.counts["create"] == 0
    text = render_text(plan)
    assert "-> old-report → new-report (move)" in text
    assert "old-report moves to new-report (run history kept)" in text
    assert "has moved" not in text  # nothing has moved before apply
    assert "1 to move" in text
    result = apply(redis_client, plan)
    assert result.report.moved == 1

    assert not redis_client.exists(LAYOUT.entry_key("old-report"))
    assert redis_client.zscore(SCHEDULE_KEY, LAYOUT.entry_key("old-report")) is None
    assert redis_client.smembers(LAYOUT.inventory_key) == {"new-report"}
    assert redis_client.hget(LAYOUT.entry_key("new-report"), "meta") == meta_before
    # The score is the next due time from the kept last_run_at.
    run = decode_meta(meta_before)
    entry = load_text(yaml_file(NEW_MOVED)).entries[0].entry
    expected = timing.score(timing.next_due(entry, run.last_run_at, datetime.now(timezone.utc)))
    assert redis_client.zscore(SCHEDULE_KEY, LAYOUT.entry_key("new-report")) == expected
    # celery-redbeat loads the moved entry with its history.
    loaded = RedBeatSchedulerEntry.from_key(LAYOUT.entry_key("new-report"), app=app)
    assert loaded.total_run_count == 3 and loaded.name == "new-report"

    # moved_from may stay in the file: the next plan has nothing to do.
    again = plan_of(redis_client, yaml_file(NEW_MOVED))
    assert not again.has_changes


def test_move_with_field_changes_and_outputs(app: Celery, redis_client: redis.Redis) -> None:
    apply(redis_client, plan_of(redis_client, yaml_file(OLD)))
    changed = NEW_MOVED.replace("args: [1]", "args: [2]")
    plan = plan_of(redis_client, yaml_file(changed))
    (action,) = plan.changes
    assert action.kind == "move"
    assert [(c.path, c.old, c.new) for c in action.changes] == [("args[0]", 1, 2)]
    assert "args[0]: 1 → 2" in render_text(plan)
    data = json.loads(render_json(plan))
    assert data["actions"][0]["action"] == "move"
    assert data["actions"][0]["moved_from"] == "old-report"
    assert data["summary"]["move"] == 1
    markdown = render_markdown(plan)
    assert "<b>move</b>" in markdown and "moves to `new-report`" in markdown
    assert "1 to move" in markdown
    apply(redis_client, plan)
    loaded = RedBeatSchedulerEntry.from_key(LAYOUT.entry_key("new-report"), app=app)
    assert loaded.args == [2]


def test_move_through_a_plan_file(tmp_path, redis_client: redis.Redis) -> None:  # type: ignore[no-untyped-def]
    apply(redis_client, plan_of(redis_client, yaml_file(OLD)))
    path = tmp_path / "plan.json"
    save_plan(plan_of(redis_client, yaml_file(NEW_MOVED)), path)
    loaded = load_plan(path)
    assert loaded.changes[0].moved_from == "old-report"
    apply(redis_client, loaded)
    assert redis_client.smembers(LAYOUT.inventory_key) == {"new-report"}


def test_move_when_old_is_gone_is_a_create_or_noop(redis_client: redis.Redis) -> None:
    plan = plan_of(redis_client, yaml_file(NEW_MOVED))
    assert [a.kind for a in plan.changes] == ["create"]
    apply(redis_client, plan)
    assert not plan_of(redis_client, yaml_file(NEW_MOVED)).has_changes


def test_move_adopts_an_unmanaged_entry(app: Celery, redis_client: redis.Redis) -> None:
    from celery.schedules import schedule

    RedBeatSchedulerEntry(
        "old-report", "app.tasks.report", schedule(3600), args=[1], app=app
    ).save()
    run_by_redbeat(app, "old-report", 2)
    plan = plan_of(redis_client, yaml_file(NEW_MOVED))
    (action,) = plan.changes
    assert action.kind == "move"
    assert any("adopts" in w for w in action.warnings)
    apply(redis_client, plan)
    assert redis_client.smembers(LAYOUT.inventory_key) == {"new-report"}
    loaded = RedBeatSchedulerEntry.from_key(LAYOUT.entry_key("new-report"), app=app)
    assert loaded.total_run_count == 2
    assert not plan_of(redis_client, yaml_file(NEW_MOVED)).has_changes


def test_move_is_guarded_on_the_old_entry(app: Celery, redis_client: redis.Redis) -> None:
    apply(redis_client, plan_of(redis_client, yaml_file(OLD)))
    plan = plan_of(redis_client, yaml_file(NEW_MOVED))
    # Someone edits the old entry through RedBeat between plan and apply.
    stored = RedBeatSchedulerEntry.from_key(LAYOUT.entry_key("old-report"), app=app)
    stored.args = [9]
    stored.save()
    with pytest.raises(UserError, match="changed"):
        apply(redis_client, plan)
    assert redis_client.exists(LAYOUT.entry_key("old-report"))
    assert not redis_client.exists(LAYOUT.entry_key("new-report"))


def test_move_validation_problems() -> None:
    twice = yaml_file(
        "a: {task: t.a, schedule: {every: 1m}, moved_from: old}",
        "b: {task: t.b, schedule: {every: 1m}, moved_from: old}",
    )
    with pytest.raises(ProblemsFound) as caught:
        load_text(twice)
    assert "also the former name of 'a'" in caught.value.format()
    still_there = yaml_file(
        "a: {task: t.a, schedule: {every: 1m}}",
        "b: {task: t.b, schedule: {every: 1m}, moved_from: a}",
    )
    with pytest.raises(ProblemsFound) as caught:
        load_text(still_there)
    assert "'a' is still defined in the files" in caught.value.format()
    assert "<text>:4:3: entries.b.moved_from: 'a' is still defined" in caught.value.format()


# --------------------------------------------------------------------------- prune


def test_prune_false_entry_is_released_not_deleted(app: Celery, redis_client: redis.Redis) -> None:
    keep = "keep: {task: app.tasks.keep, schedule: {every: 5m}, prune: false}"
    gone = "gone: {task: app.tasks.gone, schedule: {every: 5m}}"
    apply(redis_client, plan_of(redis_client, yaml_file(keep, gone)))
    plan = plan_of(redis_client, yaml_file("other: {task: t.o, schedule: {every: 1m}}"))
    kinds = {a.name: a.kind for a in plan.changes}
    assert kinds == {"other": "create", "keep": "release", "gone": "delete"}
    assert "=> keep (release)" in render_text(plan)
    assert "1 to release" in render_text(plan)
    apply(redis_client, plan)
    assert redis_client.smembers(LAYOUT.inventory_key) == {"other"}
    assert not redis_client.exists(LAYOUT.entry_key("gone"))
    fields = redis_client.hgetall(LAYOUT.entry_key("keep"))
    assert set(fields) == {"definition", "meta"}  # plain RedBeat entry now
    loaded = RedBeatSchedulerEntry.from_key(LAYOUT.entry_key("keep"), app=app)
    assert loaded.task == "app.tasks.keep"
    assert redis_client.zscore(SCHEDULE_KEY, LAYOUT.entry_key("keep")) is not None
    after = plan_of(redis_client, yaml_file("other: {task: t.o, schedule: {every: 1m}}"))
    assert after.unmanaged == ["keep"]


def test_prune_from_defaults_and_changing_it_is_an_update(redis_client: redis.Redis) -> None:
    entry = "job: {task: app.tasks.job, schedule: {every: 5m}}"
    apply(redis_client, plan_of(redis_client, yaml_file(entry)))
    definition = redis_client.hget(LAYOUT.entry_key("job"), "definition")
    plan = plan_of(redis_client, yaml_file(entry, defaults="{prune: false}"))
    (action,) = plan.changes
    assert action.kind == "update"
    assert [(c.path, c.new) for c in action.changes] == [("prune", False)]
    apply(redis_client, plan)
    assert redis_client.hget(LAYOUT.entry_key("job"), "definition") == definition
    assert json.loads(redis_client.hget(LAYOUT.entry_key("job"), "redbeat_sync"))["prune"] is False


def test_release_of_an_inert_entry_keeps_its_real_schedule(redis_client: redis.Redis) -> None:
    # A cron in another zone than beat's is stored inert for RedBeat: the real
    # schedule lives in our field, so releasing must keep it (marker off).
    paris = (
        "paris: {task: app.tasks.p, schedule: {cron: '0 9 * * *'}, "
        "timezone: Europe/Paris, prune: false}"
    )
    apply(redis_client, plan_of(redis_client, yaml_file(paris)))
    plan = plan_of(redis_client, yaml_file("x: {task: t.x, schedule: {every: 1m}}"))
    release = next(a for a in plan.changes if a.kind == "release")
    assert "stays in its redbeat_sync field" in release.warnings[0]
    apply(redis_client, plan)
    extra = json.loads(redis_client.hget(LAYOUT.entry_key("paris"), "redbeat_sync"))
    assert extra["managed"] is False and extra["schedule"] == {"cron": "0 9 * * *"}
    state = read_state(redis_client, LAYOUT)
    kept = state.entries["paris"]
    assert not kept.marked and kept.entry is not None
    assert kept.entry.timezone == "Europe/Paris"
    assert kept.entry.schedule.to_canonical() == {"cron": "0 9 * * *"}


# --------------------------------------------------------------------------- statics


def redbeat_beat_start(redis_url: str, beat_schedule: dict) -> None:  # type: ignore[type-arg]
    """celery-redbeat's scheduler start: saves beat_schedule, prunes its :statics set."""
    from redbeat.schedulers import RedBeatScheduler

    starter = Celery("statics-test", set_as_current=False)
    starter.conf.update(
        redbeat_redis_url=redis_url,
        redbeat_key_prefix=LAYOUT.prefix,
        timezone="UTC",
        beat_schedule=beat_schedule,
    )
    scheduler = RedBeatScheduler(app=starter, lock_key=None)
    scheduler.close()
    starter.close()


def test_imported_static_entry_survives_redbeat_start_without_it(
    redis_url: str, redis_client: redis.Redis
) -> None:
    from celery.schedules import crontab

    from redbeat_sync.beat_import import convert_beat_schedule
    from redbeat_sync.fileformat.dump import dump_entries

    legacy = {"legacy": {"task": "app.tasks.legacy", "schedule": crontab(minute=5), "args": [1]}}
    redbeat_beat_start(redis_url, legacy)
    assert redis_client.smembers(LAYOUT.statics_key) == {"legacy"}
    holder = Celery("holder", set_as_current=False)
    holder.conf.update(timezone="UTC", beat_schedule=legacy)
    entries, skipped = convert_beat_schedule(holder)
    assert not skipped
    plan = plan_of(redis_client, dump_entries(entries))
    assert [a.kind for a in plan.changes] == ["adopt"]
    assert not plan.changes[0].changes  # exactly what celery-redbeat stored
    apply(redis_client, plan)
    assert redis_client.smembers(LAYOUT.statics_key) == set()
    # beat_schedule emptied, RedBeat's beat restarts: the managed entry stays.
    redbeat_beat_start(redis_url, {})
    assert redis_client.exists(LAYOUT.entry_key("legacy"))
    assert not plan_of(redis_client, dump_entries(entries)).has_changes


def test_drift_names_pending_moves_and_entries_gone_from_the_files(
    redis_client: redis.Redis,
) -> None:
    from redbeat_sync.drift import drift_from_plan, render_drift_text

    extra = "extra: {task: app.tasks.extra, schedule: {every: 1m}}"
    apply(redis_client, plan_of(redis_client, yaml_file(OLD, extra)))
    state = read_state(redis_client, LAYOUT)
    plan = compute_plan(load_text(yaml_file(NEW_MOVED)), state, prefix=LAYOUT.prefix)
    drift = drift_from_plan(plan, state)
    assert [(i.kind, i.name) for i in drift.items] == [
        ("not_in_files", "extra"),
        ("pending_move", "new-report"),
    ]
    text = render_drift_text(drift)
    assert "old-report → new-report: apply renames it" in text
    assert "extra: managed in Redis but not in the files" in text


def test_move_refused_when_the_new_name_appeared_and_atomic_in_small_batches(
    app: Celery, redis_client: redis.Redis
) -> None:
    from celery.schedules import schedule

    apply(redis_client, plan_of(redis_client, yaml_file(OLD)))
    plan = plan_of(redis_client, yaml_file(NEW_MOVED))
    RedBeatSchedulerEntry("new-report", "app.tasks.other", schedule(60), app=app).save()
    with pytest.raises(UserError, match="new-report"):
        apply(redis_client, plan)
    assert redis_client.exists(LAYOUT.entry_key("old-report"))
    redis_client.delete(LAYOUT.entry_key("new-report"))
    redis_client.zrem(SCHEDULE_KEY, LAYOUT.entry_key("new-report"))

    # batch_size=1: a move is one operation on two keys, never split across batches
    other = "other: {task: app.tasks.other, schedule: {every: 1m}}"
    plan = plan_of(redis_client, yaml_file(NEW_MOVED, other))
    result = apply_plan(redis_client, LAYOUT, plan, lock_timeout=2.0, who="tester@ci", batch_size=1)
    assert result.report.batches == 2 and result.report.moved == 1
    assert redis_client.smembers(LAYOUT.inventory_key) == {"new-report", "other"}
    assert not redis_client.exists(LAYOUT.entry_key("old-report"))


def test_writer_move_guards_both_keys(app: Celery, redis_client: redis.Redis) -> None:
    from celery.schedules import schedule

    from redbeat_sync.state import writer
    from redbeat_sync.state.stored import Move

    apply(redis_client, plan_of(redis_client, yaml_file(OLD)))
    old = read_state(redis_client, LAYOUT).entries["old-report"]
    entry = load_text(yaml_file(NEW_MOVED)).entries[0].entry
    RedBeatSchedulerEntry("new-report", "app.tasks.other", schedule(60), app=app).save()
    move = Move(entry, "old-report", old.digest, old.run)
    with pytest.raises(writer.StateChanged) as caught:
        writer.write(redis_client, LAYOUT, [move])
    assert caught.value.names == ["new-report"]
    stale = Move(entry, "old-report", "0" * 40, old.run)
    redis_client.delete(LAYOUT.entry_key("new-report"))
    with pytest.raises(writer.StateChanged) as caught:
        writer.write(redis_client, LAYOUT, [stale])
    assert caught.value.names == ["old-report"]
    assert writer.write(redis_client, LAYOUT, [move]).moved == 1


def _record_runs(client: redis.Redis, name: str, count: int) -> None:
    """Run history as beat writes it (beat/runlog.py), one record per run."""
    now = datetime.now(timezone.utc)
    records = [
        (name, sent_record(task_id=f"t{i}", slot=now, covers_from=now)) for i in range(count)
    ]
    append_runs(client, LAYOUT, records, keep=20)


def _runs_cli(redis_url: str, name: str) -> Result:
    args = ["runs", name, "--redis-url", redis_url, "--key-prefix", LAYOUT.prefix]
    return CliRunner().invoke(main, args)


def test_move_takes_the_run_history_with_it(redis_client: redis.Redis, redis_url: str) -> None:
    apply(redis_client, plan_of(redis_client, yaml_file(OLD)))
    _record_runs(redis_client, "old-report", 3)
    # Left under the new name by an earlier entry of that name: not this entry's runs.
    _record_runs(redis_client, "new-report", 1)
    apply(redis_client, plan_of(redis_client, yaml_file(NEW_MOVED)))

    assert not redis_client.exists(LAYOUT.runs_key("old-report"))
    assert [r["task_id"] for r in read_runs(redis_client, LAYOUT, "new-report")] == [
        "t2",
        "t1",
        "t0",
    ]
    gone = _runs_cli(redis_url, "old-report")
    assert gone.exit_code == 1 and "no such entry: old-report" in gone.output
    moved = _runs_cli(redis_url, "new-report")
    assert moved.exit_code == 0 and moved.output.count("  sent  ") == 3, moved.output


def test_move_without_history_leaves_none_under_the_new_name(redis_client: redis.Redis) -> None:
    apply(redis_client, plan_of(redis_client, yaml_file(OLD)))
    _record_runs(redis_client, "new-report", 1)  # a deleted entry's, from before
    apply(redis_client, plan_of(redis_client, yaml_file(NEW_MOVED)))
    assert not redis_client.exists(LAYOUT.runs_key("new-report"))
    assert not redis_client.exists(LAYOUT.runs_key("old-report"))


def test_delete_removes_the_run_history(redis_client: redis.Redis, redis_url: str) -> None:
    kept = "kept: {task: app.tasks.report, schedule: {every: 1h}}"
    apply(redis_client, plan_of(redis_client, yaml_file(OLD, kept)))
    _record_runs(redis_client, "old-report", 2)
    _record_runs(redis_client, "kept", 2)
    plan = plan_of(redis_client, yaml_file(kept))
    assert [(a.kind, a.name) for a in plan.changes] == [("delete", "old-report")]
    apply(redis_client, plan)
    assert not redis_client.exists(LAYOUT.runs_key("old-report"))
    assert len(read_runs(redis_client, LAYOUT, "kept")) == 2  # others keep theirs
    gone = _runs_cli(redis_url, "old-report")
    assert gone.exit_code == 1 and "no such entry: old-report" in gone.output

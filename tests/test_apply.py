"""apply_plan against a real redis-server, with celery-redbeat as the other writer."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import redis
from beat_app import make_app
from celery import Celery
from celery.schedules import crontab
from plan_helpers import entry, every, spec
from redbeat.schedulers import RedBeatSchedulerEntry

from redbeat_sync.apply import apply_plan, default_max_deletes
from redbeat_sync.errors import UserError
from redbeat_sync.plan.actions import Plan
from redbeat_sync.plan.compare import compute_plan
from redbeat_sync.plan.planfile import load_plan, save_plan
from redbeat_sync.plan.render_text import render_text
from redbeat_sync.schedule.entry import At, Entry
from redbeat_sync.state import audit
from redbeat_sync.state.layout import Layout
from redbeat_sync.state.reader import read_state
from redbeat_sync.state.synclock import SyncLock

LAYOUT = Layout("rs-test:")


@pytest.fixture
def app(redis_url: str) -> Iterator[Celery]:
    """A Celery app on the test's Redis with our prefix, for celery-redbeat's entries."""
    celery_app = make_app(redis_url, redbeat_key_prefix=LAYOUT.prefix)
    yield celery_app
    celery_app.close()


def plan_for(client: redis.Redis, *entries: Entry, beat_timezone: str = "UTC") -> Plan:
    state = read_state(client, LAYOUT, beat_timezone=beat_timezone)
    return compute_plan(spec(*entries), state, beat_timezone=beat_timezone, prefix=LAYOUT.prefix)


def apply(client: redis.Redis, plan: Plan, **options: object):  # type: ignore[no-untyped-def]
    values: dict[str, object] = {
        "beat_timezone": plan.beat_timezone,
        "max_deletes": None,
        "allow_mass_delete": False,
        "lock_timeout": 2.0,
        "message": None,
        "who": "tester@ci",
    }
    values.update(options)
    return apply_plan(client, LAYOUT, plan, **values)  # type: ignore[arg-type]


def legacy_entry(app: Celery, name: str = "legacy", **fields: object) -> RedBeatSchedulerEntry:
    """An entry written by celery-redbeat itself, as an existing deployment has them."""
    values: dict[str, object] = {
        "task": "app.tasks.work",
        "schedule": crontab(minute=0, hour=3),
        "args": [1],
    }
    values.update(fields)
    saved = RedBeatSchedulerEntry(name, app=app, **values)
    saved.save()
    return saved


MIXED = (
    entry("nightly", kwargs={"report": "daily"}, options={"queue": "reports"}),
    every("heartbeat", 30, args=[1, "two", None]),
    entry("paris", timezone="Europe/Paris"),
    entry("paused", enabled=False),
    entry("once", schedule=At(datetime(2027, 1, 1, 12, tzinfo=timezone.utc))),
)


def test_apply_then_replan_has_no_changes(redis_client: redis.Redis) -> None:
    plan = plan_for(redis_client, *MIXED)
    assert plan.counts["create"] == len(MIXED)
    result = apply(redis_client, plan, message="first")
    assert result.report.created == len(MIXED)
    assert result.summary() == "5 created, 0 updated, 0 deleted."
    again = plan_for(redis_client, *MIXED)
    assert render_text(again, color=False) == "No changes.\n"
    assert redis_client.smembers(LAYOUT.inventory_key) == {e.name for e in MIXED}


def test_update_reschedule_delete_then_no_changes(redis_client: redis.Redis) -> None:
    apply(redis_client, plan_for(redis_client, *MIXED))
    changed = (
        entry("nightly", kwargs={"report": "weekly"}, options={"queue": "reports"}),
        every("heartbeat", 60, args=[1, "two", None]),
        entry("paris", timezone="Europe/Paris", enabled=False),
        entry("paused", enabled=False),
    )
    plan = plan_for(redis_client, *changed)
    assert {a.name: a.kind for a in plan.changes} == {
        "nightly": "update",
        "heartbeat": "reschedule",
        "paris": "update",
        "once": "delete",
    }
    result = apply(redis_client, plan)
    assert (result.report.updated, result.report.deleted) == (3, 1)
    assert not redis_client.exists(LAYOUT.entry_key("once"))
    assert not plan_for(redis_client, *changed).has_changes


def test_audit_record(redis_client: redis.Redis, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GITHUB_SHA", "abc123")
    result = apply(redis_client, plan_for(redis_client, MIXED[0]), message="ship it")
    (record,) = audit.read_history(redis_client, LAYOUT)
    assert record["id"] == result.audit_id
    assert record["who"] == "tester@ci"
    assert record["message"] == "ship it"
    assert record["git_sha"] == "abc123"
    assert record["plan_digest"] == result.plan_digest
    assert record["plan_digest"].startswith("sha256:")
    assert record["counts"]["create"] == 1
    assert record["host"]


def test_saved_plan_refused_when_someone_created_an_entry(
    redis_client: redis.Redis, app: Celery, tmp_path: Path
) -> None:
    path = tmp_path / "plan.json"
    save_plan(plan_for(redis_client, *MIXED), path)
    legacy_entry(app, "intruder")  # another writer, after the plan was made
    with pytest.raises(UserError, match="state changed since this plan was made"):
        apply(redis_client, load_plan(path))
    assert not redis_client.exists(LAYOUT.entry_key("nightly"))
    assert not redis_client.exists(LAYOUT.inventory_key)
    # The refusal is in the audit trail, saying nothing was written.
    (record,) = audit.read_history(redis_client, LAYOUT)
    assert record["outcome"] == "refused" and record["written"]["batches"] == 0
    assert "nothing was written" in record["error"]


def test_saved_plan_refused_when_someone_modified_a_managed_entry(
    redis_client: redis.Redis, app: Celery, tmp_path: Path
) -> None:
    apply(redis_client, plan_for(redis_client, *MIXED))
    path = tmp_path / "plan.json"
    save_plan(plan_for(redis_client, entry("nightly", args=[9]), *MIXED[1:]), path)
    hand_edit = RedBeatSchedulerEntry.from_key(LAYOUT.entry_key("heartbeat"), app=app)
    hand_edit.args = [42]
    hand_edit.save()
    with pytest.raises(UserError, match="state changed since this plan was made"):
        apply(redis_client, load_plan(path))
    state = read_state(redis_client, LAYOUT)
    assert state.entries["nightly"].entry.args == []  # the planned update was not written


def test_saved_plan_applies_when_unchanged(
    redis_client: redis.Redis, app: Celery, tmp_path: Path
) -> None:
    expires = datetime(2027, 1, 1, 12, tzinfo=timezone.utc)
    wanted = (*MIXED, entry("expiring", options={"expires": expires}))
    path = tmp_path / "plan.json"
    save_plan(plan_for(redis_client, *wanted), path)
    apply(redis_client, load_plan(path))
    assert not plan_for(redis_client, *wanted).has_changes
    loaded = RedBeatSchedulerEntry.from_key(LAYOUT.entry_key("expiring"), app=app)
    assert loaded.options["expires"] == expires  # a datetime again, as RedBeat stores it


def test_refuses_to_delete_every_managed_entry(redis_client: redis.Redis) -> None:
    apply(redis_client, plan_for(redis_client, *MIXED[:2]))
    with pytest.raises(UserError, match="refusing to delete all 2 managed entries"):
        apply(redis_client, plan_for(redis_client))
    assert redis_client.scard(LAYOUT.inventory_key) == 2
    apply(redis_client, plan_for(redis_client), allow_mass_delete=True)
    assert redis_client.scard(LAYOUT.inventory_key) == 0
    assert not redis_client.exists(LAYOUT.entry_key("nightly"))


def test_refuses_more_deletes_than_the_limit(redis_client: redis.Redis) -> None:
    entries = [every(f"e{i:02d}", 60) for i in range(14)]
    apply(redis_client, plan_for(redis_client, *entries))
    assert default_max_deletes(14) == 10
    keep_three = plan_for(redis_client, *entries[:3])  # 11 deletes > max(10, 25%)
    with pytest.raises(
        UserError, match=r"refusing to delete 11 of 14 managed entries \(limit 10\)"
    ):
        apply(redis_client, keep_three)
    with pytest.raises(UserError, match=r"\(limit 5\)"):
        apply(redis_client, plan_for(redis_client, *entries[:8]), max_deletes=5)
    result = apply(redis_client, keep_three, max_deletes=11)
    assert result.report.deleted == 11
    assert default_max_deletes(1000) == 250


def test_adopt_keeps_redbeat_run_history(redis_client: redis.Redis, app: Celery) -> None:
    saved = legacy_entry(app)
    last_run = datetime(2026, 11, 20, 3, 0, 5, tzinfo=timezone.utc)
    ran = saved.next(last_run_at=last_run)  # what RedBeat's beat writes after a run
    ran.next(last_run_at=last_run + timedelta(days=1))
    before = redis_client.hgetall(LAYOUT.entry_key("legacy"))

    plan = plan_for(redis_client, entry("legacy", args=[1]))
    (action,) = plan.changes
    assert (action.kind, action.changes) == ("adopt", [])
    assert plan.summary()["adopt"] == 1
    assert render_text(plan, color=False).endswith("0 to delete, 1 to adopt.\n")
    result = apply(redis_client, plan)
    assert result.summary() == "0 created, 0 updated, 0 deleted, 1 adopted."

    after = redis_client.hgetall(LAYOUT.entry_key("legacy"))
    assert after["meta"] == before["meta"]
    assert after["definition"] == before["definition"]
    assert redis_client.sismember(LAYOUT.inventory_key, "legacy")
    reloaded = RedBeatSchedulerEntry.from_key(LAYOUT.entry_key("legacy"), app=app)
    assert reloaded.total_run_count == 2
    assert reloaded.last_run_at == last_run + timedelta(days=1)
    assert not plan_for(redis_client, entry("legacy", args=[1])).has_changes


def test_adopt_with_changes_keeps_run_history(redis_client: redis.Redis, app: Celery) -> None:
    saved = legacy_entry(app)
    saved.next(last_run_at=datetime(2026, 11, 20, 3, 0, tzinfo=timezone.utc))
    before_meta = redis_client.hget(LAYOUT.entry_key("legacy"), "meta")
    wanted = entry("legacy", args=[2], options={"queue": "low"})
    plan = plan_for(redis_client, wanted)
    (action,) = plan.changes
    assert action.kind == "adopt"
    assert [c.path for c in action.changes] == ["args[0]", "options.queue"]
    apply(redis_client, plan)
    assert redis_client.hget(LAYOUT.entry_key("legacy"), "meta") == before_meta
    reloaded = RedBeatSchedulerEntry.from_key(LAYOUT.entry_key("legacy"), app=app)
    assert list(reloaded.args) == [2] and reloaded.options == {"queue": "low"}
    assert reloaded.total_run_count == 1
    assert not plan_for(redis_client, wanted).has_changes


def test_unmanaged_entries_are_never_touched(redis_client: redis.Redis, app: Celery) -> None:
    legacy_entry(app, "theirs")
    before = redis_client.hgetall(LAYOUT.entry_key("theirs"))
    plan = plan_for(redis_client, *MIXED)
    assert plan.unmanaged == ["theirs"]
    apply(redis_client, plan)
    apply(redis_client, plan_for(redis_client), allow_mass_delete=True)
    assert redis_client.hgetall(LAYOUT.entry_key("theirs")) == before
    assert not redis_client.sismember(LAYOUT.inventory_key, "theirs")


def test_plan_for_another_prefix_or_zone_is_refused(redis_client: redis.Redis) -> None:
    plan = plan_for(redis_client, MIXED[0])
    with pytest.raises(UserError, match="prefix"):
        apply_plan(redis_client, Layout("other:"), plan, beat_timezone="UTC")
    with pytest.raises(UserError, match="beat timezone"):
        apply(redis_client, plan, beat_timezone="Europe/Paris")


def test_apply_waits_for_and_names_the_sync_lock_holder(redis_client: redis.Redis) -> None:
    plan = plan_for(redis_client, MIXED[0])
    holder = SyncLock(redis_client, LAYOUT, holder="alice@laptop")
    holder.acquire(0)
    with pytest.raises(UserError, match="alice@laptop"):
        apply(redis_client, plan, lock_timeout=0.2)
    assert not redis_client.exists(LAYOUT.entry_key("nightly"))
    timer = threading.Timer(0.3, holder.release)
    timer.start()
    apply(redis_client, plan, lock_timeout=5)
    timer.join()
    assert redis_client.exists(LAYOUT.entry_key("nightly"))


def test_concurrent_applies_serialize(redis_url: str, redis_client: redis.Redis) -> None:
    plan = plan_for(redis_client, *MIXED)
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def run() -> None:
        client = redis.Redis.from_url(redis_url, decode_responses=True)
        try:
            barrier.wait()
            apply(client, plan, lock_timeout=10)
            outcomes.append("applied")
        except UserError as exc:
            outcomes.append(str(exc))
        finally:
            client.close()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes)[0] == "applied"
    assert "state changed since this plan was made" in sorted(outcomes)[1]
    outcomes_recorded = [r["outcome"] for r in audit.read_history(redis_client, LAYOUT)]
    assert sorted(outcomes_recorded) == ["applied", "refused"]  # the loser is audited too
    assert not plan_for(redis_client, *MIXED).has_changes


SCHEDULE_FILE = """\
version: 1
defaults:
  options: {queue: reports}
entries:
  nightly-report:
    task: reports.tasks.nightly
    schedule: {cron: "0 3 * * mon-fri"}
    args: [1, "a"]
    kwargs: {full: true}
    timezone: America/New_York
  heartbeat:
    task: ops.tasks.ping
    schedule: {every: 30s}
"""


def test_yaml_files_apply_then_replan_no_changes(redis_client: redis.Redis, tmp_path: Path) -> None:
    from redbeat_sync.fileformat.loader import load_paths

    path = tmp_path / "schedules.yaml"
    path.write_text(SCHEDULE_FILE)

    def plan_files() -> Plan:
        state = read_state(redis_client, LAYOUT, beat_timezone="UTC")
        return compute_plan(load_paths([path]), state, beat_timezone="UTC", prefix=LAYOUT.prefix)

    first = plan_files()
    assert render_text(first, color=False).endswith(
        "Plan: 2 to create, 0 to update, 0 to delete.\n"
    )
    apply(redis_client, first)
    assert render_text(plan_files(), color=False) == "No changes.\n"

    path.write_text(SCHEDULE_FILE.replace("{queue: reports}", "{queue: low}"))
    second = plan_files()
    text = render_text(second, color=False)
    assert '    options.queue: "reports" → "low"' in text
    assert text.endswith("Plan: 0 to create, 2 to update, 0 to delete.\n")
    apply(redis_client, second)
    assert render_text(plan_files(), color=False) == "No changes.\n"


def test_undecodable_entries(redis_client: redis.Redis) -> None:
    apply(redis_client, plan_for(redis_client, *MIXED[:2]))
    redis_client.hset(LAYOUT.entry_key("nightly"), "definition", "{broken")
    redis_client.hset(LAYOUT.entry_key("junk"), "definition", '{"name": "junk"}')
    redis_client.zadd(LAYOUT.schedule_key, {LAYOUT.entry_key("junk"): 0})  # RedBeat's index
    plan = plan_for(redis_client, *MIXED[:2])
    (action,) = plan.changes
    assert (action.name, action.kind) == ("nightly", "update")
    assert any("could not be decoded" in w for w in action.warnings)
    assert plan.unmanaged == ["junk"]
    assert any("junk" in w for w in plan.warnings)
    apply(redis_client, plan)
    assert not plan_for(redis_client, *MIXED[:2]).has_changes
    assert redis_client.hget(LAYOUT.entry_key("junk"), "definition") == '{"name": "junk"}'

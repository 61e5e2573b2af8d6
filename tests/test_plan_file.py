"""Plan files: a saved plan loads back identical; edited or foreign files are refused."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import pytest
from plan_helpers import NOW, entry, every, spec, state, stored

from redbeat_sync.errors import UserError
from redbeat_sync.plan.compare import compute_plan
from redbeat_sync.plan.planfile import load_plan, save_plan
from redbeat_sync.plan.render_json import render_json
from redbeat_sync.plan.render_text import render_text
from redbeat_sync.schedule.entry import RunState

UTC = timezone.utc
EXPIRES = datetime(2027, 1, 1, 12, tzinfo=UTC)


def sample_plan():  # type: ignore[no-untyped-def]
    current = state(
        stored(entry("upd", options={"queue": "default"}, kwargs={"drop": 1})),
        stored(every("resched", 60), run=RunState(NOW, 5)),
        stored(entry("gone")),
        stored(entry("legacy"), managed=False, run=RunState(NOW, 3)),
        stored(entry("same")),
        stored(None, name="broken", error="bad json"),
        inventory={"upd", "resched", "gone", "same", "broken", "ghost"},
    )
    files = spec(
        entry("new", timezone="Europe/Paris", options={"expires": EXPIRES}, args=[EXPIRES]),
        entry("upd", options={"queue": "low"}),
        every("resched", 120),
        entry("legacy"),
        entry("same"),
        entry("broken"),
    )
    return compute_plan(files, current, beat_timezone="UTC", now=NOW)


def test_round_trip_keeps_everything_apply_and_renderers_use(tmp_path: Path) -> None:
    plan = sample_plan()
    path = tmp_path / "plan.json"
    save_plan(plan, path)
    loaded = load_plan(path)
    assert render_json(loaded) == render_json(plan)
    assert render_text(loaded, color=False) == render_text(plan, color=False)
    assert loaded.fingerprint == plan.fingerprint
    assert loaded.counts == plan.counts
    original = {a.name: a for a in plan.changes}
    for action in loaded.changes:
        before = original[action.name]
        assert action.kind == before.kind
        assert action.expect_digest == before.expect_digest
        assert action.changes == before.changes
        assert action.desired == before.desired
        if before.current is not None:
            assert action.current is not None
            assert action.current.run == before.current.run
    assert {a.name for a in loaded.changes} == set(original)


def test_datetimes_in_values_stay_datetimes(tmp_path: Path) -> None:
    save_plan(sample_plan(), tmp_path / "p.json")
    (new,) = [a for a in load_plan(tmp_path / "p.json").actions if a.name == "new"]
    assert new.desired.options == {"expires": EXPIRES}
    assert new.desired.args == [EXPIRES]


def test_datetimes_are_stored_as_redbeat_does_with_no_side_copy(tmp_path: Path) -> None:
    save_plan(sample_plan(), tmp_path / "p.json")
    data = json.loads((tmp_path / "p.json").read_text())
    (new,) = [a for a in data["actions"] if a["name"] == "new"]
    assert "typed_values" not in new["desired"]
    assert new["desired"]["args"][0]["__type__"] == "datetime"
    assert new["desired"]["options"]["expires"]["timezone"] == "UTC"


def test_a_catch_up_survives_the_plan_file(tmp_path: Path) -> None:
    current = state(stored(entry("j"), run=RunState(datetime(2026, 11, 24, 21, 0, tzinfo=UTC))))
    plan = compute_plan(spec(every("j", 7 * 60)), current, now=NOW)
    (action,) = plan.changes
    assert action.at_once_for == datetime(2026, 11, 24, 21, 56, tzinfo=UTC)
    save_plan(plan, tmp_path / "p.json")
    (loaded,) = load_plan(tmp_path / "p.json").changes
    assert loaded.at_once_for == action.at_once_for
    assert loaded.next_runs == action.next_runs
    assert "next: now (catch-up for 21:56 UTC), 2026-11-24 22:03 UTC" in render_text(plan)


def test_a_version_1_plan_file_asks_for_a_new_plan(tmp_path: Path) -> None:
    path = tmp_path / "old.json"
    body = {"format_version": "1", "kind": "redbeat-sync-plan", "actions": []}
    path.write_text(json.dumps(body))
    with pytest.raises(UserError, match=r"plan format '1'.*run plan again"):
        load_plan(path)


def test_next_runs_keep_the_zone_name(tmp_path: Path) -> None:
    save_plan(sample_plan(), tmp_path / "p.json")
    (new,) = [a for a in load_plan(tmp_path / "p.json").actions if a.name == "new"]
    assert new.next_runs[0].strftime("%H:%M %Z") == "03:00 CET"


def test_hand_edited_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "plan.json"
    save_plan(sample_plan(), path)
    data = json.loads(path.read_text())
    data["actions"][0]["desired"]["task"] = "evil.task"
    path.write_text(json.dumps(data))
    with pytest.raises(UserError, match="modified after it was saved"):
        load_plan(path)


def test_changed_fingerprint_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "plan.json"
    save_plan(sample_plan(), path)
    path.write_text(path.read_text().replace('"fp-1"', '"fp-2"'))
    with pytest.raises(UserError, match="modified"):
        load_plan(path)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "not a redbeat-sync plan file"),
        ("nightly:\n  task: x\n", "not a redbeat-sync plan file"),
        ('{"kind": "terraform"}', "not a redbeat-sync plan file"),
        ('["redbeat-sync-plan"]', "not a redbeat-sync plan file"),
        ('{"kind": "redbeat-sync-plan", "format_version": "99"}', "plan format '99'"),
    ],
)
def test_foreign_files_are_refused(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "x.json"
    path.write_text(content)
    with pytest.raises(UserError, match=message):
        load_plan(path)


def test_missing_file_is_a_user_error(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="cannot read plan file"):
        load_plan(tmp_path / "nope.json")


def test_truncated_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "plan.json"
    save_plan(sample_plan(), path)
    path.write_text(path.read_text()[:200])
    with pytest.raises(UserError, match="not a redbeat-sync plan file"):
        load_plan(path)


# --------------------------------------------------------------------------- the target
ONE_ENTRY = "version: 1\nentries:\n  tick:\n    task: tasks.tick\n    schedule: {every: 60s}\n"


def _schedules(tmp_path: Path) -> Path:
    folder = tmp_path / "schedules"
    folder.mkdir()
    (folder / "tick.yaml").write_text(ONE_ENTRY)
    return folder


def test_a_saved_plan_applies_only_to_the_redis_it_was_made_against(
    redis_server, redis_url: str, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    """Two empty databases have the same fingerprint: apply used to write a plan made
    against db 3 into db 4 and exit 0."""
    import redis
    from redis_topologies import cli

    db3, db4 = (f"redis://127.0.0.1:{redis_server.port}/{n}" for n in (3, 4))
    for url in (db3, db4):
        redis.Redis.from_url(url).flushdb()
    out = str(tmp_path / "fp.json")
    planned = cli("plan", str(_schedules(tmp_path)), "--redis-url", db3, "--key-prefix", "fp:",
                  "--out", out)  # fmt: skip
    assert planned.code == 0, planned.all
    assert f"apply it with: redbeat-sync apply {out} --redis-url {db3} --key-prefix fp:" in (
        planned.stderr
    )
    assert json.loads(Path(out).read_text())["target"] == {"redis_url": db3, "db": 3}

    refused = cli("apply", out, "--redis-url", db4, "--key-prefix", "fp:", "--auto-approve")
    assert refused.code == 1, refused.all
    assert refused.stderr.strip().splitlines() == [
        f"Error: the plan was made against {db3} (db 3), not {db4} (db 4); nothing was "
        "written: give the same --redis-url/--app, or plan again here"
    ]
    assert redis.Redis.from_url(db4).dbsize() == 0  # nothing written

    applied = cli("apply", out, "--redis-url", db3, "--key-prefix", "fp:")
    assert applied.code == 0, applied.all
    assert redis.Redis.from_url(db3).exists("fp:tick")


def test_the_apply_hint_never_repeats_a_password(
    redis_server, redis_url: str, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    import redis
    from redis_topologies import cli

    admin = redis.Redis.from_url(redis_url)
    admin.execute_command("ACL", "SETUSER", "planner", "on", ">s3cret-pw", "~*", "+@all")
    try:
        url = f"redis://planner:s3cret-pw@127.0.0.1:{redis_server.port}/5"
        out = str(tmp_path / "fp.json")
        planned = cli("plan", str(_schedules(tmp_path)), "--redis-url", url, "--key-prefix",
                      "fp:", "--out", out)  # fmt: skip
        assert planned.code == 0, planned.all
        assert "s3cret-pw" not in planned.all + Path(out).read_text()
        assert (
            f"apply it with: redbeat-sync apply {out} --key-prefix fp:, giving the Redis URL "
            "(it holds a password, not repeated here) in REDBEAT_SYNC_REDIS_URL or --redis-url"
        ) in planned.stderr
        applied = cli("apply", out, "--key-prefix", "fp:", env={"REDBEAT_SYNC_REDIS_URL": url})
        assert applied.code == 0, applied.all  # same server: the masked URLs agree
    finally:
        admin.execute_command("ACL", "DELUSER", "planner")
        admin.close()

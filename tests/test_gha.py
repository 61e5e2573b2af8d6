"""The GitHub Action, run as GitHub runs it: ``python -m redbeat_sync.gha`` with the
runner's environment, against a real redis-server and a small local stand-in for the
three GitHub REST endpoints it uses (list, create and edit issue comments).
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import redis
import yaml

from redbeat_sync import gha

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = sorted([*ROOT.glob("examples/*.yaml"), *ROOT.glob("examples/*.yml")])
REPO = "acme/schedules"
TOKEN = "ghs_TestTokenNeverPrinted0123456789"
REDIS_PASSWORD = "s3cret-Pa55word"
PREFIX = "ci-test:"


# --------------------------------------------------------------------------- GitHub


@dataclass
class FakeGitHubState:
    """Comments kept in memory, and every request seen (method, path, headers, body)."""

    comments: dict[int, dict[str, Any]] = field(default_factory=dict)
    requests: list[dict[str, Any]] = field(default_factory=list)
    next_id: int = 1000
    lock: threading.Lock = field(default_factory=threading.Lock)


def make_handler(state: FakeGitHubState) -> type[BaseHTTPRequestHandler]:
    list_or_create = re.compile(rf"^/repos/{REPO}/issues/(\d+)/comments$")
    edit = re.compile(rf"^/repos/{REPO}/issues/comments/(\d+)$")

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # quiet test output
            pass

        def _reply(self, status: int, payload: Any) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _handle(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length)) if length else None
            path, _, query = self.path.partition("?")
            with state.lock:
                state.requests.append(
                    {"method": self.command, "path": path, "query": query,
                     "headers": dict(self.headers), "body": body}
                )  # fmt: skip
                if self.headers.get("Authorization") != f"Bearer {TOKEN}":
                    return self._reply(401, {"message": "Bad credentials"})
                if match := list_or_create.match(path):
                    issue = int(match.group(1))
                    if self.command == "GET":
                        params = dict(p.split("=") for p in query.split("&") if p)
                        per_page, page = int(params["per_page"]), int(params["page"])
                        mine = [c for c in state.comments.values() if c["issue"] == issue]
                        return self._reply(200, mine[(page - 1) * per_page : page * per_page])
                    if self.command == "POST":
                        state.next_id += 1
                        comment = {"id": state.next_id, "issue": issue, "body": body["body"]}
                        state.comments[state.next_id] = comment
                        return self._reply(201, comment)
                if (match := edit.match(path)) and self.command == "PATCH":
                    comment = state.comments.get(int(match.group(1)))
                    if comment is None:
                        return self._reply(404, {"message": "Not Found"})
                    comment["body"] = body["body"]
                    return self._reply(200, comment)
                return self._reply(404, {"message": "Not Found"})

        do_GET = do_POST = do_PATCH = _handle

    return Handler


@pytest.fixture
def github() -> Iterator[tuple[str, FakeGitHubState]]:
    state = FakeGitHubState()
    server = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(state))
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", state
    server.shutdown()
    server.server_close()


@pytest.fixture
def secret_redis_url(redis_url: str) -> Iterator[str]:
    """The test server's URL with a user and password (an ACL user made for this test)."""
    client = redis.Redis.from_url(redis_url)
    client.execute_command("ACL", "SETUSER", "ci", "on", f">{REDIS_PASSWORD}", "~*", "&*", "+@all")
    yield redis_url.replace("redis://", f"redis://ci:{REDIS_PASSWORD}@")
    client.execute_command("ACL", "DELUSER", "ci")
    client.close()


# --------------------------------------------------------------------------- running


@dataclass
class ActionRun:
    code: int
    log: str
    summary: str
    outputs: dict[str, str]


def run_action(
    tmp_path: Path,
    *,
    event_name: str,
    inputs: dict[str, str],
    api_url: str = "http://127.0.0.1:9",
    event: dict[str, Any] | None = None,
    extra_env: dict[str, str] | None = None,
) -> ActionRun:
    tmp_path.mkdir(parents=True, exist_ok=True)
    event_path = tmp_path / "event.json"
    event_path.write_text(json.dumps(event or {}), encoding="utf-8")
    summary, output = tmp_path / "summary.md", tmp_path / "output.txt"
    summary.write_text("")
    output.write_text("")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("REDBEAT_SYNC_", "INPUT_"))}
    env.update(
        {
            "GITHUB_ACTIONS": "true",
            "GITHUB_EVENT_NAME": event_name,
            "GITHUB_EVENT_PATH": str(event_path),
            "GITHUB_STEP_SUMMARY": str(summary),
            "GITHUB_OUTPUT": str(output),
            "GITHUB_API_URL": api_url,
            "GITHUB_SERVER_URL": "https://github.example",
            "GITHUB_REPOSITORY": REPO,
            "GITHUB_RUN_ID": "4242",
            "GITHUB_SHA": "0123456789abcdef0123456789abcdef01234567",
            "GITHUB_ACTOR": "octocat",
            "GITHUB_WORKFLOW": "beat schedules",
            "NO_COLOR": "1",
            # this checkout, whatever the venv's install points at (cwd is a temp dir)
            "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
        }
    )
    env.update(extra_env or {})
    for name, value in {"github-token": TOKEN, "key-prefix": PREFIX, **inputs}.items():
        env[gha.input_env_name(name)] = value
    done = subprocess.run(
        [sys.executable, "-m", "redbeat_sync.gha"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    outputs = dict(line.split("=", 1) for line in output.read_text().splitlines() if "=" in line)
    return ActionRun(done.returncode, done.stdout + done.stderr, summary.read_text(), outputs)


def assert_no_secret(*texts: str) -> None:
    for text in texts:
        for secret in (TOKEN, REDIS_PASSWORD):
            visible = [line for line in text.splitlines() if not line.startswith("::add-mask::")]
            assert secret not in "\n".join(visible)


def example_paths() -> str:
    return shlex.join(str(p) for p in EXAMPLES)


# --------------------------------------------------------------------------- tests


def test_pull_request_plan_comments_once_then_edits_it(
    tmp_path: Path, secret_redis_url: str, github: tuple[str, FakeGitHubState]
) -> None:
    api_url, state = github
    inputs = {"command": "plan", "paths": example_paths(), "redis-url": secret_redis_url}
    event = {"pull_request": {"number": 7}}

    first = run_action(
        tmp_path / "1", event_name="pull_request", inputs=inputs, api_url=api_url, event=event
    )
    assert first.code == 0, first.log
    assert first.outputs["has-changes"] == "true"
    assert first.outputs["exit-code"] == "2"
    assert int(first.outputs["to-create"]) >= 1
    assert {"to-update", "to-delete", "to-adopt"} <= first.outputs.keys()
    assert "### redbeat-sync plan for `ci-test:`" in first.summary
    assert f"**Plan: {first.outputs['to-create']} to create" in first.summary
    assert [r["method"] for r in state.requests] == ["GET", "POST"]
    (comment,) = state.comments.values()
    assert comment["issue"] == 7
    assert comment["body"].startswith("<!-- redbeat-sync-plan:ci-test: -->\n")
    assert "https://github.example/acme/schedules/actions/runs/4242" in comment["body"]

    second = run_action(
        tmp_path / "2", event_name="pull_request", inputs=inputs, api_url=api_url, event=event
    )
    assert second.code == 0, second.log
    assert [r["method"] for r in state.requests] == ["GET", "POST", "GET", "PATCH"]
    assert state.requests[-1]["path"] == f"/repos/{REPO}/issues/comments/{comment['id']}"
    assert len(state.comments) == 1  # edited in place, no second comment

    # The secret URL went to the CLI (it connected) but appears nowhere we publish.
    assert any(line == f"::add-mask::{REDIS_PASSWORD}" for line in first.log.splitlines())
    bodies = [json.dumps(r["body"]) for r in state.requests if r["body"]]
    assert_no_secret(first.log, first.summary, second.log, second.summary, *bodies)
    assert_no_secret(json.dumps(first.outputs), json.dumps(second.outputs))


def test_fail_on_changes_fails_the_step(tmp_path: Path, redis_url: str) -> None:
    inputs = {
        "command": "plan",
        "paths": example_paths(),
        "redis-url": redis_url,
        "fail-on-changes": "true",
    }
    run = run_action(tmp_path, event_name="push", inputs=inputs)
    assert run.code == 1
    assert run.outputs["exit-code"] == "2"
    assert "::error::redbeat-sync: the plan has changes" in run.log


def test_push_apply_then_plan_has_no_changes_and_drift_is_clean(
    tmp_path: Path, secret_redis_url: str, redis_client: redis.Redis
) -> None:
    paths = example_paths()
    applied = run_action(
        tmp_path / "apply",
        event_name="push",
        inputs={"command": "apply", "paths": paths, "redis-url": secret_redis_url},
    )
    assert applied.code == 0, applied.log
    assert applied.outputs["has-changes"] == "true"
    assert "## redbeat-sync apply: applied" in applied.summary
    assert redis_client.scard(PREFIX + ":sync:managed") == int(applied.outputs["to-create"])
    assert_no_secret(applied.log, applied.summary)

    again = run_action(
        tmp_path / "plan",
        event_name="push",
        inputs={"command": "plan", "paths": paths, "redis-url": secret_redis_url},
    )
    assert again.code == 0, again.log
    assert again.outputs["has-changes"] == "false"
    assert again.outputs["exit-code"] == "0"
    assert "**No changes.**" in again.summary

    drift = run_action(
        tmp_path / "drift",
        event_name="schedule",
        inputs={"command": "drift", "paths": paths, "redis-url": secret_redis_url},
    )
    assert drift.code == 0, drift.log
    assert drift.outputs["has-changes"] == "false"


def test_drift_fails_unless_warn_only(tmp_path: Path, redis_url: str) -> None:
    inputs = {"command": "drift", "paths": example_paths(), "redis-url": redis_url}
    failed = run_action(tmp_path / "a", event_name="schedule", inputs=inputs)
    assert failed.code == 1, failed.log
    assert failed.outputs["has-changes"] == "true"
    # The `redbeat-sync drift` command ran (not the plan fallback) and said what drifted.
    assert "### redbeat-sync drift" in failed.summary
    assert "in the files, not in Redis" in failed.summary
    warned = run_action(
        tmp_path / "b", event_name="schedule", inputs={**inputs, "drift-warn-only": "true"}
    )
    assert warned.code == 0, warned.log
    assert "::warning::redbeat-sync: Redis has drifted" in warned.log


def test_invalid_files_fail_and_are_reported_on_the_pull_request(
    tmp_path: Path, github: tuple[str, FakeGitHubState]
) -> None:
    api_url, state = github
    bad = tmp_path / "schedules" / "bad.yaml"
    bad.parent.mkdir()
    bad.write_text("entries: [this is: not, valid\n")
    run = run_action(
        tmp_path / "run",
        event_name="pull_request",
        inputs={"command": "plan", "paths": str(bad.parent)},
        api_url=api_url,
        event={"pull_request": {"number": 3}},
    )
    assert run.code == 1
    assert run.outputs["exit-code"] == "1"
    assert "redbeat-sync: the schedule files are invalid" in run.summary
    assert "bad.yaml" in run.summary
    (comment,) = state.comments.values()
    assert "the schedule files are invalid" in comment["body"]


def test_unreachable_redis_fails_without_printing_the_password(tmp_path: Path) -> None:
    url = f"redis://ci:{REDIS_PASSWORD}@127.0.0.1:9/0"
    run = run_action(
        tmp_path, event_name="push", inputs={"command": "plan", "paths": example_paths(),
                                             "redis-url": url}
    )  # fmt: skip
    assert run.code == 1
    assert run.outputs["exit-code"] == "1"
    assert "plan failed" in run.summary
    assert_no_secret(run.log, run.summary)


def test_bad_command_input_is_one_error_line(tmp_path: Path) -> None:
    run = run_action(tmp_path, event_name="push", inputs={"command": "destroy"})
    assert run.code == 1
    assert "::error::redbeat-sync action: input command must be one of" in run.log
    assert "Traceback" not in run.log


# --------------------------------------------------------------------------- files


def test_action_yml_inputs_match_what_gha_reads() -> None:
    action = yaml.safe_load((ROOT / "action.yml").read_text())
    assert action["runs"]["using"] == "composite"
    inputs = set(action["inputs"])
    assert inputs == {*gha.INPUTS, "python-version"}
    steps = action["runs"]["steps"]
    assert steps[0]["uses"].startswith("actions/setup-python@")
    assert "${{ inputs.python-version }}" in steps[0]["with"]["python-version"]
    run_step = next(s for s in steps if s.get("id") == "run")
    assert run_step["run"] == '"$ACTION_PYTHON" -m redbeat_sync.gha'
    assert run_step["env"] == {
        "ACTION_PYTHON": "${{ steps.install.outputs.python }}",
        **{gha.input_env_name(name): f"${{{{ inputs.{name} }}}}" for name in gha.INPUTS},
    }
    for name, default in gha.INPUTS.items():  # one default, in both places
        if name != "github-token":
            assert str(action["inputs"][name].get("default", "")) == default, name
    assert action["inputs"]["github-token"]["default"] == "${{ github.token }}"
    assert set(action["outputs"]) == set(gha.OUTPUTS)
    for name in gha.OUTPUTS:
        assert action["outputs"][name]["value"] == f"${{{{ steps.run.outputs.{name} }}}}"


def test_pre_commit_hook_definition() -> None:
    (hook,) = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())
    assert hook["id"] == "redbeat-sync-validate"
    assert hook["entry"] == "redbeat-sync validate"
    assert hook["language"] == "python"
    assert hook["pass_filenames"] is True
    files = re.compile(hook["files"])
    assert files.search("schedules/reports.yaml") and files.search("app/schedules/a/b.yml")
    assert not files.search("schedules/notes.md") and not files.search(".github/x.yaml")


def test_documented_workflow_uses_the_action_inputs() -> None:
    workflow = yaml.safe_load((ROOT / "docs" / "github-workflow.yml").read_text())
    triggers = workflow[True]  # YAML 1.1 reads the key `on` as True
    assert {"pull_request", "push", "schedule"} <= set(triggers)
    commands = []
    for job in workflow["jobs"].values():
        assert job["timeout-minutes"] > 0
        for step in job["steps"]:
            if "redbeat-sync" in step.get("uses", ""):
                assert set(step["with"]) <= set(gha.INPUTS)
                commands.append(step["with"]["command"])
    assert commands == ["plan", "apply", "drift"]
    # One apply per key prefix at a time: the group names the prefix the apply uses.
    apply = workflow["jobs"]["apply"]
    (step,) = [s for s in apply["steps"] if "redbeat-sync" in s.get("uses", "")]
    prefix_variable = step["with"]["key-prefix"].removeprefix("${{ ").removesuffix(" }}")
    assert prefix_variable in apply["concurrency"]["group"]
    assert apply["concurrency"]["cancel-in-progress"] is False


def test_comment_marker_cannot_close_the_html_comment() -> None:
    marker = gha.comment_marker("evil-->prefix:")
    assert marker.count("-->") == 1 and marker.endswith(" -->")


# --------------------------------------------------------------------------- comments


def test_upsert_finds_our_comment_on_a_later_page(github: tuple[str, FakeGitHubState]) -> None:
    api_url, state = github
    marker = gha.comment_marker("app:")
    for i in range(150):  # someone else's chatter fills page 1
        state.comments[i] = {"id": i, "issue": 5, "body": f"lgtm {i}"}
    state.comments[500] = {"id": 500, "issue": 5, "body": f"{marker}\nold plan"}
    state.comments[501] = {"id": 501, "issue": 6, "body": f"{marker}\nother PR"}
    api = gha.IssueComments(api_url, REPO, TOKEN)
    assert gha.upsert_comment(api, 5, marker, f"{marker}\nnew plan") == "updated"
    assert state.comments[500]["body"] == f"{marker}\nnew plan"
    assert state.comments[501]["body"] == f"{marker}\nother PR"
    assert [r["query"] for r in state.requests if r["method"] == "GET"] == [
        "per_page=100&page=1",
        "per_page=100&page=2",
    ]
    assert state.requests[0]["headers"]["Authorization"] == f"Bearer {TOKEN}"


def test_upsert_posts_when_only_another_prefix_has_a_comment(
    github: tuple[str, FakeGitHubState],
) -> None:
    api_url, state = github
    state.comments[1] = {"id": 1, "issue": 5, "body": gha.comment_marker("staging:")}
    api = gha.IssueComments(api_url, REPO, TOKEN)
    assert gha.upsert_comment(api, 5, gha.comment_marker("prod:"), "prod plan") == "created"
    assert len(state.comments) == 2


def test_refused_token_is_a_comment_error_not_a_crash(github: tuple[str, FakeGitHubState]) -> None:
    api_url, _ = github
    api = gha.IssueComments(api_url, REPO, "wrong-token")
    with pytest.raises(gha.CommentError, match="HTTP 401"):
        gha.upsert_comment(api, 5, gha.comment_marker("x:"), "body")


def test_secrets_scrub_url_password_and_token() -> None:
    secrets = gha.Secrets()
    secrets.add_url("rediss://user:p%40ss-word@redis.example:6380/1")
    secrets.add(TOKEN)
    masks = secrets.mask_commands()
    assert "::add-mask::p%40ss-word" in masks and "::add-mask::p@ss-word" in masks
    text = f"token {TOKEN} pw p@ss-word url rediss://user:p%40ss-word@redis.example:6380/1"
    scrubbed = secrets.scrub(text)
    assert TOKEN not in scrubbed and "p@ss-word" not in scrubbed and "p%40ss" not in scrubbed
    assert "redis.example:6380" in scrubbed


def test_validate_needs_no_redis_and_does_not_comment(
    tmp_path: Path, github: tuple[str, FakeGitHubState]
) -> None:
    api_url, state = github
    run = run_action(
        tmp_path,
        event_name="pull_request",
        inputs={"command": "validate", "paths": example_paths()},
        api_url=api_url,
        event={"pull_request": {"number": 2}},
    )
    assert run.code == 0, run.log
    assert run.outputs["exit-code"] == "0"
    assert "### redbeat-sync validate" in run.summary and "OK:" in run.summary
    assert state.requests == []


def test_a_refused_comment_warns_and_keeps_the_summary(
    tmp_path: Path, redis_url: str, github: tuple[str, FakeGitHubState]
) -> None:
    api_url, state = github  # e.g. a fork's read-only token
    run = run_action(
        tmp_path,
        event_name="pull_request",
        inputs={
            "command": "plan",
            "paths": example_paths(),
            "redis-url": redis_url,
            "github-token": "ghs_ReadOnlyForkToken000",
        },
        api_url=api_url,
        event={"pull_request": {"number": 9}},
    )
    assert run.code == 0, run.log
    assert "::warning::could not comment on #9: GET" in run.log and "HTTP 401" in run.log
    assert "**Plan: " in run.summary
    assert state.comments == {}
    shown = [line for line in run.log.splitlines() if not line.startswith("::add-mask::")]
    assert "ghs_ReadOnlyForkToken000" not in "\n".join(shown)


# --------------------------------------------------------------------------- the contract


def assert_failed_cleanly(run: ActionRun) -> None:
    """Failed, said why in one error line, and nothing reads as changes."""
    assert run.code == 1, run.log
    assert "Traceback" not in run.log and "Traceback" not in run.summary
    assert run.outputs["has-changes"] == "false"
    assert run.outputs["exit-code"] != "2"
    assert any(line.startswith("::error::") for line in run.log.splitlines())


def test_a_mistyped_option_is_an_input_error_not_changes(tmp_path: Path, redis_url: str) -> None:
    """A typo in extra-args once exited 2 (click's usage code): read as changes, then a
    traceback on the plan file that was never written."""
    run = run_action(
        tmp_path,
        event_name="push",
        inputs={"command": "plan", "paths": example_paths(), "redis-url": redis_url,
                "extra-args": "--no-such-option"},
    )  # fmt: skip
    assert_failed_cleanly(run)
    assert "::error::redbeat-sync action: input extra-args: redbeat-sync plan: " in run.log
    assert "--no-such-option" in run.log
    assert "::group::redbeat-sync" not in run.log  # found before any command ran


@pytest.mark.parametrize("command", ["plan", "apply", "drift"])
def test_a_bad_app_fails_and_is_not_changes(
    tmp_path: Path, redis_url: str, redis_client: redis.Redis, command: str
) -> None:
    """``--app`` is only imported when the command runs: whatever the CLI exits with for
    it, the step fails, has-changes stays false, and nothing is written."""
    run = run_action(
        tmp_path,
        event_name="schedule",
        inputs={"command": command, "paths": example_paths(), "redis-url": redis_url,
                "extra-args": "--app no_such_module_xyz:app", "drift-warn-only": "true"},
    )  # fmt: skip
    assert_failed_cleanly(run)
    assert "no_such_module_xyz" in run.log
    assert redis_client.dbsize() == 0


def test_missing_paths_are_one_error_line(tmp_path: Path) -> None:
    run = run_action(
        tmp_path, event_name="push", inputs={"command": "validate", "paths": "schedules extra"}
    )
    assert_failed_cleanly(run)
    assert "::error::redbeat-sync action: input paths: schedules, extra: no such file" in run.log


def test_an_unclosed_quote_in_an_input_is_one_error_line(tmp_path: Path) -> None:
    run = run_action(
        tmp_path, event_name="push", inputs={"command": "validate", "paths": '"my dir'}
    )
    assert_failed_cleanly(run)
    assert "input paths cannot be split into arguments" in run.log


def test_plan_without_a_redis_url_validates_then_says_so(tmp_path: Path) -> None:
    """No silent fall back to redis://localhost:6379 (a fork's PR has no secrets)."""
    run = run_action(
        tmp_path, event_name="push", inputs={"command": "plan", "paths": example_paths()}
    )
    assert_failed_cleanly(run)
    assert "::group::redbeat-sync validate" in run.log
    assert "::group::redbeat-sync plan" not in run.log
    assert "reads Redis but input redis-url is empty" in run.log


BAD_FILE = """\
version: 1
entries:
  bad:
    task: t
    schedule: {every: -5}
  worse:
    task: "100% sure, really"
    schedule: {cron: "99 * * * *"}
"""


def test_validation_problems_are_annotations_on_the_file_lines(tmp_path: Path) -> None:
    workspace = tmp_path / "checkout"
    (workspace / "schedules").mkdir(parents=True)
    (workspace / "schedules" / "bad.yaml").write_text(BAD_FILE)
    run = run_action(
        workspace,
        event_name="pull_request",
        inputs={"command": "validate", "paths": "schedules"},
        extra_env={"GITHUB_WORKSPACE": str(workspace)},
    )
    assert_failed_cleanly(run)
    annotations = [line for line in run.log.splitlines() if line.startswith("::error file=")]
    assert annotations == [
        "::error file=schedules/bad.yaml,line=5,col=23,"
        "title=redbeat-sync%3A entries.bad.schedule.every::"
        "expected a duration greater than zero, got -5",
        "::error file=schedules/bad.yaml,line=7,col=11,"
        "title=redbeat-sync%3A entries.worse.task::"
        "expected a Celery task name without spaces, usually dotted like "
        "app.tasks.send_report; got '100%25 sure, really'",
        "::error file=schedules/bad.yaml,line=8,col=22,"
        "title=redbeat-sync%3A entries.worse.schedule.cron::"
        "the minute field '99' is not valid for Celery's crontab: 99 is outside 0-59",
    ]


def test_workflow_command_escaping() -> None:
    from redbeat_sync.gha.workflow_commands import command

    line = command("error", "50% done\nnext: line", file="a,b:c.yaml", line=3, col=None)
    assert line == "::error file=a%2Cb%3Ac.yaml,line=3::50%25 done%0Anext: line"


def test_cli_output_is_fenced_from_workflow_commands(tmp_path: Path) -> None:
    """Output of the CLI (which may quote a PR's file) cannot act as a workflow command."""
    run = run_action(
        tmp_path, event_name="push", inputs={"command": "validate", "paths": example_paths()}
    )
    assert run.code == 0, run.log
    lines = run.log.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("::stop-commands::"))
    token = lines[start].removeprefix("::stop-commands::")
    assert len(token) >= 32
    end = lines.index(f"::{token}::")
    assert any(line.startswith("OK: ") for line in lines[start:end])


STREAM_DRIVER = """
import json, os, sys
from redbeat_sync.gha.clirun import stream_command
from redbeat_sync.gha.masking import Secrets
secrets = Secrets()
secrets.add("hunter2-secret")
result = stream_command([sys.executable, "-c", sys.argv[1]], dict(os.environ), secrets)
print("RESULT " + json.dumps([result.code, result.stdout, result.stderr]), flush=True)
"""

STREAM_CHILD = """
import os, sys, time
print("first line, password hunter2-secret")  # no flush: the runner makes it unbuffered
sys.stderr.write("on stderr\\n")
deadline = time.monotonic() + 120  # a safety net, not a measurement
while not os.path.exists(os.environ["GO_ON"]) and time.monotonic() < deadline:
    time.sleep(0.02)
print("second line" if os.path.exists(os.environ["GO_ON"]) else "GAVE UP")
sys.exit(5)
"""


def test_cli_output_streams_live_while_the_command_runs(tmp_path: Path) -> None:
    """The child waits for a file the test creates only after it has seen the child's
    first line in the runner's output: with output held until exit, it never would."""
    go_on = tmp_path / "go-on"
    python_path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    env = {**os.environ, "GO_ON": str(go_on), "PYTHONPATH": python_path}
    driver = subprocess.Popen(
        [sys.executable, "-c", STREAM_DRIVER, STREAM_CHILD],
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert driver.stdout is not None
    seen = []
    for line in driver.stdout:
        seen.append(line.rstrip("\n"))
        if line.startswith("first line"):
            go_on.touch()
    driver.wait(timeout=120)
    # stdout and stderr are pumped by two threads: only each stream's own order is kept
    assert seen.index("first line, password ***") < seen.index("second line")
    assert "on stderr" in seen
    code, stdout, stderr = json.loads(seen[-1].removeprefix("RESULT "))
    assert "GAVE UP" not in stdout
    assert (code, stdout, stderr) == (
        5,
        "first line, password ***\nsecond line\n",
        "on stderr\n",
    )


def test_a_bug_in_the_action_is_one_error_line_with_the_details_folded(tmp_path: Path) -> None:
    summary_dir = tmp_path / "summary-is-a-directory"
    summary_dir.mkdir()
    run = run_action(
        tmp_path / "run",
        event_name="push",
        inputs={"command": "validate", "paths": example_paths()},
        extra_env={"GITHUB_STEP_SUMMARY": str(summary_dir)},
    )
    assert run.code == 3
    lines = run.log.splitlines()
    (error,) = [line for line in lines if line.startswith("::error::")]
    assert "internal error (IsADirectoryError" in error and "please report it" in error
    start = lines.index("::group::details for the bug report")
    end = lines.index("::endgroup::", start)
    assert all("Traceback" not in line for line in lines[:start] + lines[end:])
    assert any("Traceback" in line for line in lines[start:end])

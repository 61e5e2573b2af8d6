"""The GitHub Action (action.yml) as a Python module: ``python -m redbeat_sync.gha``.

The action's only step besides installing runs this with its inputs in ``INPUT_*``
environment variables (the same names GitHub gives JavaScript actions).  Every
redbeat-sync command runs as a subprocess (``python -m redbeat_sync ...``) so what the
job log shows and the exit codes are exactly the CLI's; this module only wires them to
GitHub: the job summary, one pull-request comment kept up to date, step outputs.

Commands (input ``command``):

- ``validate``: check the files, offline.
- ``plan``: validate, then ``plan --detailed-exitcode --out FILE``; the saved plan is
  rendered as Markdown into the job summary and, on a pull request, into ONE comment
  found again by a hidden marker (``<!-- redbeat-sync-plan:PREFIX -->``) and edited
  in place on every push.  Changes are success unless ``fail-on-changes``.
- ``apply``: validate, plan to a file, ``apply FILE --auto-approve`` (so exactly the
  summarized plan is applied, and a state that moved in between is refused).
- ``drift``: ``redbeat-sync drift`` when this version has it, else a plan; changes
  (exit 2) fail the step unless ``drift-warn-only``.

Secrets: the Redis URL reaches the CLI only through ``REDBEAT_SYNC_REDIS_URL`` (never
on a command line), is masked with ``::add-mask::`` (with its password alone), and
every text written to the summary, a comment or an output is scrubbed of it and of
the token.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .plan.actions import Plan
from .plan.planfile import load_plan
from .plan.render_markdown import render_markdown
from .redact import redact
from .state.layout import DEFAULT_PREFIX

#: Inputs of action.yml, read from ``INPUT_<NAME>`` (upper case, ``-`` -> ``_``).
INPUTS: dict[str, str] = {
    "paths": "schedules",
    "redis-url": "",
    "key-prefix": "",
    "command": "plan",
    "extra-args": "",
    "apply-args": "",
    "message": "",
    "github-token": "",
    "comment": "true",
    "fail-on-changes": "false",
    "drift-warn-only": "false",
}
OUTPUTS = ("has-changes", "to-create", "to-update", "to-delete", "to-adopt", "exit-code")
COMMANDS = ("validate", "plan", "apply", "drift")
PR_EVENTS = ("pull_request", "pull_request_target")
EXIT_OK, EXIT_ERROR, EXIT_CHANGES = 0, 1, 2
#: GitHub's limit is 65,536 characters; the marker and footer need a little room.
COMMENT_PLAN_CHARS = 60_000
#: Variables the CLI must not see (it needs none of them).
_HIDDEN_FROM_CLI = ("INPUT_GITHUB_TOKEN", "GITHUB_TOKEN", "INPUT_REDIS_URL")


class ActionError(Exception):
    """A mistake in the workflow (bad input): one ``::error::`` line, exit 1."""


class CommentError(Exception):
    """The GitHub API refused or failed a comment request."""


def input_env_name(name: str) -> str:
    return "INPUT_" + name.upper().replace("-", "_")


def read_input(env: Mapping[str, str], name: str) -> str:
    return env.get(input_env_name(name), "").strip() or INPUTS[name]


def read_flag(env: Mapping[str, str], name: str) -> bool:
    value = read_input(env, name).lower()
    if value not in ("true", "false"):
        raise ActionError(f"input {name} must be true or false, not {value!r}")
    return value == "true"


# --------------------------------------------------------------------------- secrets


@dataclass
class Secrets:
    """Strings that must never be printed, and the scrubbing of texts we publish."""

    values: list[str] = field(default_factory=list)

    def add(self, value: str) -> None:
        if value and len(value) >= 4 and value not in self.values:
            self.values.append(value)

    def add_url(self, url: str) -> None:
        self.add(url)
        password = urllib.parse.urlsplit(url).password if "://" in url else None
        if password:
            self.add(password)
            self.add(urllib.parse.unquote(password))

    def mask_commands(self) -> list[str]:
        return [f"::add-mask::{value}" for value in self.values]

    def scrub(self, text: str) -> str:
        text = redact(text)
        for value in sorted(self.values, key=len, reverse=True):
            text = text.replace(value, "***")
        return text


# --------------------------------------------------------------------------- GitHub


@dataclass
class GitHub:
    """The few facts of the run this module needs, from GitHub's environment."""

    event_name: str
    event: dict[str, Any]
    repository: str
    api_url: str
    server_url: str
    run_id: str
    run_attempt: str
    sha: str
    actor: str
    workflow: str
    summary_path: str | None
    output_path: str | None

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> GitHub:
        event: dict[str, Any] = {}
        event_path = env.get("GITHUB_EVENT_PATH")
        if event_path and Path(event_path).is_file():
            try:
                event = json.loads(Path(event_path).read_text(encoding="utf-8"))
            except (OSError, ValueError):
                event = {}
        return cls(
            event_name=env.get("GITHUB_EVENT_NAME", ""),
            event=event if isinstance(event, dict) else {},
            repository=env.get("GITHUB_REPOSITORY", ""),
            api_url=env.get("GITHUB_API_URL", "https://api.github.com").rstrip("/"),
            server_url=env.get("GITHUB_SERVER_URL", "https://github.com").rstrip("/"),
            run_id=env.get("GITHUB_RUN_ID", ""),
            run_attempt=env.get("GITHUB_RUN_ATTEMPT", ""),
            sha=env.get("GITHUB_SHA", ""),
            actor=env.get("GITHUB_ACTOR", ""),
            workflow=env.get("GITHUB_WORKFLOW", ""),
            summary_path=env.get("GITHUB_STEP_SUMMARY") or None,
            output_path=env.get("GITHUB_OUTPUT") or None,
        )

    @property
    def pull_request_number(self) -> int | None:
        if self.event_name not in PR_EVENTS:
            return None
        number = (self.event.get("pull_request") or {}).get("number")
        return number if isinstance(number, int) else None

    @property
    def run_url(self) -> str | None:
        if not (self.repository and self.run_id):
            return None
        url = f"{self.server_url}/{self.repository}/actions/runs/{self.run_id}"
        return url + (f"/attempts/{self.run_attempt}" if self.run_attempt else "")

    def write_summary(self, markdown: str) -> None:
        if self.summary_path:
            with open(self.summary_path, "a", encoding="utf-8") as handle:
                handle.write(markdown.rstrip("\n") + "\n\n")

    def write_outputs(self, outputs: Mapping[str, str]) -> None:
        if self.output_path:
            with open(self.output_path, "a", encoding="utf-8") as handle:
                for name, value in outputs.items():
                    handle.write(f"{name}={value}\n")


class IssueComments:
    """List, create and edit the comments of one issue or pull request (REST API)."""

    PER_PAGE = 100

    def __init__(self, api_url: str, repository: str, token: str, timeout: float = 30) -> None:
        self.base = f"{api_url}/repos/{repository}"
        self.token = token
        self.timeout = timeout

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        request = urllib.request.Request(
            self.base + path,
            data=json.dumps(body).encode() if body is not None else None,
            method=method,
            headers={
                "Accept": "application/vnd.github+json",
                "Authorization": f"Bearer {self.token}",
                "X-GitHub-Api-Version": "2022-11-28",
                "Content-Type": "application/json",
                "User-Agent": "redbeat-sync-action",
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                payload = response.read()
        except urllib.error.HTTPError as exc:
            raise CommentError(f"{method} {path}: HTTP {exc.code} {exc.reason}") from None
        except (urllib.error.URLError, OSError) as exc:
            raise CommentError(f"{method} {path}: {exc}") from None
        return json.loads(payload) if payload else None

    def list(self, issue: int) -> list[dict[str, Any]]:
        comments: list[dict[str, Any]] = []
        page = 1
        while True:
            batch = self._call(
                "GET", f"/issues/{issue}/comments?per_page={self.PER_PAGE}&page={page}"
            )
            if not isinstance(batch, list):
                raise CommentError(f"listing comments of #{issue}: unexpected answer")
            comments += batch
            if len(batch) < self.PER_PAGE:
                return comments
            page += 1

    def create(self, issue: int, body: str) -> dict[str, Any]:
        return self._call("POST", f"/issues/{issue}/comments", {"body": body})

    def update(self, comment_id: int, body: str) -> dict[str, Any]:
        return self._call("PATCH", f"/issues/comments/{comment_id}", {"body": body})


def comment_marker(prefix: str) -> str:
    """Hidden marker naming our comment; one per key prefix (one per deployment)."""
    safe = prefix.replace("--", "-\u200b-").replace(">", "&gt;")
    return f"<!-- redbeat-sync-plan:{safe} -->"


def upsert_comment(api: IssueComments, issue: int, marker: str, body: str) -> str:
    """Edit our earlier comment (found by ``marker``) or post one: "updated"/"created"."""
    for comment in api.list(issue):
        if marker in (comment.get("body") or ""):
            try:
                api.update(int(comment["id"]), body)
                return "updated"
            except CommentError:
                break  # not ours to edit (another token wrote it): post a new one
    api.create(issue, body)
    return "created"


# --------------------------------------------------------------------------- the CLI


@dataclass(frozen=True)
class CliResult:
    code: int
    stdout: str
    stderr: str


def run_cli(args: Sequence[str], env: Mapping[str, str], secrets: Secrets) -> CliResult:
    """Run ``redbeat-sync ARGS``; echo its output (scrubbed) into the job log."""
    print(f"::group::redbeat-sync {shlex.join(args)}", flush=True)
    done = subprocess.run(
        [sys.executable, "-m", "redbeat_sync", *args],
        env=dict(env),
        capture_output=True,
        text=True,
        check=False,
    )
    result = CliResult(done.returncode, secrets.scrub(done.stdout), secrets.scrub(done.stderr))
    sys.stdout.write(result.stdout)
    sys.stdout.write(result.stderr)
    print(f"(exit code {result.code})", flush=True)
    print("::endgroup::", flush=True)
    return result


def has_cli_command(name: str) -> bool:
    from .cli import main

    return name in main.commands


def fenced(text: str, info: str = "text") -> str:
    """``text`` in a fenced code block that no backtick run inside it can close."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}{info}\n{text.rstrip()}\n{fence}"


def failure_markdown(title: str, result: CliResult, log_url: str | None) -> str:
    output = (result.stderr or result.stdout).strip() or "(no output)"
    if len(output) > 50_000:
        output = output[:50_000] + "\n… (cut; see the job log)"
    where = f" ([job log]({log_url}))" if log_url else ""
    return f"### redbeat-sync: {title}{where}\n\n{fenced(output)}\n"


def plan_outputs(plan: Plan | None, code: int) -> dict[str, str]:
    summary = plan.summary() if plan is not None else {}
    return {
        "has-changes": "true" if plan is not None and plan.has_changes else "false",
        "to-create": str(summary.get("create", 0)),
        "to-update": str(summary.get("update", 0)),
        "to-delete": str(summary.get("delete", 0)),
        "to-adopt": str(summary.get("adopt", 0)),
        "exit-code": str(code),
    }


# --------------------------------------------------------------------------- the run


@dataclass
class Run:
    """One invocation of the action: inputs, GitHub facts, and what to publish."""

    env: Mapping[str, str]
    github: GitHub
    secrets: Secrets
    command: str
    paths: list[str]
    extra_args: list[str]
    apply_args: list[str]
    prefix: str
    token: str
    comment: bool
    fail_on_changes: bool
    drift_warn_only: bool
    message: str
    cli_env: dict[str, str]
    workdir: Path

    @classmethod
    def from_env(cls, env: Mapping[str, str], workdir: Path) -> Run:
        secrets = Secrets()
        redis_url = read_input(env, "redis-url")
        token = read_input(env, "github-token")
        secrets.add_url(redis_url)
        secrets.add(token)
        for line in secrets.mask_commands():  # first, before anything else is printed
            print(line, flush=True)
        command = read_input(env, "command")
        if command not in COMMANDS:
            raise ActionError(f"input command must be one of {', '.join(COMMANDS)}: {command!r}")
        paths = shlex.split(read_input(env, "paths"))
        if not paths:
            raise ActionError("input paths is empty")
        cli_env = {k: v for k, v in env.items() if k not in _HIDDEN_FROM_CLI}
        if redis_url:
            cli_env["REDBEAT_SYNC_REDIS_URL"] = redis_url
        prefix = read_input(env, "key-prefix")
        if prefix:
            cli_env["REDBEAT_SYNC_KEY_PREFIX"] = prefix
        cli_env.setdefault("NO_COLOR", "1")
        return cls(
            env=env,
            github=GitHub.from_env(env),
            secrets=secrets,
            command=command,
            paths=paths,
            extra_args=shlex.split(read_input(env, "extra-args")),
            apply_args=shlex.split(read_input(env, "apply-args")),
            prefix=prefix or env.get("REDBEAT_SYNC_KEY_PREFIX") or DEFAULT_PREFIX,
            token=token,
            comment=read_flag(env, "comment"),
            fail_on_changes=read_flag(env, "fail-on-changes"),
            drift_warn_only=read_flag(env, "drift-warn-only"),
            message=read_input(env, "message"),
            cli_env=cli_env,
            workdir=workdir,
        )

    # --- publishing ---------------------------------------------------------

    def cli(self, *args: str) -> CliResult:
        return run_cli(list(args), self.cli_env, self.secrets)

    def publish(self, markdown: str, *, comment: bool = True) -> None:
        """Job summary always; the pull request comment when there is one to write."""
        markdown = self.secrets.scrub(markdown)
        self.github.write_summary(markdown)
        issue = self.github.pull_request_number
        if not (comment and self.comment and issue is not None):
            return
        if not self.token:
            print("::warning::no github-token: the plan is only in the job summary")
            return
        marker = comment_marker(self.prefix)
        footer = self.footer()
        body = f"{marker}\n{markdown.rstrip()}\n\n{footer}\n"
        api = IssueComments(self.github.api_url, self.github.repository, self.token)
        try:
            how = upsert_comment(api, issue, marker, body)
        except CommentError as exc:
            # e.g. a pull request from a fork gets a read-only token: keep the summary
            print(f"::warning::could not comment on #{issue}: {self.secrets.scrub(str(exc))}")
            return
        print(f"redbeat-sync: {how} the plan comment on #{issue}", flush=True)

    def footer(self) -> str:
        parts = []
        if self.github.sha:
            parts.append(f"commit <code>{self.github.sha[:12]}</code>")
        if self.github.run_url:
            parts.append(f'<a href="{self.github.run_url}">workflow run</a>')
        return f"<sub>redbeat-sync {self.command}: {', '.join(parts)}</sub>" if parts else ""

    def finish(self, outputs: dict[str, str], exit_code: int) -> int:
        self.github.write_outputs({k: self.secrets.scrub(v) for k, v in outputs.items()})
        return exit_code

    # --- steps --------------------------------------------------------------

    def validate(self) -> CliResult:
        return self.cli("validate", *self.paths)

    def plan_to_file(self) -> tuple[CliResult, Plan | None]:
        plan_file = self.workdir / "plan.json"
        result = self.cli(
            "plan", *self.paths, "--detailed-exitcode", "--out", str(plan_file), *self.extra_args
        )
        if result.code not in (EXIT_OK, EXIT_CHANGES):
            return result, None
        return result, load_plan(plan_file)

    def plan_markdown(self, plan: Plan, title: str | None = None) -> str:
        text = render_markdown(plan, max_chars=COMMENT_PLAN_CHARS, log_url=self.github.run_url)
        return f"{title}\n\n{text}" if title else text

    def fail(self, title: str, result: CliResult, plan: Plan | None = None) -> int:
        self.publish(failure_markdown(title, result, self.github.run_url))
        print(f"::error::redbeat-sync: {title}", flush=True)
        return self.finish(plan_outputs(plan, result.code), EXIT_ERROR)

    # --- commands -----------------------------------------------------------

    def do_validate(self) -> int:
        result = self.validate()
        if result.code != EXIT_OK:
            return self.fail("the schedule files are invalid", result)
        self.publish(f"### redbeat-sync validate\n\n{result.stdout.strip()}\n", comment=False)
        return self.finish(plan_outputs(None, EXIT_OK), EXIT_OK)

    def do_plan(self) -> int:
        checked = self.validate()
        if checked.code != EXIT_OK:
            return self.fail("the schedule files are invalid", checked)
        result, plan = self.plan_to_file()
        if plan is None:
            return self.fail("plan failed", result)
        self.publish(self.plan_markdown(plan))
        if result.code == EXIT_CHANGES and self.fail_on_changes:
            print("::error::redbeat-sync: the plan has changes (fail-on-changes)", flush=True)
            return self.finish(plan_outputs(plan, result.code), EXIT_ERROR)
        return self.finish(plan_outputs(plan, result.code), EXIT_OK)

    def do_apply(self) -> int:
        checked = self.validate()
        if checked.code != EXIT_OK:
            return self.fail("the schedule files are invalid", checked)
        result, plan = self.plan_to_file()
        if plan is None:
            return self.fail("plan failed", result)
        if result.code == EXIT_OK:
            self.publish(self.plan_markdown(plan, "## redbeat-sync apply: nothing to do"))
            return self.finish(plan_outputs(plan, EXIT_OK), EXIT_OK)
        args = ["apply", str(self.workdir / "plan.json"), "--auto-approve"]
        if self.github.sha:
            args += ["--git-sha", self.github.sha]
        args += ["--message", self.message or self.default_message()]
        args += ["--who", f"github-actions:{self.github.actor or 'unknown'}"]
        applied = self.cli(*args, *self.extra_args, *self.apply_args)
        if applied.code != EXIT_OK:
            return self.fail("apply failed; see the plan it refused below", applied, plan)
        self.publish(self.plan_markdown(plan, "## redbeat-sync apply: applied"))
        return self.finish(plan_outputs(plan, EXIT_OK), EXIT_OK)

    def default_message(self) -> str:
        where = self.github.run_url or "GitHub Actions"
        workflow = self.github.workflow or "workflow"
        return f"{workflow} ({self.github.event_name or 'manual'}) {where}"

    def do_drift(self) -> int:
        if has_cli_command("drift"):
            # Exit 2 on drift, like plan --detailed-exitcode (the step decides).
            result = self.cli("drift", *self.paths, "--detailed-exitcode", *self.extra_args)
            plan = None
            if result.code in (EXIT_OK, EXIT_CHANGES):
                self.publish(f"### redbeat-sync drift\n\n{fenced(result.stdout)}\n")
        else:  # no drift command in this version: drift is a plan that has changes
            result, plan = self.plan_to_file()
            if plan is not None:
                self.publish(self.plan_markdown(plan, "## redbeat-sync drift check"))
        if result.code not in (EXIT_OK, EXIT_CHANGES):
            return self.fail("drift check failed", result)
        outputs = plan_outputs(plan, result.code)
        outputs["has-changes"] = "true" if result.code == EXIT_CHANGES else "false"
        if result.code == EXIT_CHANGES:
            level = "warning" if self.drift_warn_only else "error"
            print(f"::{level}::redbeat-sync: Redis has drifted from the schedule files")
            if not self.drift_warn_only:
                return self.finish(outputs, EXIT_ERROR)
        return self.finish(outputs, EXIT_OK)

    def execute(self) -> int:
        return {
            "validate": self.do_validate,
            "plan": self.do_plan,
            "apply": self.do_apply,
            "drift": self.do_drift,
        }[self.command]()


def main(env: Mapping[str, str] | None = None) -> int:
    environment = dict(os.environ if env is None else env)
    with tempfile.TemporaryDirectory(prefix="redbeat-sync-") as workdir:
        try:
            run = Run.from_env(environment, Path(workdir))
            return run.execute()
        except ActionError as exc:
            print(f"::error::redbeat-sync action: {exc}", flush=True)
            return EXIT_ERROR


if __name__ == "__main__":
    sys.exit(main())

"""One run of the action: check the inputs, run the CLI steps, publish the results.

Exit codes of the CLI, and what the action makes of them:

- 0: success (no changes, no drift);
- 2: changes (plan) or drift (drift), and only when the command also produced what
  it produces in that case (the plan file, the drift report): ``has-changes=true``;
- 1 (an error), 3 (a bug in redbeat-sync) or anything else: the step fails and
  ``has-changes`` stays ``false``, whatever an older CLI's usage errors exit with.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import traceback
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from ..errors import RedbeatSyncError
from ..plan.actions import Plan
from ..plan.planfile import load_plan
from ..plan.render_markdown import render_markdown
from ..state.layout import DEFAULT_PREFIX
from .annotations import file_problems, problem_annotations
from .clirun import CliResult, check_cli_args, run_cli
from .github import CommentError, GitHub, IssueComments, comment_marker, upsert_comment
from .inputs import (
    COMMANDS,
    ActionError,
    read_flag,
    read_input,
    read_words,
)
from .masking import Secrets
from .workflow_commands import emit, group

OUTPUTS = ("has-changes", "to-create", "to-update", "to-delete", "to-adopt", "exit-code")
EXIT_OK, EXIT_ERROR, EXIT_CHANGES, EXIT_BUG = 0, 1, 2, 3
#: GitHub's limit is 65,536 characters; the marker and footer need a little room.
COMMENT_PLAN_CHARS = 60_000
#: Variables the CLI must not see (it needs none of them).
_HIDDEN_FROM_CLI = ("INPUT_GITHUB_TOKEN", "GITHUB_TOKEN", "INPUT_REDIS_URL")
#: Extra arguments that tell the CLI where Redis is.
_REDIS_FROM_ARGS = ("--redis-url", "--app")


class StepFailed(Exception):
    """A CLI step ended in a way that fails the action (published, then exit 1)."""

    def __init__(self, title: str, result: CliResult, plan: Plan | None = None) -> None:
        super().__init__(title)
        self.title, self.result, self.plan = title, result, plan


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


def failure_title(what: str, code: int) -> str:
    if code == EXIT_BUG:
        return f"{what}: redbeat-sync crashed (exit 3), a bug in redbeat-sync; please report it"
    return what


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


def missing_paths(paths: list[str]) -> list[str]:
    return [path for path in paths if not os.path.exists(path)]


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
    def from_env(
        cls, env: Mapping[str, str], github: GitHub, secrets: Secrets, workdir: Path
    ) -> Run:
        redis_url = read_input(env, "redis-url")
        token = read_input(env, "github-token")
        command = read_input(env, "command")
        if command not in COMMANDS:
            raise ActionError(f"input command must be one of {', '.join(COMMANDS)}: {command!r}")
        paths = read_words(env, "paths")
        if not paths:
            raise ActionError("input paths is empty")
        cli_env = {k: v for k, v in env.items() if k not in _HIDDEN_FROM_CLI}
        if redis_url:
            cli_env["REDBEAT_SYNC_REDIS_URL"] = redis_url
        prefix = read_input(env, "key-prefix")
        if prefix:
            cli_env["REDBEAT_SYNC_KEY_PREFIX"] = prefix
        cli_env.setdefault("NO_COLOR", "1")
        run = cls(
            env=env,
            github=github,
            secrets=secrets,
            command=command,
            paths=paths,
            extra_args=read_words(env, "extra-args"),
            apply_args=read_words(env, "apply-args"),
            prefix=prefix or env.get("REDBEAT_SYNC_KEY_PREFIX") or DEFAULT_PREFIX,
            token=token,
            comment=read_flag(env, "comment"),
            fail_on_changes=read_flag(env, "fail-on-changes"),
            drift_warn_only=read_flag(env, "drift-warn-only"),
            message=read_input(env, "message"),
            cli_env=cli_env,
            workdir=workdir,
        )
        run.check_preconditions()
        return run

    # --- preconditions ------------------------------------------------------

    def check_preconditions(self) -> None:
        """Mistakes in the workflow, found before any command runs (one error each)."""
        missing = missing_paths(self.paths)
        if missing:
            raise ActionError(
                f"input paths: {', '.join(missing)}: no such file or directory "
                f"(relative to {os.getcwd()}; did the job run actions/checkout?)"
            )
        for args, blame in self.planned_commands():
            check_cli_args(args, blame=blame)

    def require_redis(self) -> None:
        """Checked after validate, which needs no Redis (a fork's pull request has no
        secrets: its files are still validated).  Without this the CLI would fall back
        to redis://localhost:6379, perhaps a service of the job that is not the target."""
        if not self.redis_is_given():
            raise ActionError(
                f"command {self.command} reads Redis but input redis-url is empty: pass "
                "redis-url: ${{ secrets.REDBEAT_REDIS_URL }} (pull requests from forks "
                "get no secrets)"
            )

    def redis_is_given(self) -> bool:
        if self.cli_env.get("REDBEAT_SYNC_REDIS_URL"):
            return True
        return any(
            arg == flag or arg.startswith(flag + "=")
            for arg in self.extra_args
            for flag in _REDIS_FROM_ARGS
        )

    def planned_commands(self) -> list[tuple[list[str], str]]:
        """The CLI argument lists this run will use, and the inputs they come from."""
        commands: list[tuple[list[str], str]] = [(["validate", *self.paths], "input paths")]
        if self.command in ("plan", "apply"):
            commands.append((self.plan_args(), "input extra-args"))
        if self.command == "apply":
            commands.append((self.apply_args_list(), "input extra-args or apply-args"))
        if self.command == "drift":
            commands.append((self.drift_args(), "input extra-args"))
        return commands

    @property
    def plan_file(self) -> Path:
        return self.workdir / "plan.json"

    def plan_args(self) -> list[str]:
        return [
            "plan", *self.paths, "--detailed-exitcode", "--out", str(self.plan_file),
            *self.extra_args,
        ]  # fmt: skip

    def apply_args_list(self) -> list[str]:
        args = ["apply", str(self.plan_file), "--auto-approve"]
        if self.github.sha:
            args += ["--git-sha", self.github.sha]
        args += ["--message", self.message or self.default_message()]
        args += ["--who", f"github-actions:{self.github.actor or 'unknown'}"]
        return [*args, *self.extra_args, *self.apply_args]

    def drift_args(self) -> list[str]:
        return [
            "drift", *self.paths, "--detailed-exitcode", "--format", "markdown",
            *self.extra_args,
        ]  # fmt: skip

    def default_message(self) -> str:
        where = self.github.run_url or "GitHub Actions"
        workflow = self.github.workflow or "workflow"
        return f"{workflow} ({self.github.event_name or 'manual'}) {where}"

    # --- publishing ---------------------------------------------------------

    def cli(self, args: list[str]) -> CliResult:
        return run_cli(args, self.cli_env, self.secrets)

    def publish(self, markdown: str, *, comment: bool = True) -> None:
        """Job summary always; the pull request comment when there is one to write."""
        markdown = self.secrets.scrub(markdown)
        self.github.write_summary(markdown)
        issue = self.github.pull_request_number
        if not (comment and self.comment and issue is not None):
            return
        if not self.token:
            emit("warning", "no github-token: the plan is only in the job summary")
            return
        marker = comment_marker(self.prefix)
        body = f"{marker}\n{markdown.rstrip()}\n\n{self.footer()}\n"
        api = IssueComments(self.github.api_url, self.github.repository, self.token)
        try:
            how = upsert_comment(api, issue, marker, body)
        except CommentError as exc:
            # e.g. a pull request from a fork gets a read-only token: keep the summary
            emit("warning", f"could not comment on #{issue}: {self.secrets.scrub(str(exc))}")
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

    def fail(self, failed: StepFailed) -> int:
        self.publish(failure_markdown(failed.title, failed.result, self.github.run_url))
        emit("error", f"redbeat-sync: {failed.title}")
        # exit-code 0 and 2 mean success; a failure is never reported as either
        code = failed.result.code if failed.result.code not in (EXIT_OK, EXIT_CHANGES) else 1
        outputs = plan_outputs(failed.plan, code)
        outputs["has-changes"] = "false" if failed.plan is None else outputs["has-changes"]
        return self.finish(outputs, EXIT_ERROR)

    # --- steps --------------------------------------------------------------

    def validate(self) -> CliResult:
        result = self.cli(["validate", *self.paths])
        if result.code == EXIT_OK:
            return result
        if result.code == EXIT_ERROR:
            # The same problems, as annotations on the lines of the pull request's diff.
            for line in problem_annotations(file_problems(self.paths), self.github.workspace):
                print(self.secrets.scrub(line), flush=True)
        raise StepFailed(failure_title("the schedule files are invalid", result.code), result)

    def plan_to_file(self) -> tuple[CliResult, Plan]:
        result = self.cli(self.plan_args())
        if result.code not in (EXIT_OK, EXIT_CHANGES):
            raise StepFailed(failure_title("plan failed", result.code), result)
        if not self.plan_file.is_file():
            raise StepFailed(f"plan failed: it exited {result.code} but wrote no plan file", result)
        try:
            return result, load_plan(self.plan_file)
        except (RedbeatSyncError, OSError, ValueError) as exc:
            raise StepFailed(f"plan failed: its plan file is unreadable: {exc}", result) from None

    def plan_markdown(self, plan: Plan, title: str | None = None) -> str:
        text = render_markdown(plan, max_chars=COMMENT_PLAN_CHARS, log_url=self.github.run_url)
        return f"{title}\n\n{text}" if title else text

    # --- commands -----------------------------------------------------------

    def do_validate(self) -> int:
        result = self.validate()
        self.publish(f"### redbeat-sync validate\n\n{result.stdout.strip()}\n", comment=False)
        return self.finish(plan_outputs(None, EXIT_OK), EXIT_OK)

    def do_plan(self) -> int:
        self.validate()
        self.require_redis()
        result, plan = self.plan_to_file()
        self.publish(self.plan_markdown(plan))
        if result.code == EXIT_CHANGES and self.fail_on_changes:
            emit("error", "redbeat-sync: the plan has changes (fail-on-changes)")
            return self.finish(plan_outputs(plan, result.code), EXIT_ERROR)
        return self.finish(plan_outputs(plan, result.code), EXIT_OK)

    def do_apply(self) -> int:
        self.validate()
        self.require_redis()
        result, plan = self.plan_to_file()
        if result.code == EXIT_OK:
            self.publish(self.plan_markdown(plan, "## redbeat-sync apply: nothing to do"))
            return self.finish(plan_outputs(plan, EXIT_OK), EXIT_OK)
        applied = self.cli(self.apply_args_list())
        if applied.code != EXIT_OK:
            title = failure_title("apply failed; see the plan it refused below", applied.code)
            raise StepFailed(title, applied, plan)
        self.publish(self.plan_markdown(plan, "## redbeat-sync apply: applied"))
        return self.finish(plan_outputs(plan, EXIT_OK), EXIT_OK)

    def do_drift(self) -> int:
        self.validate()
        self.require_redis()
        result = self.cli(self.drift_args())
        if result.code not in (EXIT_OK, EXIT_CHANGES):
            raise StepFailed(failure_title("drift check failed", result.code), result)
        if result.code == EXIT_CHANGES and not result.stdout.strip():
            raise StepFailed("drift check failed: it exited 2 without a drift report", result)
        self.publish(f"### redbeat-sync drift\n\n{result.stdout.strip()}\n")
        outputs = plan_outputs(None, result.code)
        outputs["has-changes"] = "true" if result.code == EXIT_CHANGES else "false"
        if result.code == EXIT_CHANGES:
            level = "warning" if self.drift_warn_only else "error"
            emit(level, "redbeat-sync: Redis has drifted from the schedule files")
            if not self.drift_warn_only:
                return self.finish(outputs, EXIT_ERROR)
        return self.finish(outputs, EXIT_OK)

    def execute(self) -> int:
        steps = {
            "validate": self.do_validate,
            "plan": self.do_plan,
            "apply": self.do_apply,
            "drift": self.do_drift,
        }
        try:
            return steps[self.command]()
        except StepFailed as failed:
            return self.fail(failed)


def main(env: Mapping[str, str] | None = None) -> int:
    environment = dict(os.environ if env is None else env)
    github = GitHub.from_env(environment)
    secrets = Secrets()
    secrets.add_url(read_input(environment, "redis-url"))
    secrets.add(read_input(environment, "github-token"))
    for line in secrets.mask_commands():  # first, before anything else is printed
        print(line, flush=True)
    workdir = Path(tempfile.mkdtemp(prefix="redbeat-sync-", dir=environment.get("RUNNER_TEMP")))
    try:
        run = Run.from_env(environment, github, secrets, workdir)
        return run.execute()
    except ActionError as exc:
        emit("error", f"redbeat-sync action: {secrets.scrub(str(exc))}")
        github.write_outputs({**plan_outputs(None, EXIT_ERROR)})
        return EXIT_ERROR
    except Exception as exc:  # a bug in the action itself: short error, details folded
        emit(
            "error",
            f"redbeat-sync action: internal error ({type(exc).__name__}: "
            f"{secrets.scrub(str(exc))}); "
            "this is a bug in the action, please report it with the folded details",
        )
        with group("details for the bug report"):
            print(secrets.scrub(traceback.format_exc()), flush=True)
        github.write_outputs({**plan_outputs(None, EXIT_BUG)})
        return EXIT_BUG
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

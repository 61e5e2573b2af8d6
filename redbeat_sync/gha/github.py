"""GitHub's side of a run: the runner's environment, the job summary and outputs, and
the three REST calls behind the pull-request comment (list, create, edit)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PR_EVENTS = ("pull_request", "pull_request_target")


class CommentError(Exception):
    """The GitHub API refused or failed a comment request."""


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
    workspace: Path | None  # the checkout: annotation paths are relative to it

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
            workspace=Path(env["GITHUB_WORKSPACE"]) if env.get("GITHUB_WORKSPACE") else None,
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
        return self._object(self._call("POST", f"/issues/{issue}/comments", {"body": body}))

    def update(self, comment_id: int, body: str) -> dict[str, Any]:
        return self._object(self._call("PATCH", f"/issues/comments/{comment_id}", {"body": body}))

    @staticmethod
    def _object(answer: Any) -> dict[str, Any]:
        if not isinstance(answer, dict):
            raise CommentError("unexpected answer from the GitHub API")
        return answer


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

"""Exit codes and error lines of the real ``redbeat-sync`` command (issue 9 §2).

2 means "changes/drift" and nothing else: every error, click's usage errors included,
exits 1 with one line and no traceback; a bug in redbeat-sync exits 3 and saves its
traceback to a file instead of mixing it into the user's errors.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import redis
from child_env import bare_env
from click.testing import CliRunner

from redbeat_sync.cli import main

CLI = [sys.executable, "-m", "redbeat_sync"]
PREFIX = "rs-exit:"
FILES = "version: 1\nentries:\n  ping: {task: app.ping, schedule: {every: 30s}}\n"


def run(
    *args: str, redis_url: str | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    env = bare_env(REDBEAT_SYNC_KEY_PREFIX=PREFIX)
    if redis_url:
        env["REDBEAT_SYNC_REDIS_URL"] = redis_url
    return subprocess.run(
        [*CLI, *args], capture_output=True, text=True, env=env, cwd=cwd, timeout=120
    )


def assert_one_line_error(proc: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert proc.returncode == 1, (proc.returncode, proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr + proc.stdout
    for needle in needles:
        assert needle in proc.stderr, proc.stderr


@pytest.mark.parametrize(
    "args",
    [
        ("plan", "--detailed-exitcode", "--bogus", "x.yaml"),  # typo'd option
        ("drift", "--detailed-exitcode", "--warn-onyl", "x.yaml"),
        ("no-such-command",),
        ("plan",),  # missing argument
        ("show", "--format", "yaml"),  # bad choice
        ("history", "-n", "many"),  # not an integer
        ("plan", "--app", "no_such_module_xyz:app", "x.yaml"),  # bad --app
    ],
)
def test_usage_errors_exit_1_never_2(args: tuple[str, ...], tmp_path: Path) -> None:
    proc = run(*args, redis_url="redis://127.0.0.1:1/0", cwd=tmp_path)
    assert_one_line_error(proc, "Error:")


def test_changes_still_exit_2_with_detailed_exitcode(redis_url: str, tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(FILES, encoding="utf-8")
    proc = run("plan", "--detailed-exitcode", str(path), redis_url=redis_url)
    assert proc.returncode == 2, proc.stderr
    proc = run("plan", "--detailed-exitcode", "--no-such-flag", str(path), redis_url=redis_url)
    assert proc.returncode == 1


def test_export_out_that_cannot_be_a_directory_is_one_line(
    redis_url: str, redis_client: redis.Redis, tmp_path: Path
) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(FILES, encoding="utf-8")
    assert run("apply", "--auto-approve", str(path), redis_url=redis_url).returncode == 0
    a_file = tmp_path / "file.txt"
    a_file.write_text("x", encoding="utf-8")
    # click checks this one while parsing: a usage error, so exit 1 as well
    assert_one_line_error(run("export", "--out", str(a_file), redis_url=redis_url), "is a file")
    for out, reason in [
        (a_file / "sub", "not a directory"),  # a file in the middle of the path
        (Path("/proc/redbeat-sync-export"), "cannot use /proc/redbeat-sync-export"),  # no mkdir
    ]:
        proc = run("export", "--out", str(out), redis_url=redis_url)
        assert_one_line_error(proc, str(out), reason)
        assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr


def test_export_and_import_both_create_missing_directories(redis_url: str, tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(FILES, encoding="utf-8")
    assert run("apply", "--auto-approve", str(path), redis_url=redis_url).returncode == 0
    exported = run("export", "--out", str(tmp_path / "a" / "b"), redis_url=redis_url)
    assert exported.returncode == 0, exported.stderr
    assert (tmp_path / "a" / "b" / "managed.yaml").is_file()

    (tmp_path / "beatapp.py").write_text(
        "from celery import Celery\n"
        "app = Celery('x', set_as_current=False)\n"
        "app.conf.beat_schedule = {'ping': {'task': 'app.ping', 'schedule': 30.0}}\n",
        encoding="utf-8",
    )
    target = tmp_path / "schedules" / "beat.yaml"
    proc = run("import", "--from-app", "beatapp:app", "--out", str(target), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "ping" in target.read_text(encoding="utf-8")
    blocked = run(
        "import",
        "--from-app",
        "beatapp:app",
        "--out",
        str(tmp_path / "beatapp.py" / "x.yaml"),
        cwd=tmp_path,
    )
    assert_one_line_error(blocked, "x.yaml", "not a directory")


def test_a_bug_exits_3_with_the_traceback_in_a_file(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Fault injection: a function of ours raising what no user input can cause."""
    from redbeat_sync.fileformat import loader  # validate imports load_paths when it runs

    def broken(paths: list[str]) -> None:
        raise ZeroDivisionError("redis://u:hunter2@h/0 inside a bug")

    monkeypatch.setattr(loader, "load_paths", broken)
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", None)  # re-read TMPDIR
    result = CliRunner().invoke(main, ["validate", "x.yaml"])
    assert result.exit_code == 3, result.output
    assert "Traceback" not in result.output
    assert "this is a bug in redbeat-sync (ZeroDivisionError), please report it" in result.output
    (saved,) = tmp_path.glob("redbeat-sync-bug-*.txt")
    assert saved.name in result.output
    details = saved.read_text(encoding="utf-8")
    assert "Traceback" in details and "ZeroDivisionError" in details
    assert "hunter2" not in details  # even a traceback is redacted


def test_a_closed_stdout_pipe_ends_quietly(redis_url: str, tmp_path: Path) -> None:
    """``redbeat-sync show | head -1`` printed "Error: Broken pipe" and exited 1."""
    (tmp_path / "s.yaml").write_text(FILES)
    applied = run("apply", "--auto-approve", str(tmp_path / "s.yaml"), redis_url=redis_url)
    assert applied.returncode == 0, applied.stderr
    env = bare_env(REDBEAT_SYNC_KEY_PREFIX=PREFIX, REDBEAT_SYNC_REDIS_URL=redis_url)
    proc = subprocess.Popen(
        [*CLI, "show"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True
    )
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()  # the reader is gone before show writes its first line (as `head`)
    errors = proc.stderr.read()
    assert (proc.wait(timeout=120), errors) == (141, "")  # as a Unix tool on SIGPIPE


TASKS_MODULE = """\
from celery import Celery
app = Celery("s5proj", set_as_current=False)  # not the tests' current app

@app.task
def ping():
    return "pong"
"""


@pytest.mark.parametrize(
    "args",
    [
        ("plan", "s.yaml"),
        ("validate", "s.yaml"),
        ("show",),
        ("history",),
        ("import", "--from-app"),
    ],
)
def test_an_app_option_naming_a_task_is_one_error_line_for_every_command(
    args: tuple[str, ...], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # In process (CliRunner): the module is this checkout's, whatever is installed.
    (tmp_path / "s5tasks.py").write_text(TASKS_MODULE, encoding="utf-8")
    (tmp_path / "s.yaml").write_text(FILES, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    option = () if args[-1] == "--from-app" else ("--app",)
    env = {"REDBEAT_SYNC_REDIS_URL": "redis://127.0.0.1:1/0"}
    result = CliRunner().invoke(main, [*args, *option, "s5tasks:ping"], env=env)
    assert result.exit_code == 1, result.output
    assert "s5tasks:ping is not a Celery app (it is a Celery task)" in result.output
    assert "Traceback" not in result.output and "bug" not in result.output


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (("plan", "s.yaml", "--beat-timezone", "Mars/Base"), "unknown time zone 'Mars/Base'"),
        (("show", "--beat-timezone", "Europe/Pariss"), "did you mean 'Europe/Paris'?"),
        (("load", "--beat-timezone", "europe/paris"), "did you mean 'Europe/Paris'?"),
    ],
)
def test_a_beat_timezone_that_is_no_zone_is_refused_like_one_in_a_file(
    args: tuple[str, ...], said: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "s.yaml").write_text(FILES, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    env = {"REDBEAT_SYNC_REDIS_URL": "redis://127.0.0.1:1/0"}
    result = CliRunner().invoke(main, list(args), env=env)
    assert result.exit_code == 1, result.output
    assert "Invalid value for --beat-timezone: unknown time zone" in result.output
    assert said in result.output
    assert "connect" not in result.output  # refused before reaching for Redis


def test_an_apps_timezone_that_is_no_zone_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "s5tz.py").write_text(
        "from celery import Celery\n"
        "app = Celery('s5tz', set_as_current=False)\n"
        "app.conf.timezone = 'Europe/Pariss'\n",
        encoding="utf-8",
    )
    monkeypatch.chdir(tmp_path)
    env = {"REDBEAT_SYNC_REDIS_URL": "redis://127.0.0.1:1/0"}
    result = CliRunner().invoke(main, ["show", "--app", "s5tz:app"], env=env)
    assert result.exit_code == 1, result.output
    assert "--app: its timezone setting: unknown time zone 'Europe/Pariss'" in result.output

"""What every command shares: connection options, the Celery-app bridge, errors.

Commands stay thin: they parse flags, call the spec/state/plan/apply layers and print.
"""

from __future__ import annotations

import functools
import importlib
import os
import shlex
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from ..errors import ProblemsFound, RedbeatSyncError, UserError
from ..redact import redact
from ..schedule.describe import plural
from ..schedule.vocabulary import DEFAULT_TIMEZONE
from ..state.layout import DEFAULT_PREFIX, Layout
from ._errors import EXIT_CHANGES, EXIT_ERROR, EXIT_OK

if TYPE_CHECKING:
    import redis

    from ..plan.actions import RedisTarget

F = TypeVar("F", bound=Callable[..., Any])

__all__ = ["EXIT_CHANGES", "EXIT_ERROR", "EXIT_OK"]


@dataclass
class Target:
    """Where the schedules live: resolved from flags, env and an optional Celery app."""

    redis_url: str | None
    prefix: str
    beat_timezone: str
    redis_options: dict[str, Any]
    redis_use_ssl: Any = False  # the app's redbeat_redis_use_ssl (True or ssl_* options)
    #: Why the --app names no usable Redis (raised by ``connect``, inside the guard).
    redis_problem: str | None = None
    app: str | None = None  # the --app it was read from, if any
    #: what set beat_timezone ("--beat-timezone", "--app X"); None: the UTC default
    beat_timezone_source: str | None = None
    url_from_flag: bool = False  # --redis-url (or its env var) given, winning over the app

    @property
    def beat_timezone_assumed(self) -> bool:
        """No --app and no --beat-timezone: ``beat_timezone`` is UTC by assumption only."""
        return self.beat_timezone_source is None and self.app is None

    @property
    def layout(self) -> Layout:
        return Layout(self.prefix)

    @property
    def url_has_secret(self) -> bool:
        """The URL given holds a password (``flags`` can only show it masked)."""
        return bool(self.redis_url) and redact(self.redis_url or "") != self.redis_url

    def flags(self, *, with_url: bool = True) -> str:
        """Flags that make another command reach this deployment (passwords masked;
        ``with_url=False``: leave --redis-url out, for the user to supply)."""
        parts = [f"--app {shlex.quote(self.app)}"] if self.app else []
        if with_url and self.redis_url and (self.url_from_flag or not self.app):
            parts.append(f"--redis-url {shlex.quote(redact(self.redis_url))}")
        parts.append(f"--key-prefix {shlex.quote(self.prefix)}")
        return " ".join(parts)

    def redis_target(self, client: redis.Redis) -> RedisTarget:
        """Which Redis ``client`` (from ``connect``) reaches, as a plan records it."""
        from ..plan.actions import RedisTarget
        from ..state.connection import resolve_url

        pool = getattr(client, "connection_pool", None)  # a Cluster has none: db 0
        db = getattr(pool, "connection_kwargs", {}).get("db", 0)
        return RedisTarget(redis_url=redact(resolve_url(self.redis_url)), db=int(db or 0))

    def connect(self, *, check_prefix: bool = True) -> redis.Redis:
        from ..errors import UserError
        from ..state.connection import RedisSettings, resolve_url
        from ..state.topology import check_cluster_prefix

        if self.redis_problem:
            raise UserError(self.redis_problem)
        url = resolve_url(self.redis_url)
        if not self.redis_url and not os.environ.get("REDBEAT_SYNC_REDIS_URL"):
            # The CLI's own default, only without --app: say so (beat never defaults).
            echo_err(f"No --redis-url, REDBEAT_SYNC_REDIS_URL or --app given: using {url}")
        settings = RedisSettings(url, dict(self.redis_options or {}), self.redis_use_ssl)
        client = settings.connect()
        if check_prefix:  # move-prefix reads a prefix Cluster refuses, key by key
            check_cluster_prefix(client, self.layout)  # one line instead of CROSSSLOT later
        return client


def load_celery_app(spec: str) -> Any:
    """Import ``module:attr`` (like ``celery -A``); a user mistake is one clear line."""
    module_name, _, attr = spec.partition(":")
    if not module_name:
        raise click.BadParameter("expected module:attr", param_hint="--app")
    sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:  # the user's module may fail in any way
        raise click.BadParameter(
            f"cannot import {module_name!r}: {exc}", param_hint="--app"
        ) from None
    finally:
        sys.path.pop(0)
    try:
        app = getattr(module, attr or "app")
    except AttributeError:
        raise click.BadParameter(
            f"module {module_name!r} has no attribute {attr or 'app'!r}", param_hint="--app"
        ) from None
    # Checked here, once, for every command: a task or a module given by mistake would
    # otherwise fail later and differently in each (an AttributeError on .conf, .loader).
    celery = sys.modules.get("celery")  # not loaded by the user's module: not an app
    if celery is None or not isinstance(app, celery.Celery):
        what = " (it is a Celery task)" if celery and isinstance(app, celery.Task) else ""
        raise click.BadParameter(
            f"{module_name}:{attr or 'app'} is not a Celery app{what}; "
            "name the Celery() instance, as for celery -A",
            param_hint="--app",
        )
    return app


def resolve_target(
    redis_url: str | None, key_prefix: str | None, app: str | None, beat_timezone: str | None
) -> Target:
    """Flags win over the Celery app's settings, which win over defaults."""
    options: dict[str, Any] = {}
    app_url = app_prefix = app_tz = problem = None
    use_ssl: Any = False
    if app:
        from ..beat.config import RedBeatConfig
        from ..errors import UserError

        # The same resolution beat uses (RedBeat's rules): never a default Redis.
        conf = RedBeatConfig(load_celery_app(app))
        if redis_url:  # the flag names the server; the app still says how to connect
            options = {} if conf.options_inherited else dict(conf.redbeat_redis_options)
            use_ssl = conf.redis_use_ssl or False
        else:
            try:
                settings = conf.redis_settings()
            except UserError as exc:
                problem = f"--app {app}: {exc}"
            else:
                app_url, options, use_ssl = settings.url, dict(settings.options), settings.use_ssl
                # README ("Which Redis") promises the warning; beat logs it, the CLI
                # shows no log, so say it here, once per command.
                for message in conf.fallback_warnings:
                    echo_err(f"warning: --app {app}: {message}")
        app_prefix = conf.key_prefix
        app_tz = conf.beat_timezone
    # The zone check schedule files get: a typo would otherwise plan every cron entry
    # for a zone beat does not run in, or show wrong local times, without a word.
    from ..schedule.zonenames import timezone_problem

    if beat_timezone and (zone_problem := timezone_problem(beat_timezone)):
        raise click.BadParameter(zone_problem, param_hint="--beat-timezone")
    if app_tz and not beat_timezone and (zone_problem := timezone_problem(app_tz)):
        raise click.BadParameter(f"its timezone setting: {zone_problem}", param_hint="--app")
    return Target(
        redis_url=redis_url or app_url,
        prefix=key_prefix or app_prefix or DEFAULT_PREFIX,
        beat_timezone=beat_timezone or (str(app_tz) if app_tz else DEFAULT_TIMEZONE),
        redis_options=options,
        redis_use_ssl=use_ssl,
        redis_problem=problem,
        app=app,
        url_from_flag=bool(redis_url),
        beat_timezone_source=(
            "--beat-timezone" if beat_timezone else f"--app {app}" if app_tz else None
        ),
    )


def format_option(help: str, *, markdown: bool = False) -> Callable[[F], F]:
    """``--format text|json`` (``|markdown`` for plans): every command spells it alike."""
    choices = ["text", "json", *(["markdown"] if markdown else [])]
    return click.option(
        "--format", "fmt", type=click.Choice(choices), default="text", show_default=True,
        help=help,
    )  # fmt: skip


def target_options(func: F) -> F:
    """--redis-url / --key-prefix / --app / --beat-timezone, turned into ``target``."""

    @click.option(
        "--redis-url",
        envvar="REDBEAT_SYNC_REDIS_URL",
        metavar="URL",
        # No hyphenated schemes or URL examples: help wraps at spaces and hyphens, and
        # would cut them in two.
        help="Redis holding the schedule: redis://, rediss://, unix://, or a Sentinel or "
        "Cluster URL (README: URL forms). Env: REDBEAT_SYNC_REDIS_URL. "
        "Default: redis://localhost:6379/0",
    )
    @click.option(
        "--key-prefix",
        envvar="REDBEAT_SYNC_KEY_PREFIX",
        help=f"RedBeat key prefix (redbeat_key_prefix). Default: {DEFAULT_PREFIX}",
    )
    @click.option(
        "--app",
        "app",
        metavar="MODULE:ATTR",
        help="Celery app to read redbeat_redis_url, redbeat_key_prefix and timezone from.",
    )
    @click.option(
        "--beat-timezone",
        envvar="REDBEAT_SYNC_BEAT_TIMEZONE",
        help="Timezone celery beat runs in (Celery's `timezone`); RedBeat evaluates "
        "crontabs in it. Default: the app's, else UTC.",
    )
    @functools.wraps(func)
    def wrapper(
        *args: Any,
        redis_url: str | None,
        key_prefix: str | None,
        app: str | None,
        beat_timezone: str | None = None,
        **kwargs: Any,
    ) -> Any:
        target = resolve_target(redis_url, key_prefix, app, beat_timezone)
        return func(*args, target=target, **kwargs)

    return wrapper  # type: ignore[return-value]


def connection_options(func: F) -> F:
    """``target_options`` without --beat-timezone, for commands that never use it."""
    wrapped = target_options(func)
    params = getattr(wrapped, "__click_params__", [])
    wrapped.__click_params__ = [p for p in params if p.name != "beat_timezone"]  # type: ignore[attr-defined]
    return wrapped


def write_output_file(path: Path, text: str) -> None:
    """Write ``text`` to ``path``, creating missing parent directories (export and import
    behave alike); any failure is one UserError line naming the path."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise UserError(f"cannot write {path}: {_os_reason(exc)}") from None


def make_output_dir(path: Path) -> None:
    """Create ``path`` (and its parents) unless it is already a directory."""
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"cannot use {path} as the output directory: {_os_reason(exc)}") from None


def _os_reason(exc: OSError) -> str:
    if isinstance(exc, FileExistsError):
        return "a file with that name exists (not a directory)"
    if isinstance(exc, NotADirectoryError):
        return "part of the path is a file, not a directory"
    return exc.strerror or type(exc).__name__


def invocation(ctx: click.Context) -> str:
    """``redbeat-sync apply --auto-approve --redis-url``: the command and the flags given,
    never their values (a URL may hold a password; paths say nothing useful)."""
    given = []
    for param in ctx.command.params:
        if not isinstance(param, click.Option) or param.name is None:
            continue
        if ctx.get_parameter_source(param.name) is not click.core.ParameterSource.COMMANDLINE:
            continue
        negative = param.is_flag and param.secondary_opts and ctx.params.get(param.name) is False
        given.append((param.secondary_opts if negative else param.opts)[-1])
    return " ".join([ctx.command_path, *given])


def echo_err(message: str) -> None:
    click.echo(message, err=True)


def use_color(flag: bool | None, *, err: bool = False) -> bool:
    """``--color``/``--no-color`` decide; else NO_COLOR (set and not empty) turns colour
    off; else colour only on a terminal. As no-color.org asks, a flag given on the
    command line beats the environment. Pass the result to ``click.echo(color=...)``,
    which would otherwise strip the colour from piped output (CI logs)."""
    if flag is not None:
        return flag
    if os.environ.get("NO_COLOR"):
        return False
    return (sys.stderr if err else sys.stdout).isatty()


def report_problems(exc: ProblemsFound, *, wrote_nothing: bool) -> None:
    """Every problem in the files, then the count (``wrote_nothing``: and that a
    command which writes did not; validate never writes, so it does not say so)."""
    echo_err(exc.format())
    tail = "; nothing was written." if wrote_nothing else "."
    echo_err(f"Error: {plural(len(exc.problems), 'problem')} found{tail}")


def run_guarded(func: Callable[[], int]) -> int:
    """Run a command body; user and environment mistakes become one line and exit 1."""
    try:
        return _guarded(func)
    except MemoryError:
        pass  # report after leaving the handler: its traceback still holds the memory
    echo_err(
        "Error: ran out of memory (schedule files too large to load here?); "
        "split them into smaller files or give the process more memory."
    )
    return EXIT_ERROR


def _guarded(func: Callable[[], int]) -> int:
    try:
        return func()
    except ProblemsFound as exc:
        report_problems(exc, wrote_nothing=True)
        return EXIT_ERROR
    except RedbeatSyncError as exc:
        echo_err(f"Error: {redact(str(exc))}")
        return EXIT_ERROR
    except BrokenPipeError:
        raise  # the reader closed stdout (`| head`): the main wrapper ends quietly
    except OSError as exc:  # a file or the network refused: the environment, not a bug
        where = f"{exc.filename}: " if exc.filename else ""
        echo_err(f"Error: {where}{redact(_os_reason(exc))}")
        return EXIT_ERROR
    except Exception as exc:
        message = _redis_failure(exc)
        if message is None:
            raise
        echo_err(message)
        return EXIT_ERROR


def _redis_failure(exc: Exception) -> str | None:
    """The one line for a failure in Redis, or None when ``exc`` is not one."""
    if "redis" not in sys.modules:  # never loaded (validate): nothing failed in it
        return None
    import redis  # loaded already, so free; not at the top: it costs start-up (cli/__init__)

    errors = redis.exceptions
    if isinstance(exc, errors.AuthenticationError):
        return f"Error: Redis refused the credentials: {exc}"
    if isinstance(exc, errors.ConnectionError):
        return f"Error: lost the connection to Redis: {redact(str(exc))}"
    if isinstance(exc, errors.TimeoutError):
        return f"Error: Redis did not answer in time: {redact(str(exc))}"
    if isinstance(exc, errors.NoPermissionError):
        return (
            "Error: the Redis user lacks a permission (see the ACL rules in the README): "
            f"{redact(str(exc))}"
        )
    if isinstance(exc, errors.ResponseError):
        return f"Error: Redis refused a command: {redact(str(exc))}"
    if isinstance(exc, errors.RedisClusterException):
        return f"Error: Redis Cluster: {redact(str(exc))}"
    return None

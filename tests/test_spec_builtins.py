"""Celery's built-in ``celery.backend_cleanup`` stays Celery's (issue 8 §5c).

Beat installs it as a static entry when ``result_expires`` is set; export skips it
(and says so), files cannot declare it, and beat no longer warns about it at every
start when an older export had adopted it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
import redis
from apply_helpers import apply_files
from beat_app import broker_url_for, leading, make_app
from click.testing import CliRunner, Result
from plan_helpers import spec

from redbeat_sync import Scheduler
from redbeat_sync.cli import main
from redbeat_sync.errors import ProblemsFound
from redbeat_sync.fileformat.loader import load_text
from redbeat_sync.plan.compare import compute_plan
from redbeat_sync.schedule.entry import Cron, Entry
from redbeat_sync.state.layout import Layout
from redbeat_sync.state.reader import read_state

PREFIX = "rs-builtin:"
LAYOUT = Layout(PREFIX)
CLEANUP = "celery.backend_cleanup"


@pytest.fixture
def client(redis_url: str) -> Iterator[redis.Redis]:
    connection = redis.Redis.from_url(redis_url, decode_responses=True)
    connection.flushdb()
    yield connection
    connection.close()


def run_beat_term(redis_url: str) -> None:
    """One leadership term's start-up (statics written) of a real scheduler."""
    app = make_app(redis_url, broker_url_for(redis_url), redbeat_key_prefix=PREFIX)
    assert app.conf.result_expires  # Celery's default: beat installs backend_cleanup
    beat = Scheduler(app)
    try:
        beat.start()
        leading(beat)
        beat.dispatch_once()
    finally:
        beat.close()
        app.close()


def cli(redis_url: str, *args: str) -> Result:
    env = {"REDBEAT_SYNC_REDIS_URL": redis_url, "REDBEAT_SYNC_KEY_PREFIX": PREFIX}
    return CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)


def test_files_cannot_declare_it() -> None:
    with pytest.raises(ProblemsFound) as caught:
        load_text(f"version: 1\nentries:\n  {CLEANUP}: {{task: a.b, schedule: {{every: 1h}}}}\n")
    [problem] = caught.value.problems
    assert problem.line == 3 and problem.field == f'entries["{CLEANUP}"]'  # dots quoted
    assert "Celery's own built-in entry" in problem.message


def test_export_leaves_it_alone_and_says_so(client: redis.Redis, redis_url: str) -> None:
    run_beat_term(redis_url)
    assert client.exists(PREFIX + CLEANUP)  # beat installed it as a static entry
    result = cli(redis_url, "export")
    assert result.exit_code == 0, result.output
    assert CLEANUP not in result.stdout
    assert f"note: not exported: '{CLEANUP}' is Celery's own built-in entry" in result.stderr
    # The exported files plan to nothing, and the built-in stays where beat put it.
    exported = load_text(result.stdout)
    plan = compute_plan(exported, read_state(client, LAYOUT), prefix=PREFIX)
    assert not plan.has_changes
    assert CLEANUP in plan.unmanaged


def apply_entries(client: redis.Redis, *entries: Entry) -> None:
    apply_files(client, LAYOUT, spec(*entries), allow_mass_delete=True)


def test_beat_does_not_warn_about_an_older_adoption(
    client: redis.Redis, redis_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """An export made before this change adopted it; beat used to warn at every start."""
    adopted = Entry(name=CLEANUP, task=CLEANUP, schedule=Cron.from_expression("0 4 * * *"))
    apply_entries(client, adopted)
    with caplog.at_level(logging.INFO):
        run_beat_term(redis_url)
    mentions = [r for r in caplog.records if CLEANUP in r.getMessage()]
    assert mentions, "the older adoption is still noted once"
    assert all(r.levelno < logging.WARNING for r in mentions)
    assert "hand it back to Celery" in mentions[0].getMessage()


def test_removing_an_older_adoption_hands_it_back_to_celery(
    client: redis.Redis, redis_url: str
) -> None:
    apply_entries(
        client, Entry(name=CLEANUP, task=CLEANUP, schedule=Cron.from_expression("0 4 * * *"))
    )
    apply_entries(client)  # removed from the files: deleted
    assert not client.exists(PREFIX + CLEANUP)
    run_beat_term(redis_url)  # beat's next start re-installs Celery's own
    assert client.exists(PREFIX + CLEANUP)
    assert CLEANUP not in client.smembers(LAYOUT.inventory_key)  # Celery's again

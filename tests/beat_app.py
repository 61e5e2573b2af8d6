"""A Celery app for the beat tests: real beat, real worker, Redis broker.

Configured from the environment so test processes (``python -m celery -A
tests.beat_app beat|worker``) share one throwaway redis-server:

- ``BEAT_TEST_REDIS`` - the schedule store (``redbeat_redis_url``), e.g. .../0
- ``BEAT_TEST_BROKER`` - the broker (same server, another db number)
- ``BEAT_TEST_LOCK_TIMEOUT`` - ``redbeat_lock_timeout`` (seconds, optional)
- ``BEAT_TEST_STATICS`` - "1" to install a static ``beat_schedule`` entry
- ``BEAT_TEST_MAX_LOOP`` - ``beat_max_loop_interval`` (seconds, default 5)
- ``BEAT_TEST_HEARTBEAT_FILE`` - ``redbeat_sync_heartbeat_file`` (optional)
- ``BEAT_TEST_METRICS_PORT`` - ``redbeat_sync_metrics_port`` (optional), with
  ``BEAT_TEST_METRICS_ENTRY_LABELS=1`` for per-entry labels

The ``record`` task appends one JSON line per run to the Redis list ``test:runs``
(in the schedule store): entry name, the slot beat sent it for, the first slot it
covers, when it ran and which process sent it, so tests can count duplicates and gaps per slot.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import redis
from celery import Celery

if TYPE_CHECKING:  # the celery processes that load this module need no scheduler
    from redbeat_sync import Scheduler

REDIS_URL = os.environ.get("BEAT_TEST_REDIS", "redis://127.0.0.1:6399/0")
BROKER_URL = os.environ.get("BEAT_TEST_BROKER", "redis://127.0.0.1:6399/1")
RUNS_KEY = "test:runs"
#: The ``record`` task's name: what the tests' entries run.
TASK = "tests.beat_app.record"

app = Celery("beat_app", broker=BROKER_URL)
app.conf.update(
    redbeat_redis_url=REDIS_URL,
    redbeat_key_prefix=os.environ.get("BEAT_TEST_PREFIX", "redbeat:"),
    beat_max_loop_interval=float(os.environ.get("BEAT_TEST_MAX_LOOP", "5")),
    task_ignore_result=True,
    worker_hijack_root_logger=False,
    broker_connection_retry_on_startup=True,
    timezone="UTC",
    # Workers report run outcomes to the run history (as the README tells users to).
    imports=["redbeat_sync.worker"],
)
if os.environ.get("BEAT_TEST_LOCK_TIMEOUT"):
    app.conf.redbeat_lock_timeout = float(os.environ["BEAT_TEST_LOCK_TIMEOUT"])
if os.environ.get("BEAT_TEST_HEARTBEAT_FILE"):
    app.conf.redbeat_sync_heartbeat_file = os.environ["BEAT_TEST_HEARTBEAT_FILE"]
if os.environ.get("BEAT_TEST_METRICS_PORT"):
    app.conf.redbeat_sync_metrics_port = int(os.environ["BEAT_TEST_METRICS_PORT"])
    app.conf.redbeat_sync_metrics_entry_labels = (
        os.environ.get("BEAT_TEST_METRICS_ENTRY_LABELS") == "1"
    )
if os.environ.get("BEAT_TEST_STATICS") == "1":
    app.conf.beat_schedule = {
        "static-every-2s": {"task": "tests.beat_app.record", "schedule": 2.0, "args": ["static"]},
    }

_store: redis.Redis | None = None


def store() -> redis.Redis:
    global _store
    if _store is None:
        _store = redis.Redis.from_url(REDIS_URL, decode_responses=True)
    return _store


@app.task(bind=True, name=TASK)
def record(self, label: str = "") -> None:
    request = self.request
    line = {
        "label": label,
        "slot": getattr(request, "redbeat_sync_slot", None),
        "covers_from": getattr(request, "redbeat_sync_covers_from", None),
        "ran_at": time.time(),
        "pid": os.getpid(),
        "origin": getattr(request, "origin", None),  # "gen<pid>@host" of the sender
    }
    store().rpush(RUNS_KEY, json.dumps(line))


@app.task(bind=True, name="tests.beat_app.slow")
def slow(self, label: str = "", seconds: float = 3.0) -> None:
    """Records its start and end (``test:spans``): overlapping runs are visible."""
    began = time.time()
    time.sleep(seconds)
    store().rpush("test:spans", json.dumps({"label": label, "start": began, "end": time.time()}))


@app.task(name="tests.beat_app.fail")
def fail(label: str = "") -> None:
    raise ValueError(f"boom in {label}")


# --------------------------------------------------------------------------- in-process


def make_app(redis_url: str | None, broker_url: str | None = None, **conf: object) -> Celery:
    """A fresh app for in-process scheduler tests (its own config and client cache).

    ``redis_url=None`` leaves ``redbeat_redis_url`` unset (deleting it afterwards does
    not work on every Celery: 5.5.0 keeps the value in another layer of its config).
    """
    fresh = Celery("beat_test", broker=broker_url or redis_url, set_as_current=False)
    if redis_url is not None:
        fresh.conf.update(redbeat_redis_url=redis_url)
    fresh.conf.update(
        timezone="UTC",
        beat_max_loop_interval=5,
        task_ignore_result=True,
        broker_connection_retry_on_startup=True,
    )
    fresh.conf.update(conf)
    return fresh


def queued(broker: redis.Redis, queue: str = "celery") -> list[dict]:
    """The task messages waiting in a Redis-broker queue (oldest first): headers only."""
    out = []
    for raw in reversed(broker.lrange(queue, 0, -1)):
        message = json.loads(raw)
        out.append(message["headers"])
    return out


def broker_url_for(redis_url: str, db: int = 1) -> str:
    """The same server as ``redis_url``, another database number (the broker)."""
    return redis_url.rsplit("/", 1)[0] + f"/{db}"


#: How long a started scheduler may take to hold the lock.  A bound on waiting for a
#: real thread, not a figure: on a loaded 2-core machine it can take seconds.
LEAD_WAIT = 30.0

#: ``make_scheduler(lead=True, app=None, **conf)``: the conftest.py fixture.
MakeScheduler = Callable[..., "Scheduler"]


def listening(beat: Scheduler) -> Scheduler:
    """Wait until ``beat`` (started) hears change notices: an entry saved before that
    is announced to nobody, and a pass at a simulated time would not re-read it."""
    assert beat.listener is not None, "the scheduler was not started"
    assert beat.listener.subscribed.wait(LEAD_WAIT), "the scheduler never subscribed"
    return beat


def leading(beat: Scheduler) -> Scheduler:
    """Wait until ``beat`` (started) holds the leader lock and hears change notices."""
    assert beat.keeper is not None, "the scheduler has no leader lock"
    assert beat.keeper.became_leader.wait(LEAD_WAIT), "the scheduler never took the lock"
    return listening(beat)

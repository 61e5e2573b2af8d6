"""Wake beat as soon as a change lands: a pub/sub listener thread setting an Event.

``redbeat-sync apply`` (the writer) and ``SchedulerEntry.save()`` PUBLISH on
``layout.changes_channel``.  The scheduler's tick sleeps on ``Event.wait(timeout)``
instead of returning a sleep to Celery, so a change is picked up within
milliseconds, and nothing polls: with no change and nothing due, beat sleeps until
the next score (at most ``beat_max_loop_interval``).

Messages are JSON ``{"count": n, "names": [...]}`` (names omitted for big applies);
the names are collected so the tick can re-check just those entries (re-enabling a
parked disabled entry, for example).  A lost subscription only delays pick-up to
the next scheduled wake, so the thread reconnects with backoff and logs once.
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
from typing import Any

import redis

logger = logging.getLogger("celery.beat")

_MAX_BACKOFF = 30.0


class ChangeListener(threading.Thread):
    def __init__(self, client: redis.Redis, channel: str) -> None:
        super().__init__(name="redbeat-sync-changes", daemon=True)
        self.client = client
        self.channel = channel
        self.event = threading.Event()
        self.subscribed = threading.Event()
        self._halt = threading.Event()
        self._lock = threading.Lock()
        self._names: set[str] = set()
        self._everything = False
        self._down = False

    def take_changes(self) -> tuple[set[str], bool]:
        """(names changed, whether an unnamed/bulk change happened) since last call."""
        with self._lock:
            names, everything = self._names, self._everything
            self._names, self._everything = set(), False
        return names, everything

    def stop(self, wait: float = 2.0) -> None:
        self._halt.set()
        self.event.set()
        if self.is_alive() and threading.current_thread() is not self:
            self.join(wait)

    def run(self) -> None:
        backoff = 0.5
        while not self._halt.is_set():
            pubsub = self.client.pubsub(ignore_subscribe_messages=True)
            try:
                pubsub.subscribe(self.channel)
                self.subscribed.set()
                if self._down:
                    logger.info("beat: Change notifications reconnected")
                    self._down = False
                    self._record(None)  # may have missed some: re-check everything
                backoff = 0.5
                while not self._halt.is_set():
                    message = pubsub.get_message(timeout=0.5)
                    if message is not None and message.get("type") == "message":
                        self._record(message.get("data"))
            except (redis.RedisError, OSError) as exc:
                self.subscribed.clear()
                if not self._down:
                    logger.warning(
                        "beat: Change notifications unavailable (%s): changes are picked "
                        "up at the next scheduled wake until Redis is back",
                        exc,
                    )
                    self._down = True
                self._halt.wait(backoff)
                backoff = min(backoff * 2, _MAX_BACKOFF)
            finally:
                # closing a broken connection may fail: irrelevant
                with contextlib.suppress(Exception):
                    pubsub.close()

    def _record(self, data: Any) -> None:
        names: list[str] | None = None
        try:
            payload = json.loads(data) if data is not None else None
            if isinstance(payload, dict) and isinstance(payload.get("names"), list):
                names = [str(n) for n in payload["names"]]
        except (TypeError, ValueError):
            names = None
        with self._lock:
            if names is None:
                self._everything = True
            else:
                self._names.update(names)
        self.event.set()


__all__ = ["ChangeListener"]

"""The Celery ``beat_schedule`` setting as static entries (RedBeat's semantics).

- Each ``beat_schedule`` item is saved as an entry, keeping its run history.
- Names are recorded in ``prefix:statics``; a recorded name that has left
  ``beat_schedule`` is deleted (at the start of each leadership term).
- Unlike RedBeat, this happens only once the leader lock is held, so a standby
  starting with an older config cannot overwrite the leader's entries (#198).
- A name that ``redbeat-sync apply`` manages (in the inventory set) is never
  overwritten or deleted from here: the files are the source of truth for it, and
  the conflict is logged as a warning.  Celery's own built-ins (``celery.backend_cleanup``)
  are Celery's: files cannot manage them, so one held by an older adoption is only
  noted (info), not warned about at every start.
"""

from __future__ import annotations

import logging
from typing import Any, cast

import redis

from ..fileformat.models import CELERY_BUILTIN_ENTRIES
from ..state import codec
from ..state.layout import META_FIELD

logger = logging.getLogger("celery.beat")


def save_static_entries(scheduler: Any, client: redis.Redis, items: dict[str, Any]) -> list[str]:
    """Save ``items`` (name -> beat_schedule dict or entry); returns the names written."""
    if not items:
        return []
    layout = scheduler.layout
    managed = client.smembers(layout.inventory_key)
    written: list[str] = []
    for name, spec in items.items():
        if name in managed and name in CELERY_BUILTIN_ENTRIES:
            # Adopted from an export made before files refused Celery's built-ins: not a
            # conflict worth a warning at every start; the files' next apply removes it.
            logger.info(
                "beat: Celery's built-in %r is held by redbeat-sync (an older adoption); "
                "remove it from the schedule files and apply to hand it back to Celery",
                name,
            )
            continue
        if name in managed:
            logger.warning(
                "beat: beat_schedule entry %r not written: redbeat-sync manages that name "
                "(change it in the schedule files, or rename the static entry)",
                name,
            )
            continue
        try:
            entry = scheduler._maybe_entry(name, spec)
        except Exception as exc:  # a bad static entry must not stop beat
            logger.error("beat: Cannot add static entry %r: %s", name, exc)
            continue
        stored = client.hget(entry.key, META_FIELD)
        if stored:
            run = codec.decode_meta(cast(str, stored))  # the client decodes responses
            entry.last_run_at = run.last_run_at
            entry.total_run_count = run.total_run_count
        entry.save()
        written.append(name)
    return written


def write_statics(scheduler: Any, client: redis.Redis) -> None:
    layout = scheduler.layout
    statics = dict(scheduler.conf.schedule)
    managed = client.smembers(layout.inventory_key)
    previous = client.smembers(layout.statics_key)
    for name in sorted(previous - set(statics)):
        if name in managed:
            logger.warning("beat: Not deleting old static entry %r: redbeat-sync manages it", name)
        else:
            logger.info("beat: Removing old static entry %r", name)
            scheduler.Entry(name, app=scheduler.app).delete()
        client.srem(layout.statics_key, name)
    scheduler.install_default_entries(statics)
    written = save_static_entries(scheduler, client, statics)
    if written:
        client.sadd(layout.statics_key, *written)


__all__ = ["save_static_entries", "write_statics"]

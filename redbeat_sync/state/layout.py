"""Key names: RedBeat's layout, plus the few keys redbeat-sync adds.

RedBeat builds every key by plain concatenation onto the prefix.  Our own keys all
start with ``prefix + ":sync:"``; entry names may not start with ":" so they can
never collide with them, and a hash-tagged prefix (``{redbeat}:``) keeps every key
of one deployment in one Redis Cluster slot.
"""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_PREFIX = "redbeat:"

#: Hash fields of one entry.  RedBeat reads only the first two.
DEFINITION_FIELD = "definition"
META_FIELD = "meta"
#: Our own per-entry field: ownership marker and whatever RedBeat cannot express.
EXTRA_FIELD = "redbeat_sync"


@dataclass(frozen=True)
class Layout:
    prefix: str = DEFAULT_PREFIX

    def entry_key(self, name: str) -> str:
        return self.prefix + name

    def name_of(self, key: str) -> str:
        return key[len(self.prefix) :] if key.startswith(self.prefix) else key

    # --- RedBeat's keys -------------------------------------------------------
    @property
    def schedule_key(self) -> str:
        return self.prefix + ":schedule"

    @property
    def statics_key(self) -> str:
        return self.prefix + ":statics"

    @property
    def beat_lock_key(self) -> str:
        return self.prefix + ":lock"

    # --- redbeat-sync's keys --------------------------------------------------
    @property
    def inventory_key(self) -> str:
        """Set of the entry names redbeat-sync manages."""
        return self.prefix + ":sync:managed"

    @property
    def sync_lock_key(self) -> str:
        """Serializes concurrent applies (JSON: id, holder, host, since)."""
        return self.prefix + ":sync:lock"

    @property
    def history_key(self) -> str:
        """Capped stream of apply audit records."""
        return self.prefix + ":sync:history"

    @property
    def applied_key(self) -> str:
        """Mark of the last batch apply wrote (recognises a retried, landed batch)."""
        return self.prefix + ":sync:applied"

    @property
    def changes_channel(self) -> str:
        """Pub/sub channel apply publishes to so a running beat wakes up at once."""
        return self.prefix + ":sync:changes"

    @property
    def beats_key(self) -> str:
        """Sorted set of the beats that wrote a heartbeat lately (member: beat id,
        score: UNIX time of its last heartbeat); expires with the last beat."""
        return self.prefix + ":sync:beats"

    def runs_key(self, name: str) -> str:
        """One entry's run history (a capped list, see beat/runlog.py): it goes with
        the entry, renamed by a move and deleted by a delete (state/writer.py)."""
        return self.prefix + ":sync:runs:" + name

    def beat_key(self, beat_id: str) -> str:
        """One beat's heartbeat (JSON), with a TTL."""
        return self.prefix + ":sync:beat:" + beat_id

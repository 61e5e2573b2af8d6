"""Beat metrics for Prometheus, and the recording interface the scheduler calls.

``scheduler.metrics`` is always there: a ``Metrics`` whose methods do nothing unless
``redbeat_sync_metrics_port`` is set, in which case it is a ``PrometheusMetrics``
and beat serves ``/metrics`` and ``/healthz`` (``metrics_server``).  Recording calls
(counters, histograms) happen where the events happen; the gauges are read when
Prometheus scrapes (``_ScrapeCollector``), from the scheduler and from Redis, so an
idle beat costs nothing between scrapes.

Recording interface (features call these; all are cheap no-ops when metrics are off):

- ``run_sent(entry, task, fire_at=None)``: a run went to the broker (``fire_at``: when
  it was due, for the dispatch-delay histogram);
- ``run_skipped(entry, reason)``: a run was not sent on purpose, or slots were folded
  into one run; ``reason`` is one of ``SKIP_REASONS``;
- ``send_failed(entry, task)``: the broker refused a claimed run;
- ``tick(seconds)``: one leader pass took that long;
- ``leadership(leader)``: this beat gained (True) or lost (False) the lock;
- ``paused_count``: set it to a function returning how many entries are paused.

Label cardinality is bounded: ``entry`` labels are opt-in (setting
``redbeat_sync_metrics_entry_labels``: ``True``, or the number of distinct entries
that get their own label); every other entry is counted under ``entry="_other"``.
``task`` labels are capped at ``TASK_LABEL_LIMIT`` the same way.

prometheus_client is an optional dependency (``pip install 'redbeat-sync[metrics]'``):
it is imported only when the port is set.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ..errors import UserError

if TYPE_CHECKING:
    from .scheduler import Scheduler

PORT_SETTING = "redbeat_sync_metrics_port"
ADDRESS_SETTING = "redbeat_sync_metrics_address"
ENTRY_LABELS_SETTING = "redbeat_sync_metrics_entry_labels"
#: Loopback unless told otherwise: a port opened to the network is an explicit choice
#: (set ``redbeat_sync_metrics_address = "0.0.0.0"`` for Prometheus in Kubernetes).
DEFAULT_ADDRESS = "127.0.0.1"
#: Label value of every entry (or task) without a label of its own.
OTHER = "_other"
TASK_LABEL_LIMIT = 500
#: Why a run was not sent (or stood for several slots): ``misfire`` (the entry's
#: misfire policy dropped a late run), ``coalesced`` (missed slots folded into one
#: run), ``overlap`` (overlap policy), ``paused`` (the entry is paused).
SKIP_REASONS = ("misfire", "coalesced", "overlap", "paused")
#: Entry states reported by ``redbeat_sync_entries``; ``paused`` is filled by the pause
#: feature (``PrometheusMetrics.paused_count``), 0 until then.
ENTRY_STATES = ("enabled", "disabled", "parked", "paused")
#: Entry-state counts are re-read from Redis at most this often (seconds).
STATE_REFRESH = 30.0
_DELAY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)
_TICK_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_CHUNK = 1000
_CHILD_CACHE = 100_000


class Metrics:
    """Metrics off: every recording call does nothing."""

    enabled = False
    #: The pause feature sets this to a function returning how many entries are paused
    #: (``redbeat_sync_entries{state="paused"}``); None: 0.
    paused_count: Callable[[], int] | None = None

    def run_sent(self, entry: str, task: str, fire_at: datetime | None = None) -> None:
        pass

    def run_skipped(self, entry: str, reason: str) -> None:
        pass

    def send_failed(self, entry: str, task: str) -> None:
        pass

    def tick(self, seconds: float) -> None:
        pass

    def leadership(self, leader: bool) -> None:
        pass

    def start(self) -> None:
        pass

    def stop(self) -> None:
        pass


class LabelCap:
    """The first ``limit`` distinct values keep their name, the rest become ``OTHER``
    (None: no limit; 0: everything is ``OTHER``)."""

    def __init__(self, limit: int | None) -> None:
        self.limit = limit
        self._seen: set[str] = set()
        self._lock = threading.Lock()

    def __call__(self, value: str) -> str:
        if value in self._seen:
            return value
        if self.limit is not None and len(self._seen) >= self.limit:
            return OTHER
        with self._lock:
            if self.limit is None or len(self._seen) < self.limit:
                self._seen.add(value)
                return value
        return OTHER


def entry_label_limit(value: Any) -> int | None:
    """The setting's value as a cap: False/None/0 -> 0, True -> None (no cap), N -> N."""
    if value is None or value is False:
        return 0
    if value is True:
        return None
    try:
        limit = int(value)
    except (TypeError, ValueError):
        raise UserError(
            f"{ENTRY_LABELS_SETTING} must be True, False or a number of entries, not {value!r}"
        ) from None
    if limit < 0:
        raise UserError(f"{ENTRY_LABELS_SETTING} must not be negative (got {limit})")
    return limit


def _prometheus() -> Any:
    try:
        import prometheus_client
    except ImportError:
        raise UserError(
            f"{PORT_SETTING} is set but prometheus_client is not installed: "
            "pip install 'redbeat-sync[metrics]' (or unset the setting)"
        ) from None
    return prometheus_client


def metrics_for(app: Any, scheduler: Scheduler) -> Metrics:
    """The scheduler's metrics: off unless ``redbeat_sync_metrics_port`` is set.

    Raises UserError (beat exits with that line) for a bad setting or a missing
    prometheus_client, before anything is sent.
    """
    port = app.conf.get(PORT_SETTING)
    if port is None or port is False or port == "":  # 0 is a port: any free one
        return Metrics()
    try:
        port = int(port)
    except (TypeError, ValueError):
        raise UserError(f"{PORT_SETTING} must be a port number, not {port!r}") from None
    if not 0 <= port <= 65535:
        raise UserError(f"{PORT_SETTING} must be a port number (0-65535), not {port}")
    address = str(app.conf.get(ADDRESS_SETTING) or DEFAULT_ADDRESS)
    limit = entry_label_limit(app.conf.get(ENTRY_LABELS_SETTING))
    return PrometheusMetrics(scheduler, port=port, address=address, entry_labels=limit)


class PrometheusMetrics(Metrics):
    enabled = True

    def __init__(
        self,
        scheduler: Scheduler,
        *,
        port: int,
        address: str = DEFAULT_ADDRESS,
        entry_labels: int | None = 0,
    ) -> None:
        pc = _prometheus()
        self.scheduler = scheduler
        self.port = port
        self.address = address
        self.registry = pc.CollectorRegistry(auto_describe=True)
        self.entry_label = LabelCap(entry_labels)
        self.task_label = LabelCap(TASK_LABEL_LIMIT)
        reg = self.registry
        self.sent = pc.Counter(
            "redbeat_sync_runs_sent", "Runs beat sent to the broker.",
            ["entry", "task"], registry=reg,
        )  # fmt: skip
        self.skipped = pc.Counter(
            "redbeat_sync_runs_skipped",
            "Runs not sent on purpose (misfire, overlap, paused) or slots coalesced into "
            "one run (coalesced).",
            ["entry", "reason"], registry=reg,
        )  # fmt: skip
        self.errors = pc.Counter(
            "redbeat_sync_send_errors",
            "Claimed runs the broker refused (not sent: at most once).",
            ["entry", "task"], registry=reg,
        )  # fmt: skip
        self.delay = pc.Histogram(
            "redbeat_sync_dispatch_delay_seconds",
            "From the time a run was due (slot plus jitter) to its send.",
            buckets=_DELAY_BUCKETS, registry=reg,
        )  # fmt: skip
        self.ticks = pc.Histogram(
            "redbeat_sync_tick_duration_seconds",
            "Duration of one leader pass (find, claim, send).",
            buckets=_TICK_BUCKETS, registry=reg,
        )  # fmt: skip
        self.changes = pc.Counter(
            "redbeat_sync_leadership_changes",
            "Times this beat gained or lost the leader lock.",
            ["change"], registry=reg,
        )  # fmt: skip
        for change in ("gained", "lost"):
            self.changes.labels(change)
        reg.register(_ScrapeCollector(self, pc))
        pc.ProcessCollector(registry=reg)
        self._server: Any = None
        self._thread: threading.Thread | None = None
        # (entry, task) -> the labelled counter: ``labels()`` costs several times the
        # ``inc()`` itself, and a beat sends the same entries again and again.
        self._sent_by: dict[tuple[str, str], Any] = {}

    # --- recording ---------------------------------------------------------------------
    def run_sent(self, entry: str, task: str, fire_at: datetime | None = None) -> None:
        child = self._sent_by.get((entry, task))
        if child is None:
            child = self.sent.labels(self.entry_label(entry), self.task_label(task))
            if len(self._sent_by) < _CHILD_CACHE:
                self._sent_by[(entry, task)] = child
        child.inc()
        if fire_at is not None:
            self.delay.observe(max(0.0, time.time() - fire_at.timestamp()))

    def run_skipped(self, entry: str, reason: str) -> None:
        self.skipped.labels(self.entry_label(entry), reason).inc()

    def send_failed(self, entry: str, task: str) -> None:
        self.errors.labels(self.entry_label(entry), self.task_label(task)).inc()

    def tick(self, seconds: float) -> None:
        self.ticks.observe(seconds)

    def leadership(self, leader: bool) -> None:
        self.changes.labels("gained" if leader else "lost").inc()

    # --- serving -----------------------------------------------------------------------
    def start(self) -> None:
        """Serve /metrics and /healthz in a daemon thread (UserError if the port is taken)."""
        if self._server is not None:
            return
        from .metrics_server import make_server

        try:
            self._server = make_server(self, self.address, self.port)
        except OSError as exc:
            raise UserError(
                f"{PORT_SETTING}: cannot serve metrics on {self.address}:{self.port}: "
                f"{exc.strerror or exc}"
            ) from None
        self.port = self._server.server_port  # the real one when 0 was asked for
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="redbeat-sync-metrics", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


class _ScrapeCollector:
    """Gauges read at scrape time: leadership, watchdog, heartbeat age, and what Redis
    holds (oldest overdue entry, entries by state; the latter cached ``STATE_REFRESH``)."""

    def __init__(self, metrics: PrometheusMetrics, pc: Any) -> None:
        import prometheus_client.core

        self.metrics = metrics
        self.core = prometheus_client.core
        self._states: dict[str, int] | None = None
        self._states_at = float("-inf")

    def describe(self) -> list[Any]:
        return []  # collected only at scrape: nothing to check at registration

    def collect(self) -> Iterator[Any]:
        core, scheduler = self.core, self.metrics.scheduler
        leader = scheduler.is_leader() if scheduler.started else False
        yield core.GaugeMetricFamily(
            "redbeat_sync_leader", "1 while this beat holds the leader lock.", value=int(leader)
        )
        yield core.GaugeMetricFamily(
            "redbeat_sync_lock_timeout_seconds",
            "The leader lock timeout (redbeat_lock_timeout).",
            value=scheduler.lock_timeout,
        )
        yield core.CounterMetricFamily(
            "redbeat_sync_stall_episodes",
            "Episodes of runs overdue while this beat led (stall watchdog).",
            value=scheduler.stall_episodes,
        )
        yield core.GaugeMetricFamily(
            "redbeat_sync_stalled", "1 while the stall watchdog reports runs overdue.",
            value=int(scheduler.stalled),
        )  # fmt: skip
        last = scheduler.heartbeat.last_tick
        yield core.GaugeMetricFamily(
            "redbeat_sync_last_tick_timestamp_seconds",
            "UNIX time of this beat's last tick (heartbeat).",
            value=last,
        )
        yield from self._from_redis(core, scheduler)

    def _from_redis(self, core: Any, scheduler: Scheduler) -> Iterator[Any]:
        import redis

        try:
            client = scheduler.client
            oldest = oldest_overdue(client, scheduler.layout.schedule_key, time.time())
            states = self._entry_states(client, scheduler)
        except (redis.RedisError, OSError, UserError):
            return  # Redis down: those gauges are absent, not wrong
        yield core.GaugeMetricFamily(
            "redbeat_sync_oldest_overdue_seconds",
            "How late the most overdue enabled entry is (0: none overdue), from Redis.",
            value=oldest[1] if oldest else 0.0,
        )
        family = core.GaugeMetricFamily(
            "redbeat_sync_entries", "Entries stored, by state.", labels=["state"]
        )
        for state in ENTRY_STATES:
            family.add_metric([state], states.get(state, 0))
        yield family

    def _entry_states(self, client: Any, scheduler: Scheduler) -> dict[str, int]:
        now = time.monotonic()
        if self._states is None or now - self._states_at >= STATE_REFRESH:
            self._states = count_entry_states(client, scheduler.layout.schedule_key)
            paused = self.metrics.paused_count
            self._states["paused"] = int(paused()) if paused is not None else 0
            self._states_at = now
        return self._states


def oldest_overdue(client: Any, schedule_key: str, now: float) -> tuple[str, float] | None:
    """The most overdue scheduled entry's key and how late it is (seconds past the end
    of its score's second: a score is the floored second the entry fires in), or None
    when nothing is overdue.  Parked entries (score < 0) are never overdue."""
    found = client.zrangebyscore(schedule_key, 0, now - 1, start=0, num=1, withscores=True)
    if not found:
        return None
    key, score = found[0]
    key = key.decode("utf-8", "replace") if isinstance(key, bytes) else str(key)
    return key, max(0.0, now - (float(score) + 1))


def count_entry_states(client: Any, schedule_key: str) -> dict[str, int]:
    """Entries by state: ``enabled`` (a next run is scheduled), ``disabled`` (parked
    because ``enabled: false``), ``parked`` (enabled with no further run: a one-off
    that ran, past ``end_at``...).  Reads the definitions of parked entries only."""
    enabled = int(client.zcount(schedule_key, 0, "+inf"))
    parked_keys = client.zrangebyscore(schedule_key, "-inf", "(0")
    disabled = 0
    for start in range(0, len(parked_keys), _CHUNK):
        chunk = parked_keys[start : start + _CHUNK]
        with client.pipeline(transaction=False) as pipe:
            for key in chunk:
                pipe.hget(key, "definition")
            for raw in pipe.execute():
                if raw is not None and _disabled(raw):
                    disabled += 1
    return {"enabled": enabled, "disabled": disabled, "parked": len(parked_keys) - disabled}


def _disabled(raw: Any) -> bool:
    try:
        definition = json.loads(raw)
    except ValueError:
        return False
    return isinstance(definition, dict) and definition.get("enabled") is False


__all__ = [
    "ADDRESS_SETTING",
    "ENTRY_LABELS_SETTING",
    "OTHER",
    "PORT_SETTING",
    "SKIP_REASONS",
    "LabelCap",
    "Metrics",
    "PrometheusMetrics",
    "count_entry_states",
    "metrics_for",
    "oldest_overdue",
]

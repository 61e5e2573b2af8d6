"""How many runs start in each minute, per queue: peaks, pile-ups and an hourly histogram.

Fast for 100k entries: entries are counted per distinct (schedule, zone, window) and
per group (queue or label), the fire minutes of each distinct schedule are computed
once, then added with the count as weight.  Cron fire minutes come from the expanded
fields checked against precomputed local wall times of each minute of the window
(per zone), so a busy ``* * * * *`` costs one pass, not 10,080 next-time steps.

Intervals (``every``) have a phase that depends on when they last ran, which the
files do not know: they are counted in totals and in the hourly histogram (spread
evenly), never in per-minute pile-ups.  Times are shown in UTC.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from typing import Any

from ..schedule import timing
from ..schedule.cron import cron_sets
from ..schedule.entry import Cron, Entry, Every
from . import DEFAULT_PILEUP, WINDOWS

UTC = timezone.utc
DEFAULT_GROUP = "default"
_MAX_STEPS = 20_000  # fire times walked per distinct non-cron schedule
_BAR_WIDTH = 30


@dataclass(frozen=True)
class PileUp:
    group: str
    pattern: str  # "minute :00 of every hour", "every day at 03:00 UTC", "2026-…"
    count: int  # most entries firing together in one of those minutes
    minutes: int  # how many minutes of the window have such a pile-up

    def sentence(self, by: str = "queue") -> str:
        where = f"queue {self.group}" if by == "queue" else f"{by} {self.group}"
        return f"{self.pattern}: {self.count} entries fire together on {where}"


@dataclass
class LoadReport:
    start: datetime  # UTC, whole minute
    minutes: int  # window length
    by: str
    threshold: int
    per_minute: dict[str, list[int]] = field(default_factory=dict)  # group -> counts
    interval_runs: dict[str, float] = field(default_factory=dict)  # group -> runs
    # group -> most runs interval entries of at most a minute start in any one minute
    # (longer intervals: their minute depends on their last run, so not counted here)
    interval_per_minute: dict[str, int] = field(default_factory=dict)
    interval_entries: int = 0
    entries: int = 0

    @property
    def groups(self) -> list[str]:
        return sorted(self.per_minute.keys() | self.interval_runs.keys())

    def runs(self, group: str) -> float:
        return sum(self.per_minute.get(group, ())) + self.interval_runs.get(group, 0.0)

    def peak(self, group: str | None = None) -> tuple[datetime, int, str] | None:
        """(minute, count, group) of the busiest minute: timed entries plus the runs
        intervals of a minute or less start in every minute."""
        best: tuple[datetime, int, str] | None = None
        for name in [group] if group else self.groups:
            counts = self.per_minute.get(name) or [0]
            top = max(counts)
            total = top + self.interval_per_minute.get(name, 0)
            if total and (best is None or total > best[1]):
                best = (self.start + timedelta(minutes=counts.index(top)), total, name)
        return best

    def hourly(self, group: str | None = None) -> list[float]:
        """Runs per hour of the window (24h) or per hour of day summed over it (7d)."""
        hours = [0.0] * 24
        names = [group] if group else self.groups
        for name in names:
            for i, count in enumerate(self.per_minute.get(name, ())):
                if count:
                    hours[(self.start + timedelta(minutes=i)).hour] += count
            spread = self.interval_runs.get(name, 0.0) / 24
            for hour in range(24):
                hours[hour] += spread
        return hours

    def pileups(self) -> list[PileUp]:
        """Minutes where at least ``threshold`` entries start together, as patterns."""
        out: list[PileUp] = []
        hours_in_window = self.minutes // 60
        days_in_window = max(1, self.minutes // 1440)
        for group in sorted(self.per_minute):
            hot = [(i, c) for i, c in enumerate(self.per_minute[group]) if c >= self.threshold]
            if not hot:
                continue
            by_minute: dict[int, list[tuple[int, int]]] = defaultdict(list)
            for i, count in hot:
                by_minute[(self.start + timedelta(minutes=i)).minute].append((i, count))
            used: set[int] = set()
            for minute, items in sorted(by_minute.items()):
                if len(items) >= max(2, hours_in_window * 9 // 10):
                    top = max(c for _, c in items)
                    out.append(
                        PileUp(group, f"minute :{minute:02d} of every hour", top, len(items))
                    )
                    used.update(i for i, _ in items)
            by_time: dict[str, list[tuple[int, int]]] = defaultdict(list)
            for i, count in hot:
                if i not in used:
                    moment = self.start + timedelta(minutes=i)
                    by_time[moment.strftime("%H:%M")].append((i, count))
            for clock, items in sorted(by_time.items()):
                top = max(c for _, c in items)
                if days_in_window > 1 and len(items) >= days_in_window:
                    out.append(PileUp(group, f"every day at {clock} UTC", top, len(items)))
                elif len(items) > 1:
                    out.append(PileUp(group, f"{clock} UTC on {len(items)} days", top, len(items)))
                else:
                    for i, count in items:
                        moment = self.start + timedelta(minutes=i)
                        label = moment.strftime("%Y-%m-%d %H:%M UTC")
                        out.append(PileUp(group, f"at {label}", count, 1))
        out.sort(key=lambda p: (-p.count, -p.minutes, p.group, p.pattern))
        return out


# --------------------------------------------------------------------------- fire minutes


@lru_cache(maxsize=64)
def _wall_index(
    zone_name: str, start: datetime, minutes: int
) -> dict[tuple[int, int], list[tuple[int, Any]]]:
    """(hour, minute) local -> [(minute index, local date)] over the window."""
    tz = timing.zone(zone_name)
    index: dict[tuple[int, int], list[tuple[int, Any]]] = defaultdict(list)
    for i in range(minutes):
        local = (start + timedelta(minutes=i)).astimezone(tz)
        index[(local.hour, local.minute)].append((i, local.date()))
    return index


def _cron_minutes(cron: Cron, zone_name: str, start: datetime, minutes: int) -> list[int]:
    sets = cron_sets(cron.expression)
    index = _wall_index(zone_name, start, minutes)
    out: list[int] = []
    for hour in sets.hour:
        for minute in sets.minute:
            for i, day in index.get((hour, minute), ()):
                if sets.matches_day(day):
                    out.append(i)
    return out


def _walked_minutes(entry: Entry, start: datetime, minutes: int) -> list[int]:
    end = start + timedelta(minutes=minutes)
    cursor = start - timedelta(microseconds=1)
    out: list[int] = []
    for _ in range(_MAX_STEPS):
        found = timing.next_fire_after(entry, cursor)
        if found is None or found >= end:
            break
        out.append(int((found.astimezone(UTC) - start).total_seconds() // 60))
        cursor = found
    return out


def _fire_minutes(entry: Entry, start: datetime, minutes: int) -> list[int]:
    schedule = entry.schedule
    plain_cron = isinstance(schedule, Cron) and entry.start_at is None and entry.end_at is None
    if plain_cron:
        try:
            return _cron_minutes(schedule, entry.timezone, start, minutes)  # type: ignore[arg-type]
        except (ValueError, KeyError, TypeError):
            pass
    return _walked_minutes(entry, start, minutes)


def _group_of(entry: Entry, by: str) -> str:
    if by.startswith("label:"):
        return entry.labels.get(by.split(":", 1)[1], "(none)")
    queue = entry.options.get("queue")
    return str(queue) if queue else DEFAULT_GROUP


def compute_load(
    entries: Iterable[Entry],
    *,
    window: str = "24h",
    by: str = "queue",
    threshold: int = DEFAULT_PILEUP,
    now: datetime | None = None,
) -> LoadReport:
    """Runs per minute of the next ``window`` for the enabled entries, per group."""
    minutes = WINDOWS[window]
    start = (now or datetime.now(UTC)).astimezone(UTC)
    start = start.replace(second=0, microsecond=0) + timedelta(minutes=1)
    report = LoadReport(start=start, minutes=minutes, by=by, threshold=threshold)
    weights: Counter[tuple[Any, str]] = Counter()
    sample: dict[Any, Entry] = {}
    for entry in entries:
        if not entry.enabled:
            continue
        report.entries += 1
        key = (entry.schedule, entry.timezone, entry.start_at, entry.end_at)
        weights[(key, _group_of(entry, by))] += 1
        sample.setdefault(key, entry)
    fires: dict[Any, list[int]] = {}
    for (key, group), weight in weights.items():
        entry = sample[key]
        if isinstance(entry.schedule, Every):
            report.interval_entries += weight
            seconds = float(entry.schedule.seconds)
            # Whole runs: a window of 24 h holds 12342 runs of every 7s, not 12342.86.
            runs = int(minutes * 60 // seconds) * weight
            report.interval_runs[group] = report.interval_runs.get(group, 0.0) + runs
            if seconds <= 60:
                per_minute = math.ceil(60 / seconds) * weight
                report.interval_per_minute[group] = (
                    report.interval_per_minute.get(group, 0) + per_minute
                )
            continue
        if key not in fires:
            fires[key] = _fire_minutes(entry, start, minutes)
        counts = report.per_minute.setdefault(group, [0] * minutes)
        for i in fires[key]:
            if 0 <= i < minutes:
                counts[i] += weight
    return report


# --------------------------------------------------------------------------- output


def _number(value: float) -> str:
    return f"{value:,.0f}" if value >= 10 or value == int(value) else f"{value:.1f}"


def render_text(report: LoadReport, *, top: int = 5) -> str:
    span = "24 h" if report.minutes == 1440 else f"{report.minutes // 1440} days"
    lines = [
        f"Load over the next {span} from {report.start:%Y-%m-%d %H:%M} UTC: "
        f"{report.entries} enabled entries, by {report.by}.",
        "",
    ]
    for group in report.groups:
        peak = report.peak(group)
        text = f"  {group}: {_number(report.runs(group))} runs"
        if peak:
            text += f", peak {peak[1]} at {peak[0]:%Y-%m-%d %H:%M} UTC"
        lines.append(text)
    overall = report.peak()
    if overall:
        lines += [
            "",
            f"Peak minute: {overall[0]:%Y-%m-%d %H:%M} UTC, {overall[1]} runs ({overall[2]}).",
        ]
    if report.interval_entries:
        lines.append(
            f"{report.interval_entries} interval entries: counted in totals and the histogram, "
            "and in peaks when they run at least once a minute; not in pile-ups (their "
            "phase depends on their last run)."
        )
    pileups = report.pileups()
    if pileups:
        lines += ["", f"Pile-ups (>= {report.threshold} entries in one minute):"]
        for item in pileups[:top]:
            lines.append(f"  warning: {item.sentence(report.by)}")
        if len(pileups) > top:
            lines.append(f"  … {len(pileups) - top} more")
        lines.append("  Spread them with H in the minute field (e.g. 'H * * * *', see README).")
    hourly = report.hourly()
    most = max(hourly) or 1.0
    title = (
        "Runs per hour (UTC)" if report.minutes == 1440 else "Runs per hour of day (UTC, summed)"
    )
    lines += ["", f"{title}:"]
    for hour, value in enumerate(hourly):
        bar = "█" * round(_BAR_WIDTH * value / most) if value else ""
        lines.append(f"  {hour:02d}h {_number(value):>8} {bar}")
    return "\n".join(lines) + "\n"


def to_json(report: LoadReport) -> dict[str, Any]:
    def peak_json(found: tuple[datetime, int, str] | None) -> dict[str, Any] | None:
        if found is None:
            return None
        return {"at": found[0].isoformat(), "count": found[1], "group": found[2]}

    return {
        "start": report.start.isoformat(),
        "window_minutes": report.minutes,
        "by": report.by,
        "entries": report.entries,
        "pileup_threshold": report.threshold,
        "peak": peak_json(report.peak()),
        "groups": {
            group: {
                "runs": round(report.runs(group)),
                "peak": peak_json(report.peak(group)),
                "hourly": [round(v, 2) for v in report.hourly(group)],
            }
            for group in report.groups
        },
        "hourly": [round(v, 2) for v in report.hourly()],
        "pileups": [
            {"group": p.group, "pattern": p.pattern, "count": p.count, "minutes": p.minutes}
            for p in report.pileups()
        ],
        "interval_entries": report.interval_entries,
    }


def plan_notes(entries: Iterable[Entry], now: datetime | None = None, limit: int = 2) -> list[str]:
    """At most ``limit`` + 1 short lines for the plan when the desired state piles up."""
    pileups = compute_load(entries, now=now).pileups()
    if not pileups:
        return []
    notes = [f"load: {p.sentence()}" for p in pileups[:limit]]
    more = len(pileups) - limit
    tail = f" ({more} more)" if more > 0 else ""
    notes.append(f"load: see `redbeat-sync load PATHS`{tail}; spread with H in cron minutes")
    return notes

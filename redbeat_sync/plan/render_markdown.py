"""A plan as GitHub-flavoured Markdown, for pull-request comments and job summaries.

Layout: a heading, the ``Plan: X to create, Y to update, Z to delete.`` sentence (or
``No changes.``) and a counts line first, so a reviewer sees the size of the change
without opening anything; then one collapsed ``<details>`` section per changed entry
with a ``field | old | new`` table, next fire times and the reasons it needs
``redbeat_sync.Scheduler``; then the unmanaged entries, summarized.

Everything that comes from the schedule files or from Redis is untrusted text in a
comment anyone may read: values go in code spans (which GitHub never renders as HTML
or mentions), names inside HTML go through ``html.escape``, free text is escaped.

A GitHub comment holds at most 65,536 characters: past ``max_chars`` no further
section is added and a visible note says how many entries are left out and where the
full plan is (the job log).
"""

from __future__ import annotations

import html
import re
from datetime import datetime
from typing import Any

from ..schedule import equivalence as semantics
from ..schedule.describe import describe_field, describe_next_runs, plural
from ..schedule.entry import Entry
from .actions import ABSENT, Action, Plan
from .kinds import KINDS

#: GitHub refuses comments longer than 65,536 characters; keep room for a wrapper.
DEFAULT_MAX_CHARS = 60_000
MAX_CELL_CHARS = 200
MAX_UNMANAGED_NAMES = 50
MAX_ROWS = 40  # fields per entry table; a huge args list must not crowd out the rest

#: Fields always shown for a created or deleted entry; others only when not default.
_ALWAYS_SHOWN = ("task", "schedule", "timezone")
_MARKDOWN_SPECIALS = re.compile(r"([\\`*_{}\[\]()#+\-.!|~>])")


# --------------------------------------------------------------------------- escaping


def escape_text(text: str) -> str:
    """Untrusted free text as literal Markdown: no HTML, no emphasis, no links."""
    text = " ".join(text.split())  # one line: a newline could end a table or a quote
    return _MARKDOWN_SPECIALS.sub(r"\\\1", html.escape(text, quote=False))


def code_span(text: str, *, in_table: bool = False) -> str:
    """``text`` as one inline code span, whatever backticks or pipes it holds."""
    text = " ".join(text.splitlines())
    if in_table:
        # GFM splits table cells on "|" before parsing code spans; "\|" keeps it.
        text = text.replace("|", "\\|")
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    if longest or text.startswith(" ") or text.endswith(" "):
        return f"{fence} {text} {fence}"
    return f"{fence}{text}{fence}"


def _cell(path: str, value: Any, zone: str | None) -> str:
    if value is ABSENT:
        return "*(absent)*"
    return code_span(describe_field(path, value, zone, MAX_CELL_CHARS), in_table=True)


# --------------------------------------------------------------------------- pieces


def summary_sentence(plan: Plan) -> str:
    """``Plan: X to create, Y to update, Z to delete.`` or ``No changes.``"""
    return plan.sentence()


def counts_line(plan: Plan) -> str:
    counts = plan.counts
    update = f"update **{counts['update'] + counts['reschedule']}**"
    if counts["reschedule"]:
        update += f" ({counts['reschedule']} reschedule)"
    parts = [
        f"create **{counts['create']}**",
        update,
        f"delete **{counts['delete']}**",
        f"adopt **{counts['adopt']}**",
        *([f"move **{counts['move']}**"] if counts.get("move") else []),
        *([f"release **{counts['release']}**"] if counts.get("release") else []),
        f"unchanged {counts['noop']}",
        f"unmanaged {counts['unmanaged']}",
    ]
    return " · ".join(parts)


def _entry_rows(entry: Entry, *, side: str) -> list[tuple[str, Any, Any]]:
    """(path, old, new) rows describing a whole entry created or deleted."""
    canonical = entry.to_canonical()
    shown = entry.non_default_fields().keys() | set(_ALWAYS_SHOWN)
    rows: list[tuple[str, Any, Any]] = []
    for name, value in canonical.items():  # canonical order, as before
        if name == "name" or name not in shown:
            continue
        rows.append((name, ABSENT, value) if side == "new" else (name, value, ABSENT))
    return rows


def _rows(action: Action) -> list[tuple[str, Any, Any]]:
    if action.changes:
        return [(c.path, c.old, c.new) for c in action.changes]
    if action.kind == "create" and action.desired is not None:
        return _entry_rows(action.desired, side="new")
    if action.kind == "delete" and action.current is not None and action.current.entry:
        return _entry_rows(action.current.entry, side="old")
    return []


def _table(rows: list[tuple[str, Any, Any]], zones: tuple[str | None, str | None]) -> list[str]:
    lines = ["| field | old | new |", "| --- | --- | --- |"]
    for path, old, new in rows[:MAX_ROWS]:
        old_cell, new_cell = _cell(path, old, zones[0]), _cell(path, new, zones[1])
        lines.append(f"| {code_span(path, in_table=True)} | {old_cell} | {new_cell} |")
    if len(rows) > MAX_ROWS:
        lines.append(f"| *… {len(rows) - MAX_ROWS} more fields (see the job log)* | | |")
    return lines


def _no_field_note(action: Action) -> str | None:
    if action.kind == "reschedule":
        return "The definition is unchanged; the next due time is recomputed."
    if action.kind == "adopt":
        return "Taken over as stored; run history kept."
    if action.kind == "delete":
        return "The stored definition is gone or could not be read."
    if action.kind == "release":
        return "No longer managed; left in Redis as it is (prune: false)."
    return None


def render_section(action: Action, now: datetime | None = None) -> str:
    """One collapsed ``<details>`` block for one changed entry."""
    label = action.kind
    sign = html.escape(KINDS[action.kind].symbol)
    shown = action.name
    if action.kind == "move":
        shown = f"{action.moved_from} → {action.name}"
    summary = f"<code>{sign} {html.escape(shown)}</code> <b>{label}</b>"
    if action.source:
        summary += f" <sub>{html.escape(action.source)}</sub>"
    # The blank line after <summary> lets GitHub render the body as Markdown.
    lines = [f"<details><summary>{summary}</summary>", ""]
    if action.kind == "move":
        moved = f"{code_span(action.moved_from or '')} moves to {code_span(action.name)}"
        lines += [f"{moved}; run history kept.", ""]
    rows = _rows(action)
    if rows:
        lines += [*_table(rows, action.change_zones), ""]
    else:
        note = _no_field_note(action)
        if note:
            lines += [note, ""]
    frequency = semantics.action_frequency(action, now)
    if frequency:
        lines += [f"**Frequency:** {escape_text(semantics.format_frequency(frequency))}", ""]
    if action.next_runs:
        runs = describe_next_runs(action.next_runs, action.at_once_for)
        times = ", ".join(code_span(text) for text in runs)
        lines += [f"**Next runs:** {times}", ""]
    if action.requires_scheduler:
        reasons = "; ".join(escape_text(r) for r in action.requires_scheduler)
        lines += [f"> **Requires `redbeat_sync.Scheduler`:** {reasons}", ""]
    for warning in action.warnings:
        lines += [f"> **Warning:** {escape_text(warning)}", ""]
    lines += ["</details>", ""]
    return "\n".join(lines) + "\n"


def _header(plan: Plan) -> str:
    when = plan.created_at.strftime("%Y-%m-%d %H:%M:%S %Z").strip()
    lines = [
        f"### redbeat-sync plan for {code_span(plan.prefix)}",
        "",
        f"**{summary_sentence(plan)}**",
        "",
        counts_line(plan),
        "",
        f"<sub>Planned at {html.escape(when)} against state "
        f"<code>{html.escape(plan.fingerprint[:12])}</code>.</sub>",
        "",
    ]
    return "\n".join(lines) + "\n"


def _tail(plan: Plan) -> str:
    lines: list[str] = []
    if plan.unmanaged:
        count = len(plan.unmanaged)
        names = ", ".join(code_span(n) for n in plan.unmanaged[:MAX_UNMANAGED_NAMES])
        more = count - MAX_UNMANAGED_NAMES
        if more > 0:
            names += f" and {more} more"
        lines += [
            f"<details><summary>{plural(count, 'unmanaged entry', 'unmanaged entries')} "
            "in Redis left untouched</summary>",
            "",
            names,
            "",
            "</details>",
            "",
        ]
    for name, note in sorted(plan.paused.items()):
        lines += [f"⏸ {code_span(name)}: {escape_text(note)} (kept by apply)", ""]
    for warning in plan.warnings:
        lines += [f"> **Warning:** {escape_text(warning)}", ""]
    return "\n".join(lines) + "\n" if lines else ""


def truncation_note(left_out: int, log_url: str | None) -> str:
    where = f"[job log]({log_url})" if log_url else "job log"
    more = plural(left_out, "more entry", "more entries")
    return f"**… {more} not shown;** see the full plan in the {where}.\n\n"


# --------------------------------------------------------------------------- whole


def render_markdown(
    plan: Plan, *, max_chars: int = DEFAULT_MAX_CHARS, log_url: str | None = None
) -> str:
    """The plan as Markdown of at most ``max_chars`` characters (see the module doc)."""
    head, tail = _header(plan), _tail(plan)
    changes = plan.changes
    # Room for the note with the largest count it could carry.
    reserve = len(truncation_note(len(changes), log_url))
    budget = max_chars - len(head) - len(tail) - reserve
    sections: list[str] = []
    for action in changes:
        section = render_section(action, plan.created_at)
        if len(section) > budget:
            break
        sections.append(section)
        budget -= len(section)
    left_out = len(changes) - len(sections)
    note = truncation_note(left_out, log_url) if left_out else ""
    text = head + "".join(sections) + note + tail
    if len(text) > max_chars:  # a huge tail: keep the summary and the note
        note = truncation_note(left_out, log_url) if left_out else ""
        text = head + note
        text = text[:max_chars]
    return text.rstrip("\n") + "\n"

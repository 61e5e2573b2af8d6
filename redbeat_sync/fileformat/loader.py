"""Schedule files -> canonical ``entry.Entry`` objects, or every problem at once.

``load_paths`` reads every file, checks every entry, and only then raises
``errors.ProblemsFound`` with all problems of all files, each pointing at the line and
column of the offending value (or of the parent key when a field is missing).
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from pathlib import Path
from typing import Any, get_args, get_origin
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ValidationError

from ..bulk import gc_paused
from ..errors import Problem, ProblemsFound, field_path
from ..schedule import solar, spread, timing
from ..schedule.durations import MAX_DURATION_SECONDS, MAX_DURATION_TEXT
from ..schedule.entry import At, Cron, Entry, Every, RRule, Schedule, Solar
from ..schedule.vocabulary import (
    DEFAULT_MISFIRE,
    DEFAULT_OVERLAP,
    DEFAULT_TIMEZONE,
    SCHEDULE_KINDS,
)
from . import models, yamlload
from .models import DefaultsModel, EntryModel, FileHead

YAML_SUFFIXES = (".yaml", ".yml")


@dataclass(frozen=True)
class SpecEntry:
    entry: Entry
    file: str
    line: int  # position of the entry's name key
    column: int
    moved_from: str | None = None  # former name: apply renames it, keeping run history


@dataclass(frozen=True)
class _Name:
    name: str
    file: str
    line: int
    column: int


@dataclass(frozen=True)
class Spec:
    entries: list[SpecEntry]
    files: list[str]

    def by_name(self) -> dict[str, SpecEntry]:
        return {item.entry.name: item for item in self.entries}


class SpecProblems(ProblemsFound):
    """The files' problems, with the entries that did load (``validate`` still warns
    about those: a DST surprise is not hidden by a typo elsewhere)."""

    def __init__(self, problems: list[Problem], loaded: Spec) -> None:
        super().__init__(problems)
        self.loaded = loaded


# --------------------------------------------------------------------------- entry points


def load_paths(
    paths: Sequence[str | Path], *, max_file_bytes: int = yamlload.MAX_FILE_BYTES
) -> Spec:
    """Load files and directories (all *.yaml / *.yml beneath, sorted)."""
    problems: list[Problem] = []
    files = _expand(paths, problems)
    entries: list[SpecEntry] = []
    names: list[_Name] = []
    with gc_paused():
        for file in files:

            def read_fully(file: str = file) -> yamlload.YamlDocument:
                return yamlload.read_file(file, max_bytes=max_file_bytes)

            document = yamlload.read_file(file, max_bytes=max_file_bytes, full_positions=False)
            entries.extend(_check_file(file, document, problems, names, read_fully))
    _check_unique_names(names, problems)
    _check_moves(entries, names, problems)
    if problems:
        raise SpecProblems(problems, Spec(entries, files))
    return Spec(entries, files)


def load_paths_checked(paths: Sequence[str | Path], check: Callable[[Spec], None]) -> Spec:
    """``load_paths``, then ``check`` (which raises ProblemsFound) on what loaded.

    ``check`` also runs on the entries that loaded beside bad ones, so the problems of
    both come at once (``--app``'s task checks are not hidden by a typo elsewhere).
    """
    try:
        spec = load_paths(paths)
    except SpecProblems as found:
        try:
            check(found.loaded)
        except ProblemsFound as more:
            raise SpecProblems([*found.problems, *more.problems], found.loaded) from None
        raise
    check(spec)
    return spec


def load_text(text: str | bytes, file: str = "<text>") -> Spec:
    """Load one schedule given as text (tests, round trips, stdin)."""
    data = text.encode("utf-8", "surrogatepass") if isinstance(text, str) else text
    problems: list[Problem] = []
    with gc_paused():
        document = yamlload.load_bytes(data, full_positions=False)
        names: list[_Name] = []
        entries = _check_file(file, document, problems, names, lambda: yamlload.load_bytes(data))
    _check_moves(entries, names, problems)
    if problems:
        raise SpecProblems(problems, Spec(entries, [file]))
    return Spec(entries, [file])


def _check_file(
    file: str,
    document: yamlload.YamlDocument,
    problems: list[Problem],
    names: list[_Name],
    reread: Callable[[], yamlload.YamlDocument],
) -> list[SpecEntry]:
    """Check a file read quickly without deep positions; on problems, read it fully.

    Problems are rare and need exact positions; clean files (almost all of them, and
    all of a 100k-entry schedule) skip the cost of recording every value's position.
    """
    before = len(problems)
    checker = _FileChecker(file, document, problems)
    entries = checker.check()
    if len(problems) != before and not document.full_positions:
        del problems[before:]
        checker = _FileChecker(file, reread(), problems)
        entries = checker.check()
    names.extend(checker.names)
    return entries


def _expand(paths: Sequence[str | Path], problems: list[Problem]) -> list[str]:
    files: list[str] = []
    seen: set[Path] = set()
    if not paths:
        problems.append(Problem("", 0, 0, "", "no schedule files given"))
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found = sorted(
                p
                for p in path.rglob("*")
                if p.suffix.lower() in YAML_SUFFIXES
                and p.is_file()
                and not any(part.startswith(".") for part in p.relative_to(path).parts)
            )
            if not found:
                problems.append(Problem(str(path), 0, 0, "", "no *.yaml or *.yml files found"))
            candidates: Iterable[Path] = found
        elif path.exists():
            candidates = [path]
        else:
            problems.append(Problem(str(path), 0, 0, "", "no such file or directory"))
            continue
        for candidate in candidates:
            resolved = candidate.resolve()
            if resolved not in seen:
                seen.add(resolved)
                files.append(str(candidate))
    return files


def _check_unique_names(names: list[_Name], problems: list[Problem]) -> None:
    """A name in two files is one problem naming both places (valid entries or not)."""
    first: dict[str, _Name] = {}
    for item in names:
        earlier = first.setdefault(item.name, item)
        if earlier is not item:
            problems.append(
                Problem(
                    item.file,
                    item.line,
                    item.column,
                    field_path(("entries", item.name)),
                    f"entry {item.name!r} is defined twice: here and at "
                    f"{earlier.file}:{earlier.line}:{earlier.column}",
                )
            )


def _check_moves(entries: list[SpecEntry], names: list[_Name], problems: list[Problem]) -> None:
    """``moved_from`` must name an entry the files no longer have, once."""
    present = {item.name for item in names}
    claimed: dict[str, SpecEntry] = {}
    for item in entries:
        old = item.moved_from
        if old is None:
            continue
        where = field_path(("entries", item.entry.name, "moved_from"))

        def add(message: str, item: SpecEntry = item, where: str = where) -> None:
            problems.append(Problem(item.file, item.line, item.column, where, message))

        if old == item.entry.name:
            add("moved_from names the entry itself; remove it")
        elif old in present:
            add(
                f"{old!r} is still defined in the files; remove that entry "
                "(a move renames it) or drop moved_from"
            )
        elif old in claimed:
            first = claimed[old]
            add(
                f"{old!r} is also the former name of {first.entry.name!r} "
                f"({first.file}:{first.line}); one entry can only move to one name"
            )
        else:
            claimed[old] = item


# --------------------------------------------------------------------------- one file


class _FileChecker:
    def __init__(self, file: str, document: yamlload.YamlDocument, problems: list[Problem]) -> None:
        self.file = file
        self.doc = document
        self.problems = problems
        # Paths the YAML layer already complained about: no second complaint below them.
        self.reported = {p.path for p in document.problems if p.path}
        self.names: list[_Name] = []  # every entry name with its place, valid or not
        self.default_options: dict[str, Any] = {}
        #: Keys of ``defaults`` left out for their reported faults: entries do not get a
        #: second complaint for a default they would have inherited.
        self.broken_defaults: set[str] = set()

    def check(self) -> list[SpecEntry]:
        for p in self.doc.problems:
            self.problems.append(
                Problem(self.file, p.line, p.column, field_path(p.path), p.message)
            )
        root = self.doc.value
        if root is None:
            if not self.doc.problems:
                self._add((), "empty file; expected `version: 1` and `entries:`")
            return []
        if not isinstance(root, dict):
            self._add((), "expected a mapping with `version: 1` and `entries:`")
            return []
        defaults = self._check_head(root)
        entries = root.get("entries")
        if not isinstance(entries, dict):
            return []
        out: list[SpecEntry] = []
        entries_pos = self.doc.pos[2]["entries"][2]
        kids = entries_pos[2] or {}
        for name, raw in entries.items():
            # An aliased `entries: *x` read quickly may lack the names' own positions.
            line, column = kids[name][:2] if name in kids else entries_pos[:2]
            self.names.append(_Name(name, self.file, line, column))
            built = self._check_entry(name, raw, defaults)
            if built is not None:
                moved_from = raw.get("moved_from")  # validated: a string or absent
                out.append(SpecEntry(built, self.file, line, column, moved_from))
        return out

    # ------------------------------------------------------------------ reporting

    def _add(self, path: tuple[Any, ...], message: str, *, at_key: bool = False) -> None:
        if any(path[:n] in self.reported for n in range(1, len(path) + 1)):
            return
        locate = yamlload.locate_key if at_key else yamlload.locate
        line, column = locate(self.doc.pos, path)
        self.problems.append(Problem(self.file, line, column, field_path(path), message))

    def _add_validation(self, prefix: tuple[Any, ...], error: ValidationError) -> None:
        for item in error.errors(include_url=False):
            loc = _strip_tags(tuple(item["loc"]))
            path = (*prefix, *loc)
            kind = item["type"]
            message = _message(item, loc, _field_names_at(error.title, loc))
            self._add(path, message, at_key=kind == "extra_forbidden")

    # ------------------------------------------------------------------ head

    def _check_head(self, root: dict[str, Any]) -> DefaultsModel | None:
        defaults = self._validate_head(root)
        if defaults is not None:
            self.default_options = self._json_ready(
                defaults.options.as_dict(), ("defaults", "options")
            )
        return defaults

    def _validate_head(self, root: dict[str, Any]) -> DefaultsModel | None:
        try:
            head = FileHead.model_validate(root)
        except ValidationError as error:
            self._add_validation((), error)
            raw = root.get("defaults")
            if isinstance(raw, dict):
                return self._usable_defaults(raw)
            return None
        return head.defaults

    def _usable_defaults(self, raw: dict[str, Any]) -> DefaultsModel | None:
        """The defaults without their faulty keys (already reported), so the entries are
        still checked with what they inherit: every problem at once."""
        try:
            return DefaultsModel.model_validate(raw)
        except ValidationError as error:
            broken = {item["loc"][0] for item in error.errors() if item["loc"]}
        self.broken_defaults = {str(key) for key in broken}
        try:
            return DefaultsModel.model_validate({k: v for k, v in raw.items() if k not in broken})
        except ValidationError:
            return None  # a fault across keys: entries checked without defaults

    # ------------------------------------------------------------------ entries

    def _check_entry(self, name: str, raw: Any, defaults: DefaultsModel | None) -> Entry | None:
        path = ("entries", name)
        problem = models.entry_name_problem(name)
        if problem:
            self._add(path, problem, at_key=True)
        old = raw.get("moved_from") if isinstance(raw, dict) else None
        old_problem = models.entry_name_problem(old) if isinstance(old, str) else None
        if old_problem:
            self._add((*path, "moved_from"), old_problem.replace("entry names", "names"))
        try:
            model = EntryModel.model_validate(raw)
        except ValidationError as error:
            self._add_validation(path, error)
            self._check_json_parts(raw, path)
            return None
        before = len(self.problems)
        entry = self._build(name, model, defaults or _NO_DEFAULTS, path)
        if problem or len(self.problems) != before:
            return None
        return entry

    def _build(
        self, name: str, m: EntryModel, d: DefaultsModel, path: tuple[Any, ...]
    ) -> Entry | None:
        zone_name = m.timezone or d.timezone or DEFAULT_TIMEZONE
        zone = _zone(zone_name)
        schedule = self._schedule(m, zone, path)
        misfire = m.misfire or d.misfire or DEFAULT_MISFIRE
        deadline: float | None = None
        if misfire == "deadline":
            deadline = m.deadline if m.deadline is not None else d.deadline
            if deadline is None and "deadline" not in self.broken_defaults:
                where = (*path, "misfire") if m.misfire else path
                self._add(where, "misfire: deadline needs `deadline:` (a duration like 10m)")
        elif m.deadline is not None and "misfire" not in self.broken_defaults:
            self._add((*path, "deadline"), "deadline only applies with `misfire: deadline`")
        start_at = self._instant(m.start_at, zone, (*path, "start_at"))
        end_at = self._instant(m.end_at, zone, (*path, "end_at"))
        if start_at and end_at and end_at <= start_at:
            self._add((*path, "end_at"), "end_at must be after start_at")
        options = {
            **self.default_options,
            **self._json_ready(m.options.as_dict(), (*path, "options")),
        }
        args = self._json_ready(m.args, (*path, "args"))
        kwargs = self._json_ready(m.kwargs, (*path, "kwargs"))
        if schedule is None:
            return None
        return Entry(
            name=name,
            task=m.task,
            schedule=schedule,
            args=args,
            kwargs=kwargs,
            options=options,
            enabled=m.enabled if m.enabled is not None else (d.enabled is not False),
            timezone=zone_name,
            description=m.description,
            labels={**d.labels, **m.labels},
            start_at=start_at,
            end_at=end_at,
            jitter=m.jitter if m.jitter is not None else (d.jitter or 0.0),
            misfire=misfire,
            deadline=deadline,
            prune=m.prune if m.prune is not None else (d.prune is not False),
            overlap=m.overlap or d.overlap or DEFAULT_OVERLAP,
            overlap_timeout=m.overlap_timeout
            if m.overlap_timeout is not None
            else d.overlap_timeout,
        )

    def _schedule(self, m: EntryModel, zone: ZoneInfo, path: tuple[Any, ...]) -> Schedule | None:
        s = m.schedule
        if isinstance(s, models.CronSchedule):
            # ``H`` fields get this entry's hashed value (spread.py): Redis holds plain cron.
            return Cron.from_expression(spread.resolve(s.cron, path[1]))
        if isinstance(s, models.EverySchedule):
            return Every(s.every, s.relative)
        if isinstance(s, models.AtSchedule):
            when = self._instant(s.at, zone, (*path, "schedule", "at"))
            return At(when) if when else None
        if isinstance(s, models.SolarSchedule):
            if not solar.available():
                self._add((*path, "schedule", "solar"), solar.MISSING_MESSAGE)
                return None
            return Solar(s.solar.event, s.solar.lat, s.solar.lon)
        r = s.rrule
        where = (*path, "schedule", "rrule")
        dtstart = self._instant(r.dtstart, zone, (*where, "dtstart"))
        until = self._instant(r.until, zone, (*where, "until"))
        if dtstart and until and until < dtstart:
            self._add((*path, "schedule", "rrule", "until"), "until must not be before dtstart")
            return None
        # An empty list means "not set", as the state reader decodes it.
        by = {field: getattr(r, field) or None for field in RRule.BY_FIELDS}
        rule = RRule(
            freq=r.freq,
            interval=r.interval,
            dtstart=dtstart,
            until=until,
            count=r.count,
            wkst=r.wkst,
            **by,
        )
        if not self._rrule_fires(rule, zone.key):
            since = "its dtstart" if dtstart else "now"
            self._add(
                where,
                f"this rule selects no date-time within {MAX_DURATION_TEXT} of {since}, so it "
                "would never fire (like bymonth: 2 with bymonthday: 30)",
            )
            return None
        return rule

    @staticmethod
    def _rrule_fires(rule: RRule, zone_name: str) -> bool:
        start = rule.dtstart or datetime.now(_UTC)
        horizon = timedelta(seconds=MAX_DURATION_SECONDS)
        end = start + horizon if start < _LAST_INSTANT - horizon else _LAST_INSTANT
        return timing.rrule_first_between(rule, zone_name, start, end) is not None

    def _instant(self, value: datetime | None, zone: Any, path: tuple[Any, ...]) -> datetime | None:
        """An aware date-time (naive ones are in ``zone``) that UTC can also express."""
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=zone)
        try:
            value.astimezone(timezone.utc)
        except (OverflowError, ValueError):
            self._add(path, "date-time out of range (years 1 to 9999 in UTC)")
            return None
        return value

    def _check_json_parts(self, raw: Any, path: tuple[Any, ...]) -> None:
        """JSON checks of an entry that failed validation, so they are reported too."""
        if not isinstance(raw, dict):
            return
        for name, kind in (("args", list), ("kwargs", dict), ("options", dict)):
            value = raw.get(name)
            if isinstance(value, kind):
                self._json_ready(value, (*path, name))

    def _json_ready(self, value: Any, path: tuple[Any, ...]) -> Any:
        """JSON-able value: naive datetimes become UTC; NaN/inf and odd types are problems.

        The common case (only text, numbers, booleans, null) is returned as it is.
        """
        if _plain_json(value):
            return value
        return self._json_fixed(value, path)

    def _json_fixed(self, value: Any, path: tuple[Any, ...]) -> Any:
        kind = type(value)
        if kind is str or kind is int or kind is bool or value is None:
            return value
        if kind is float:
            if not math.isfinite(value):
                self._add(path, f"{value} is not a finite number, which JSON cannot carry")
            return value
        if kind is dict:
            return {k: self._json_fixed(v, (*path, k)) for k, v in value.items()}
        if kind is list:
            return [self._json_fixed(v, (*path, i)) for i, v in enumerate(value)]
        if isinstance(value, datetime):
            return self._instant(value, _UTC, path)
        self._add(path, f"a {kind.__name__} cannot be sent to Celery as JSON")
        return value


_NO_DEFAULTS = DefaultsModel()


@lru_cache(maxsize=1024)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


_UTC = timezone.utc
_LAST_INSTANT = datetime.max.replace(tzinfo=_UTC) - timedelta(days=2)  # any zone can show it
_SIMPLE = (str, int, bool, type(None))


def _plain_json(value: Any) -> bool:
    """True when ``value`` holds only text, whole numbers, finite floats, booleans, null."""
    pending = [value]
    while pending:
        item = pending.pop()
        kind = type(item)
        if kind is dict:
            pending.extend(item.values())
        elif kind is list:
            pending.extend(item)
        elif kind is float:
            if not math.isfinite(item):
                return False
        elif kind not in _SIMPLE:
            return False
    return True


# --------------------------------------------------------------------------- messages


def _strip_tags(loc: tuple[Any, ...]) -> tuple[Any, ...]:
    # pydantic puts the union member's tag in the location: schedule.rrule.rrule.freq
    if len(loc) >= 2 and loc[0] == "schedule" and loc[1] in SCHEDULE_KINDS:
        return (loc[0], *loc[2:])
    return loc


def _all_field_names() -> set[str]:
    names: set[str] = set()
    classes: list[type[BaseModel]] = [
        models.FileModel,
        models.DefaultsModel,
        models.EntryModel,
        models.CronSchedule,
        models.EverySchedule,
        models.RRuleSchedule,
        models.RRuleSpec,
        models.AtSchedule,
        models.SolarSchedule,
        models.SolarSpec,
    ]
    for cls in classes:
        names.update(cls.model_fields)
    return names


_FIELD_NAMES = sorted(_all_field_names())


def _models_in(annotation: Any) -> tuple[list[type[BaseModel]], bool]:
    """The models a field holds (through unions, Annotated, lists and dicts), and
    whether it holds them in a container (the next location part is a key or index)."""
    # get_origin: on Python 3.10 a generic alias such as dict[str, str] passes
    # isinstance(..., type) but issubclass refuses it.
    if (
        isinstance(annotation, type)
        and get_origin(annotation) is None
        and issubclass(annotation, BaseModel)
    ):
        return [annotation], False
    found: list[type[BaseModel]] = []
    contained = get_origin(annotation) in (list, dict, tuple, set)
    for arg in get_args(annotation):
        inner, deeper = _models_in(arg)
        found += inner
        contained = contained or deeper
    return found, contained


_LOC_ROOTS: tuple[type[BaseModel], ...] = (DefaultsModel, EntryModel, FileHead)


def _field_names_at(model_name: str, loc: tuple[Any, ...]) -> list[str]:
    """The fields of the level an unknown key sits at (``loc`` from the model named
    ``model_name``), so "did you mean" never offers a field of another level."""
    # ValidationError.title is the model's schema title when it has one, else its name.
    roots = {cls.model_config.get("title") or cls.__name__: cls for cls in _LOC_ROOTS}
    level = [roots[model_name]] if model_name in roots else []
    skip = False  # the part after a dict or list field is a key or an index
    for part in loc[:-1]:
        if skip:
            skip = False
            continue
        deeper: list[type[BaseModel]] = []
        for cls in level:
            if isinstance(part, str) and part in cls.model_fields:
                inner, skip_next = _models_in(cls.model_fields[part].annotation)
                deeper += inner
                skip = skip or skip_next
        level = deeper or level  # else a union tag left in the location: same level
    names = sorted({name for cls in level for name in cls.model_fields})
    return names or _FIELD_NAMES


_YAML_WORDS = {True: "true", False: "false", None: "null"}


def _message(item: Any, loc: tuple[Any, ...], fields: Sequence[str] = _FIELD_NAMES) -> str:
    kind = item["type"]
    value = item.get("input")
    last = loc[-1] if loc else ""
    if kind == "missing":
        return f"missing required field {last!r}"
    if kind == "extra_forbidden":
        close = difflib.get_close_matches(str(last), fields, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        return f"unknown field {last!r}{hint}"
    if kind == "schedule_kind":
        return _schedule_kind_message(value)
    if kind == "value_error":
        message = str(item["msg"])
        return message.removeprefix("Value error, ")
    if kind == "string_type":
        if value is None or isinstance(value, bool):
            shown = _YAML_WORDS[value]
        elif isinstance(value, (int, float)):
            shown = repr(value)
        else:
            return "expected text"
        what = f"the {_yaml_type(value)} {shown}"
        return f"expected text, but YAML read this unquoted value as {what}: put it in quotes"
    if kind in ("int_type", "int_parsing", "int_from_float"):
        return f"expected a whole number, got {value!r}"
    if kind == "bool_type":
        return f"expected true or false, got {value!r}"
    if kind == "list_type":
        return "expected a list, like [1, 2]"
    if kind in ("dict_type", "model_type", "model_attributes_type"):
        return "expected a mapping (key: value pairs)"
    if kind == "literal_error":
        return f"expected {item['ctx']['expected']}, got {value!r}"
    if kind == "greater_than_equal":
        return f"expected a number of at least {item['ctx']['ge']}, got {value!r}"
    if kind == "less_than_equal":
        return f"expected a number of at most {item['ctx']['le']}, got {value!r}"
    if kind.startswith("datetime") or kind.startswith("date_"):
        return "expected an ISO 8601 date-time like 2025-01-31T09:00:00+01:00"
    msg = str(item["msg"])
    return msg[:1].lower() + msg[1:]


def _yaml_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if value is None:
        return "null"
    return "number"


def _schedule_kind_message(value: Any) -> str:
    kinds = ", ".join(SCHEDULE_KINDS)
    if not isinstance(value, dict):
        return f"expected a mapping with one of {kinds}, like {{every: 5m}}"
    found = [kind for kind in SCHEDULE_KINDS if kind in value]
    if not found:
        return f"expected exactly one of {kinds}"
    return f"expected exactly one schedule kind, found {' and '.join(found)}"

"""The v1 schedule file format as pydantic models: the single source of truth.

The JSON schema that editors use (``schemas/redbeat-sync.schema.json``) is generated
from these models, so every ``description`` here is help text a user sees.

The models check each value on its own; rules that need several values or the file's
``defaults`` (naive datetimes in the entry's zone, misfire/deadline, start before end,
JSON-able args) are applied by ``loader`` when it builds ``entry.Entry`` objects.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from functools import lru_cache
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    StrictBool,
    StrictInt,
    StrictStr,
    Tag,
    WithJsonSchema,
    model_validator,
)

from ..schedule import cron, spread
from ..schedule.durations import (
    DURATION_HELP,
    MAX_DURATION_SECONDS,
    MAX_DURATION_TEXT,
    MIN_POSITIVE_SECONDS,
    parse_duration,
)
from ..schedule.vocabulary import (
    CRON_DAY_NAMES,
    CRON_FIELD_LABELS,
    CRON_MONTH_NAMES,
    DEFAULT_MISFIRE,
    DEFAULT_OVERLAP,
    DEFAULT_TIMEZONE,
    RRULE_FREQUENCIES,
    SCHEDULE_KINDS,
    WEEKDAY_NAMES,
    WEEKDAY_NUMBERS,
    MisfirePolicy,
    OverlapPolicy,
    RRuleFrequency,
    SolarEvent,
)
from ..schedule.zonenames import timezone_problem
from .options import OptionsModel

FORMAT_VERSION = 1
MAX_NAME_LENGTH = 200

# --------------------------------------------------------------------------- names


# Celery lets a task take any name (``@app.task(name="send-email")``) and RedBeat stores
# whatever it was given, so only what can never be a usable name is refused: blanks,
# whitespace and control characters. Dotted module paths are the convention, not a rule.
_TASK_RE = re.compile(r"[^\s\x00-\x1f\x7f]{1,255}")
TASK_PATTERN = r"^[^\s\x00-\x1f\x7f]{1,255}$"
# Names RedBeat stores as `<prefix><name>`; a leading ':' would land on its own keys
# (`redbeat::schedule`, `redbeat::lock`, ...).
NAME_PATTERN = (
    r"^[^:\u0000-\u001f\u007f-\u009f\u2028\u2029][^\u0000-\u001f\u007f-\u009f\u2028\u2029]*$"
)


_NAME_BAD_CHARS = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")  # Cc + line separators


#: Entries Celery's beat installs by itself (``Scheduler.install_default_entries``):
#: Celery's, not the user's.  Beat keeps them as static entries; files, export and
#: import leave them alone, so beat never finds them "managed by redbeat-sync".
CELERY_BUILTIN_ENTRIES = frozenset({"celery.backend_cleanup"})


def builtin_entry_note(name: str) -> str:
    return (
        f"{name!r} is Celery's own built-in entry (beat installs it when result_expires "
        "is set and the result backend does not expire results itself): it stays Celery's"
    )


def entry_name_problem(name: str) -> str | None:
    """Why ``name`` cannot be a RedBeat entry name, or None when it can."""
    if name in CELERY_BUILTIN_ENTRIES:
        return builtin_entry_note(name) + ", so schedule files cannot manage it"
    if not name:
        return "entry names must not be empty"
    if len(name) > MAX_NAME_LENGTH:
        return f"entry names are at most {MAX_NAME_LENGTH} characters (this one has {len(name)})"
    if name.startswith(":"):
        return "entry names must not start with ':' (that would collide with RedBeat's own keys)"
    bad = _NAME_BAD_CHARS.search(name)
    if bad:
        return f"entry names must not contain control characters or line breaks ({bad.group()!r})"
    return None


@lru_cache(maxsize=8192)
def _is_task_name(value: str) -> bool:
    return _TASK_RE.fullmatch(value) is not None


def _check_task(value: str) -> str:
    if not _is_task_name(value):
        raise ValueError(
            f"expected a Celery task name without spaces, usually dotted like "
            f"app.tasks.send_report; got {value!r}"
        )
    return value


TaskName = Annotated[
    StrictStr,
    AfterValidator(_check_task),
    WithJsonSchema({"type": "string", "pattern": TASK_PATTERN}),
]

# --------------------------------------------------------------------------- time zones


def _refusing(problem_of: Callable[[str], str | None]) -> AfterValidator:
    """A validator from a function that names what is wrong with a value (or None):
    the same functions serve the CLI and beat, which report problems without pydantic."""

    def check(value: str) -> str:
        problem = problem_of(value)
        if problem:
            raise ValueError(problem)
        return value

    return AfterValidator(check)


TimezoneName = Annotated[
    StrictStr,
    _refusing(timezone_problem),
    WithJsonSchema({"type": "string", "examples": ["UTC", "Europe/Paris", "America/New_York"]}),
]

# --------------------------------------------------------------------------- durations


_DURATION_TEXT_JSON = {
    "type": "string",
    "pattern": r"^\s*(\d+(\.\d+)?\s*[wdhms]\s*)+$|^\s*\d+(\.\d+)?\s*$",
}


def _duration_json(minimum: dict[str, float]) -> dict[str, Any]:
    number = {"type": "number", **minimum, "maximum": MAX_DURATION_SECONDS}
    return {
        "anyOf": [number, _DURATION_TEXT_JSON],
        "description": f"{DURATION_HELP}; at most {MAX_DURATION_TEXT}",
        "examples": ["30s", "5m", "1h30m", 3600],
    }


def _duration(value: Any) -> float:
    return parse_duration(value)


def _positive_duration(value: Any) -> float:
    return parse_duration(value, positive=True)


Duration = Annotated[
    float, BeforeValidator(_duration), WithJsonSchema(_duration_json({"minimum": 0}))
]
PositiveDuration = Annotated[
    float,
    BeforeValidator(_positive_duration),
    WithJsonSchema(_duration_json({"minimum": MIN_POSITIVE_SECONDS})),
]

# --------------------------------------------------------------------------- datetimes


_DIGITS = re.compile(r"\s*[+-]?[\d.]+\s*")


def _datetime_input(value: Any) -> Any:
    # Numbers would be read as epoch seconds: too easy to get wrong by accident (and
    # pydantic reads a text of digits, "1700000000", as one too).
    if isinstance(value, datetime) or (isinstance(value, str) and not _DIGITS.fullmatch(value)):
        return value
    raise ValueError(
        "expected an ISO 8601 date-time like 2025-01-31T09:00:00 or 2025-01-31T09:00:00+01:00"
    )


#: What the files accept as a date-time: ISO 8601 with or without a UTC offset (without
#: one it is in the entry's zone), a date alone (midnight), and YAML's own timestamps
#: ("2030-01-31 09:00:00 +1").  Not JSON Schema's "date-time" format: that one requires
#: an offset, and naive values are the common, documented case.
DATETIME_PATTERN = (
    r"^\d{4}-\d{1,2}-\d{1,2}"
    r"(([Tt]|[ \t]+)\d{1,2}:\d{2}(:\d{2}(\.\d+)?)?"
    r"([ \t]*([Zz]|[+-]\d{1,2}(:?\d{2})?))?)?$"
)
DateTime = Annotated[
    datetime,
    BeforeValidator(_datetime_input),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": DATETIME_PATTERN,
            "examples": ["2030-01-31T09:00:00", "2030-01-31T09:00:00+01:00", "2030-01-31"],
        }
    ),
]

# --------------------------------------------------------------------------- cron

_CRON_FIELDS = CRON_FIELD_LABELS
_CRON_CHARS = re.compile(r"[0-9*,/-]+")
_OTHER_DIALECTS = {"l": "'L' (last)", "w": "'W' (weekday)", "#": "'#' (nth weekday)", "?": "'?'"}
_MONTH_NAMES = re.compile("|".join(CRON_MONTH_NAMES), re.IGNORECASE)
_DAY_NAMES = re.compile("|".join(CRON_DAY_NAMES), re.IGNORECASE)


def _cron_field_problem(index: int, part: str) -> str | None:
    # Names only make sense in the month and weekday fields; what is left after
    # removing them must be digits and * , / -
    names = _MONTH_NAMES if index == 3 else _DAY_NAMES if index == 4 else None
    rest = names.sub("0", part) if names else part
    for token, label in _OTHER_DIALECTS.items():
        if token in rest.lower():
            return (
                f"{label} in the {_CRON_FIELDS[index]} field is syntax of other cron dialects "
                "(Quartz, croniter): Celery's crontab cannot parse it, so RedBeat could not "
                "run this entry"
            )
    if not _CRON_CHARS.fullmatch(rest):
        problem = f"unexpected characters in the {_CRON_FIELDS[index]} field {part!r}"
        # Celery reads 'monday' as 'mon'; the files take the three-letter form only.
        named = cron.celery_names(part, cron.FIELDS[index])
        if named != part and _cron_field_problem(index, named) is None:
            problem += f": write {named!r}"
        return problem
    return None


@lru_cache(maxsize=8192)
def cron_problem(expression: str) -> str | None:
    """Why ``expression`` is not a cron Celery's crontab (so RedBeat) can run, or None.

    Decided by our reading of Celery's crontab (schedule/cron.py), which the fire times
    are computed from too: neither Celery nor croniter is imported."""
    if spread.uses_hash(expression):
        # ``H`` is resolved per entry name at load; check the shape it resolves to.
        try:
            expression = spread.resolve(expression, "")
        except ValueError as exc:
            return str(exc)
    parts = expression.split()
    if expression.strip().startswith("@"):
        return "cron macros like @daily are not supported by Celery's crontab; write 5 fields"
    if len(parts) != 5:
        extra = ""
        if len(parts) == 6:
            extra = " (a seconds or year field is not supported by Celery's crontab)"
        return (
            f"expected 5 fields 'minute hour day-of-month month day-of-week', "
            f"got {len(parts)}{extra}"
        )
    for index, part in enumerate(parts):
        problem = _cron_field_problem(index, part)
        if problem:
            return problem
    for index, (part, field) in enumerate(zip(parts, cron.FIELDS, strict=True)):
        try:
            cron.parse_field(part, field)
        except cron.CronFieldError as exc:
            return (
                f"the {_CRON_FIELDS[index]} field {part!r} is not valid for Celery's crontab: {exc}"
            )
        read = cron.celery_names(part, field)
        if read.lower() != part.lower():  # names are read in any case
            return (
                f"the {_CRON_FIELDS[index]} field {part!r}: Celery's crontab reads it as "
                f"{read!r} and ignores the rest; write {read!r} if that is what you mean"
            )
    # A cron that names a date fires: over 28 years every date falls on every weekday,
    # so Celery's AND of day-of-month and day-of-week still matches.  The fire times
    # (schedule/cron.py's walk over the same sets) follow the same reading.
    try:
        cron.parse_fields(*parts)
    except cron.CronFieldError as exc:
        return f"this cron never fires, and RedBeat could not load it: {exc}"
    return None


CronExpression = Annotated[
    StrictStr,
    _refusing(cron_problem),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": r"^\s*\S+\s+\S+\s+\S+\s+\S+\s+\S+\s*$",
            "examples": ["0 3 * * mon-fri", "*/15 * * * *"],
        }
    ),
]

# --------------------------------------------------------------------------- rrule parts


def _weekday(value: Any) -> int:
    if isinstance(value, str) and value.strip().lower() in WEEKDAY_NUMBERS:
        return WEEKDAY_NUMBERS[value.strip().lower()]
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 6:
        return value
    raise ValueError(
        f"expected a weekday {', '.join(WEEKDAY_NAMES)} or 0-6 (0=Monday), got {value!r}"
    )


def _weekdays(value: Any) -> tuple[int, ...]:
    items = value if isinstance(value, list) else [value]
    return tuple(sorted({_weekday(item) for item in items}))


_WEEKDAY_JSON = {
    "anyOf": [
        {"type": "string", "enum": list(WEEKDAY_NAMES)},
        {"type": "integer", "minimum": 0, "maximum": 6},
    ]
}

Weekday = Annotated[int, BeforeValidator(_weekday), WithJsonSchema(_WEEKDAY_JSON)]
Weekdays = Annotated[
    tuple[int, ...],
    BeforeValidator(_weekdays),
    WithJsonSchema({"anyOf": [_WEEKDAY_JSON, {"type": "array", "items": _WEEKDAY_JSON}]}),
]


def _int_list(low: int, high: int, zero: bool = True) -> Any:
    """An ``rrule`` by* value: one whole number or a list, kept as a sorted tuple."""

    def check(value: Any) -> tuple[int, ...]:
        items = value if isinstance(value, list) else [value]
        for item in items:
            if isinstance(item, bool) or not isinstance(item, int):
                raise ValueError(f"expected whole numbers (one or a list), got {item!r}")
            if not low <= item <= high or (item == 0 and not zero):
                allowed = f"{low} to {high}" + ("" if zero else ", not 0")
                raise ValueError(f"expected whole numbers from {allowed}, got {item}")
        return tuple(sorted(set(items)))

    item_schema: dict[str, Any] = {"type": "integer", "minimum": low, "maximum": high}
    if not zero:
        item_schema["not"] = {"const": 0}
    return Annotated[
        tuple[int, ...],
        BeforeValidator(check),
        WithJsonSchema({"anyOf": [item_schema, {"type": "array", "items": item_schema}]}),
    ]


def _frequency(value: Any) -> Any:
    return value.strip().lower() if isinstance(value, str) else value


Frequency = Annotated[RRuleFrequency, BeforeValidator(_frequency)]

# --------------------------------------------------------------------------- models


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CronSchedule(_Model):
    """Runs at the times a 5-field cron expression matches, in the entry's time zone."""

    cron: CronExpression = Field(
        description=(
            "Five fields: minute hour day-of-month month day-of-week, e.g. '0 3 * * mon-fri'. "
            "Names (mon-fri, jan) are allowed; other cron dialects' syntax (L, W, #, ?) is not, "
            "because Celery's crontab (and RedBeat) cannot run it. H spreads a field by the "
            "entry's name (H 3 * * *, H/15 * * * *, H(0-29) * * * *), resolved at load."
        )
    )


class EverySchedule(_Model):
    """Runs at a fixed interval."""

    every: PositiveDuration = Field(description=f"Interval: {DURATION_HELP}.")
    relative: StrictBool = Field(
        default=False,
        description="Round the interval to its unit like Celery's schedule(relative=True).",
    )


#: Approximate length of one period of each frequency, to bound ``interval``.
_PERIOD_SECONDS: dict[RRuleFrequency, float] = {
    "yearly": 365.25 * 86_400,
    "monthly": 365.25 * 86_400 / 12,
    "weekly": 7 * 86_400,
    "daily": 86_400,
    "hourly": 3_600,
    "minutely": 60,
    "secondly": 1,
}
_PERIOD_NAMES: dict[RRuleFrequency, str] = {
    "yearly": "year",
    "monthly": "month",
    "weekly": "week",
    "daily": "day",
    "hourly": "hour",
    "minutely": "minute",
    "secondly": "second",
}
#: More occurrences than any rule means, few enough for any integer type to carry.
MAX_RRULE_COUNT = 2**31 - 1


class RRuleSpec(_Model):
    """An RFC 5545 recurrence rule (python-dateutil's rrule, as RedBeat runs it)."""

    freq: Frequency = Field(description=", ".join(RRULE_FREQUENCIES))
    interval: StrictInt = Field(default=1, ge=1, description="Every n-th period (default 1).")
    dtstart: DateTime | None = Field(
        default=None,
        description="First occurrence; a date-time without offset is in the entry's time zone.",
    )
    until: DateTime | None = Field(
        default=None,
        description="Last possible occurrence; a date-time without offset is in the entry's zone.",
    )
    count: StrictInt | None = Field(
        default=None, ge=1, le=MAX_RRULE_COUNT, description="Number of occurrences."
    )
    wkst: Weekday | None = Field(default=None, description="First day of the week (mo..su).")
    bysetpos: _int_list(-366, 366, zero=False) | None = Field(  # type: ignore[valid-type]
        default=None, description="Occurrence numbers within the period (-1 = last)."
    )
    bymonth: _int_list(1, 12) | None = Field(  # type: ignore[valid-type]
        default=None, description="Months 1-12."
    )
    bymonthday: _int_list(-31, 31, zero=False) | None = Field(  # type: ignore[valid-type]
        default=None, description="Days of the month 1-31, or -1 for the last."
    )
    byyearday: _int_list(-366, 366, zero=False) | None = Field(  # type: ignore[valid-type]
        default=None, description="Days of the year."
    )
    # Easter falls on day 81-116 of its year: these offsets stay inside that year, the
    # only ones dateutil (and so RedBeat) evaluates without an IndexError or a wrap.
    byeaster: _int_list(-80, 249) | None = Field(  # type: ignore[valid-type]
        default=None, description="Days relative to Easter Sunday, -80 to 249 (same year)."
    )
    byweekno: _int_list(-53, 53, zero=False) | None = Field(  # type: ignore[valid-type]
        default=None, description="ISO week numbers."
    )
    byweekday: Weekdays | None = Field(
        default=None, description=f"Weekdays: {', '.join(WEEKDAY_NAMES)} or 0-6 (0 = Monday)."
    )
    byhour: _int_list(0, 23) | None = Field(  # type: ignore[valid-type]
        default=None, description="Hours 0-23."
    )
    byminute: _int_list(0, 59) | None = Field(  # type: ignore[valid-type]
        default=None, description="Minutes 0-59."
    )
    bysecond: _int_list(0, 59) | None = Field(  # type: ignore[valid-type]
        default=None, description="Seconds 0-59."
    )

    @model_validator(mode="after")
    def _count_or_until(self) -> RRuleSpec:
        if self.count is not None and self.until is not None:
            raise ValueError("use either count or until, not both (RFC 5545)")
        if self.bysetpos and all(abs(p) > self._most_per_period() for p in self.bysetpos):
            raise ValueError(
                f"bysetpos: one {_PERIOD_NAMES[self.freq]} of this rule holds at most "
                f"{self._most_per_period()} occurrences, so no position in {list(self.bysetpos)} "
                "exists and it would never fire"
            )
        most = int(MAX_DURATION_SECONDS // _PERIOD_SECONDS[self.freq])
        if self.interval > most:
            raise ValueError(
                f"interval: a {self.freq} rule repeats at most every {most} periods "
                f"({MAX_DURATION_TEXT}), got {self.interval}"
            )
        return self

    def _most_per_period(self) -> int:
        """An upper bound of the occurrences one period can hold (bysetpos picks among them)."""
        days = {"yearly": 366, "monthly": 31, "weekly": 7}.get(self.freq, 1)
        finer = {
            "hourly": ("byminute", "bysecond"),
            "minutely": ("bysecond",),
            "secondly": (),
        }.get(self.freq, ("byhour", "byminute", "bysecond"))
        count = days
        for part in finer:
            count *= len(getattr(self, part) or (0,))  # unset: dtstart's one value
        return count


class RRuleSchedule(_Model):
    """Runs at the occurrences of a recurrence rule."""

    rrule: RRuleSpec = Field(description="The recurrence rule.")


class AtSchedule(_Model):
    """Runs once (needs redbeat_sync.Scheduler; RedBeat has no one-off schedule)."""

    at: DateTime = Field(
        description="When to run; a date-time without offset is in the entry's time zone."
    )


class SolarSpec(_Model):
    """Where and which solar event (Celery's ``solar`` event names)."""

    event: SolarEvent = Field(description="The solar event, e.g. sunrise, sunset, dusk_civil.")
    lat: float = Field(
        strict=True, ge=-90, le=90, description="Latitude in degrees (north positive)."
    )
    lon: float = Field(
        strict=True, ge=-180, le=180, description="Longitude in degrees (east positive)."
    )


class SolarSchedule(_Model):
    """Runs at a solar event (needs redbeat_sync.Scheduler and the optional ephem)."""

    solar: SolarSpec = Field(
        description="Event and place; needs the optional dependency: "
        "pip install 'redbeat-sync[solar]'."
    )


def schedule_kind(value: Any) -> str | None:
    """Which schedule kind a mapping is; None unless it names exactly one."""
    if isinstance(value, dict):
        kinds = [kind for kind in SCHEDULE_KINDS if kind in value]
        return kinds[0] if len(kinds) == 1 else None
    for kind, model in _KIND_MODELS.items():
        if isinstance(value, model):
            return kind
    return None


ScheduleModel = Annotated[
    Annotated[CronSchedule, Tag("cron")]
    | Annotated[EverySchedule, Tag("every")]
    | Annotated[RRuleSchedule, Tag("rrule")]
    | Annotated[AtSchedule, Tag("at")]
    | Annotated[SolarSchedule, Tag("solar")],
    Discriminator(
        schedule_kind,
        custom_error_type="schedule_kind",
        custom_error_message="expected exactly one of cron, every, rrule, at or solar",
    ),
]

_KIND_MODELS: dict[str, type[BaseModel]] = {
    "cron": CronSchedule,
    "every": EverySchedule,
    "rrule": RRuleSchedule,
    "at": AtSchedule,
    "solar": SolarSchedule,
}

Labels = Annotated[
    dict[StrictStr, StrictStr],
    WithJsonSchema({"type": "object", "additionalProperties": {"type": "string"}}),
]
_OVERLAP_HELP = (
    "allow (default): runs may overlap; skip: don't send a run while the previous run of "
    "this entry has not finished (needs redbeat_sync.worker on the workers; requires "
    "redbeat_sync.Scheduler)."
)
_OVERLAP_TIMEOUT_HELP = (
    "With overlap: skip, a run that reported no end after this long counts as finished "
    "(a worker can die). Default 1h."
)

_MISFIRE_HELP = (
    "What to do with runs missed while beat was down (redbeat_sync.Scheduler only): "
    "catch_up (run once, default), skip, or deadline (run if at most `deadline` late)."
)


def _effective_default(value: Any) -> dict[str, Any]:
    """The schema's ``default``: the value that applies when the field is left out.

    The models default to None ("not given", so ``defaults:`` can fill it); editors
    should show what a user gets, not null.
    """
    return {"default": value}


class EntryModel(_Model):
    """One schedule entry (its name is the key under `entries`)."""

    task: TaskName = Field(
        description="Name of the Celery task, usually dotted, e.g. app.tasks.report."
    )
    schedule: ScheduleModel = Field(
        description=(
            "Exactly one of {cron: ...}, {every: ...}, {rrule: {...}}, {at: ...}, "
            "{solar: {event: ..., lat: ..., lon: ...}}."
        )
    )
    args: list[Any] = Field(default_factory=list, description="Positional arguments (a list).")
    kwargs: dict[StrictStr, Any] = Field(
        default_factory=dict, description="Keyword arguments (a mapping)."
    )
    options: OptionsModel = Field(
        default_factory=OptionsModel,
        description="Celery apply_async options; merged over defaults.options.",
    )
    enabled: StrictBool | None = Field(
        default=None,
        description="false keeps it but never runs. Default: defaults.enabled, else true.",
        json_schema_extra=_effective_default(True),
    )
    timezone: TimezoneName | None = Field(
        default=None,
        description="IANA time zone; default: defaults.timezone, else UTC.",
        json_schema_extra=_effective_default(DEFAULT_TIMEZONE),
    )
    description: StrictStr | None = Field(default=None, description="Free text for humans.")
    labels: Labels = Field(default_factory=dict, description="String labels, merged over defaults.")
    start_at: DateTime | None = Field(
        default=None, description="No run before this instant (redbeat_sync.Scheduler only)."
    )
    end_at: DateTime | None = Field(
        default=None, description="No run after this instant (redbeat_sync.Scheduler only)."
    )
    jitter: Duration | None = Field(
        default=None,
        description="Random delay up to this duration added to each run.",
        json_schema_extra=_effective_default(0),
    )
    misfire: MisfirePolicy | None = Field(
        default=None,
        description=_MISFIRE_HELP,
        json_schema_extra=_effective_default(DEFAULT_MISFIRE),
    )
    deadline: Duration | None = Field(
        default=None, description="With misfire: deadline, the most a run may be late."
    )
    overlap: OverlapPolicy | None = Field(
        default=None,
        description=_OVERLAP_HELP,
        json_schema_extra=_effective_default(DEFAULT_OVERLAP),
    )
    overlap_timeout: Duration | None = Field(default=None, description=_OVERLAP_TIMEOUT_HELP)
    prune: StrictBool | None = Field(
        default=None,
        json_schema_extra=_effective_default(True),
        description=(
            "false: when this entry leaves the files, stop managing it (release) instead "
            "of deleting it from Redis. Default: defaults.prune, else true."
        ),
    )
    moved_from: StrictStr | None = Field(
        default=None,
        description=(
            "Former name of this entry: apply renames it in place, keeping its run history "
            "(last_run_at, total_run_count). Harmless to leave once moved."
        ),
    )


class DefaultsModel(_Model):
    """Values applied to every entry of this file (an entry's own values win)."""

    timezone: TimezoneName | None = Field(
        default=None,
        description="Default IANA time zone (else UTC).",
        json_schema_extra=_effective_default(DEFAULT_TIMEZONE),
    )
    options: OptionsModel = Field(
        default_factory=OptionsModel, description="Options merged under each entry's options."
    )
    labels: Labels = Field(default_factory=dict, description="Labels merged under each entry's.")
    enabled: StrictBool | None = Field(
        default=None, description="Default for enabled.", json_schema_extra=_effective_default(True)
    )
    jitter: Duration | None = Field(
        default=None, description="Default jitter.", json_schema_extra=_effective_default(0)
    )
    misfire: MisfirePolicy | None = Field(
        default=None,
        description=_MISFIRE_HELP,
        json_schema_extra=_effective_default(DEFAULT_MISFIRE),
    )
    deadline: Duration | None = Field(default=None, description="Default deadline.")
    overlap: OverlapPolicy | None = Field(
        default=None,
        description=_OVERLAP_HELP,
        json_schema_extra=_effective_default(DEFAULT_OVERLAP),
    )
    overlap_timeout: Duration | None = Field(default=None, description=_OVERLAP_TIMEOUT_HELP)
    prune: StrictBool | None = Field(
        default=None,
        description="Default for prune (false: release instead of delete).",
        json_schema_extra=_effective_default(True),
    )


_NAMES_JSON: dict[str, Any] = {
    "minLength": 1,
    "maxLength": MAX_NAME_LENGTH,
    "pattern": NAME_PATTERN,
}
_ENTRIES_HELP = (
    "Entries by name (the RedBeat entry name): 1-200 characters, not starting with ':', "
    "no control characters."
)


class FileModel(_Model):
    """A redbeat-sync schedule file (format version 1)."""

    model_config = ConfigDict(extra="forbid", frozen=True, title="redbeat-sync schedule file")

    version: Literal[1] = Field(description="Format version; always 1.")
    defaults: DefaultsModel | None = Field(
        default=None, description="Values applied to every entry of this file."
    )
    entries: dict[str, EntryModel] | None = Field(
        default=None, description=_ENTRIES_HELP, json_schema_extra={"propertyNames": _NAMES_JSON}
    )


class FileHead(FileModel):
    """The file without its entries: the loader checks each entry on its own."""

    entries: dict[str, Any] | None = None

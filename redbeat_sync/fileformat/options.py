"""Celery's ``apply_async`` options in a schedule file, checked by what Celery does with them.

Beat hands ``options`` to ``apply_async`` on every run.  A value Celery cannot use
fails there, at run time, run after run; so the options Celery defines are checked
here by type and range, with the reason in the message.  Other keys are passed to
Celery as they are (they reach the broker as message properties), as before.

``eta`` is refused: it is one fixed instant, so every run of a periodic entry would
be sent for that same instant.  ``countdown`` (delay each run) and ``start_at``
(no run before) say what people mean by it.
"""

from __future__ import annotations

import math
from datetime import datetime
from functools import lru_cache
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, WithJsonSchema, model_validator

from ..schedule.durations import MAX_DURATION_SECONDS, check_bounds, shown

#: The keys of ``retry_policy`` that kombu's ``Connection.ensure`` takes from data
#: (its other parameters are callables or exception classes).
RETRY_POLICY_KEYS = ("max_retries", "interval_start", "interval_step", "interval_max")
#: The largest retry count accepted: far more than any policy means, small enough to
#: be any integer type a broker carries.
MAX_RETRIES = 2**31 - 1


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _seconds(value: Any, *, positive: bool, what: str = "a number of seconds") -> Any:
    """A number of seconds Celery can add to "now"; the value itself is kept (1 stays 1)."""
    if not _is_number(value):
        raise ValueError(f"expected {what}, got {shown(value)}")
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"expected a finite number of seconds, got {value}")
    check_bounds(value, value, positive=positive, noun="a number of seconds")
    return value


def _optional(check: Any) -> Any:
    """``check`` that lets null through: null is Celery's "not given" (and cancels a
    value set in ``defaults.options``)."""

    def run(value: Any) -> Any:
        return None if value is None else check(value)

    return run


def _text(value: Any) -> Any:
    if not isinstance(value, str):
        raise ValueError(f"expected text, got {shown(value)}")
    return value


def _priority(value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 255:
        raise ValueError(f"expected a whole number from 0 to 255, got {shown(value)}")
    return value


def _expires(value: Any) -> Any:
    if isinstance(value, datetime):
        return value
    if isinstance(value, str):
        from dateutil.parser import isoparse  # here: few files give a text; ~5 ms to import

        try:
            isoparse(value)  # what Celery parses an expires text with
        except (ValueError, OverflowError):
            raise ValueError(
                "expected a number of seconds or an ISO 8601 date-time like "
                f"2030-01-31T09:00:00+00:00, got {shown(value)}"
            ) from None
        return value
    return _seconds(value, positive=False, what="a number of seconds or an ISO 8601 date-time")


def _eta(value: Any) -> Any:
    raise ValueError(
        "eta is one fixed instant, so every run would be sent for that same instant; "
        "use countdown (delay each run) or start_at (no run before)"
    )


def _headers(value: Any) -> Any:
    if not isinstance(value, dict):
        raise ValueError("expected a mapping of header names to values")
    for key in value:
        if not isinstance(key, str):
            raise ValueError(f"expected text header names, got {shown(key)}")
    return value


def _retry(value: Any) -> Any:
    if not isinstance(value, bool):
        raise ValueError(f"expected true or false, got {shown(value)}")
    return value


def _retry_policy(value: Any) -> Any:
    if not isinstance(value, dict):
        raise ValueError(f"expected a mapping with {', '.join(RETRY_POLICY_KEYS)}")
    for key, item in value.items():
        if key not in RETRY_POLICY_KEYS:
            raise ValueError(
                f"unknown retry_policy key {shown(key)}; expected {', '.join(RETRY_POLICY_KEYS)}"
            )
        if key == "max_retries":
            if item is not None and (
                isinstance(item, bool) or not isinstance(item, int) or not 0 <= item <= MAX_RETRIES
            ):
                raise ValueError(
                    f"max_retries: expected a whole number from 0 to {MAX_RETRIES} "
                    f"(or null: retry forever), got {shown(item)}"
                )
        else:
            try:
                _seconds(item, positive=False)
            except ValueError as exc:
                raise ValueError(f"{key}: {exc}") from None
    return value


@lru_cache(maxsize=1)
def serializer_names() -> tuple[str, ...]:
    """Serializers kombu has (json, pickle, yaml, msgpack, and any registered at import)."""
    from kombu.serialization import registry

    return tuple(sorted(registry.name_to_type))


@lru_cache(maxsize=1)
def compression_names() -> tuple[str, ...]:
    """Compression names kombu has in this installation (zlib, bzip2, ...)."""
    from kombu import compression

    encoders = compression._encoders  # kombu has no public listing of these
    aliases = {name for name, kind in compression._aliases.items() if kind in encoders}
    return tuple(sorted(aliases | set(encoders)))


def _registered(names: Any, what: str) -> Any:
    def check(value: Any) -> Any:
        known = names()
        if not isinstance(value, str) or value not in known:
            raise ValueError(f"unknown {what} {shown(value)}; expected one of {', '.join(known)}")
        return value

    return check


def _option(check: Any, schema: dict[str, Any]) -> Any:
    return Annotated[
        Any,
        AfterValidator(_optional(check)),
        WithJsonSchema({"anyOf": [schema, {"type": "null"}]}),
    ]


_SECONDS_JSON = {"type": "number", "minimum": 0, "maximum": MAX_DURATION_SECONDS}
_POSITIVE_SECONDS_JSON = {**_SECONDS_JSON, "exclusiveMinimum": 0}
_POSITIVE_SECONDS_JSON.pop("minimum")

# Spelled out (not ``_option(...)``) so type checkers read them as types.
Text = Annotated[
    Any,
    AfterValidator(_optional(_text)),
    WithJsonSchema({"anyOf": [{"type": "string"}, {"type": "null"}]}),
]
Seconds = Annotated[
    Any,
    AfterValidator(_optional(lambda v: _seconds(v, positive=False))),
    WithJsonSchema({"anyOf": [_SECONDS_JSON, {"type": "null"}]}),
]
PositiveSeconds = Annotated[
    Any,
    AfterValidator(_optional(lambda v: _seconds(v, positive=True))),
    WithJsonSchema({"anyOf": [_POSITIVE_SECONDS_JSON, {"type": "null"}]}),
]


class OptionsModel(BaseModel):
    """Celery apply_async options: the ones Celery defines are checked, others kept."""

    model_config = ConfigDict(extra="allow", frozen=True)

    queue: Text = Field(default=None, description="Queue to send the task to.")
    routing_key: Text = Field(default=None, description="Routing key (AMQP).")
    exchange: Text = Field(default=None, description="Exchange name (AMQP).")
    priority: _option(_priority, {"type": "integer", "minimum": 0, "maximum": 255}) = Field(  # type: ignore[valid-type]
        default=None, description="Message priority, 0 to 255."
    )
    expires: _option(  # type: ignore[valid-type]
        _expires,
        {
            "anyOf": [
                _SECONDS_JSON,
                {"type": "string", "pattern": r"^\d{4}-?\d{2}"},
            ]
        },
    ) = Field(
        default=None,
        description=(
            "Drop the task if not started in time: seconds after sending, or an ISO 8601 "
            "date-time (without offset: UTC)."
        ),
    )
    countdown: Seconds = Field(default=None, description="Delay each run by this many seconds.")
    eta: _option(_eta, {"not": {}}) = Field(  # type: ignore[valid-type]
        default=None,
        description="Not allowed: one fixed instant for every run. Use countdown or start_at.",
    )
    headers: _option(_headers, {"type": "object"}) = Field(  # type: ignore[valid-type]
        default=None, description="Extra message headers."
    )
    time_limit: PositiveSeconds = Field(default=None, description="Hard time limit, seconds.")
    soft_time_limit: PositiveSeconds = Field(default=None, description="Soft time limit, seconds.")
    retry: _option(_retry, {"type": "boolean"}) = Field(  # type: ignore[valid-type]
        default=None, description="Retry sending the message if the broker is unreachable."
    )
    retry_policy: _option(  # type: ignore[valid-type]
        _retry_policy,
        {
            "type": "object",
            "properties": {
                "max_retries": {"type": ["integer", "null"], "minimum": 0, "maximum": MAX_RETRIES},
                **{key: _SECONDS_JSON for key in RETRY_POLICY_KEYS[1:]},
            },
            "additionalProperties": False,
        },
    ) = Field(default=None, description="How sending is retried (kombu's ensure).")
    serializer: _option(_registered(serializer_names, "serializer"), {"type": "string"}) = Field(  # type: ignore[valid-type]
        default=None, description="Message serializer: json, pickle, yaml, msgpack."
    )
    compression: _option(_registered(compression_names, "compression"), {"type": "string"}) = (  # type: ignore[valid-type]
        Field(default=None, description="Message compression: zlib, bzip2, ...")
    )

    @model_validator(mode="before")
    @classmethod
    def _text_names(cls, value: Any) -> Any:
        if isinstance(value, dict):
            for key in value:
                if not isinstance(key, str):
                    raise ValueError(f"option names must be text, got {shown(key)}")
        return value

    def as_dict(self) -> dict[str, Any]:
        """The options as written (values unchanged, absent keys absent)."""
        return self.model_dump(exclude_unset=True)

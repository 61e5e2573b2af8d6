"""The action's inputs (action.yml), read from ``INPUT_*`` environment variables."""

from __future__ import annotations

import shlex
from collections.abc import Mapping

#: Inputs of action.yml, read from ``INPUT_<NAME>`` (upper case, ``-`` -> ``_``).
INPUTS: dict[str, str] = {
    "paths": "schedules",
    "redis-url": "",
    "key-prefix": "",
    "command": "plan",
    "extra-args": "",
    "apply-args": "",
    "message": "",
    "github-token": "",
    "comment": "true",
    "fail-on-changes": "false",
    "drift-warn-only": "false",
}
COMMANDS = ("validate", "plan", "apply", "drift")


class ActionError(Exception):
    """A mistake in the workflow (bad input, missing file): one ``::error::`` line, exit 1."""


def input_env_name(name: str) -> str:
    return "INPUT_" + name.upper().replace("-", "_")


def read_input(env: Mapping[str, str], name: str) -> str:
    return env.get(input_env_name(name), "").strip() or INPUTS[name]


def read_flag(env: Mapping[str, str], name: str) -> bool:
    value = read_input(env, name).lower()
    if value not in ("true", "false"):
        raise ActionError(f"input {name} must be true or false, not {value!r}")
    return value == "true"


def read_words(env: Mapping[str, str], name: str) -> list[str]:
    """A space-separated input, with shell quoting (``"my dir/a.yaml"``)."""
    try:
        return shlex.split(read_input(env, name))
    except ValueError as exc:  # e.g. an unclosed quote
        raise ActionError(f"input {name} cannot be split into arguments: {exc}") from None

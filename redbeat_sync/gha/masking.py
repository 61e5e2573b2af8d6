"""Strings the action must never print, and the scrubbing of everything it publishes."""

from __future__ import annotations

import urllib.parse
from dataclasses import dataclass, field

from ..redact import redact


@dataclass
class Secrets:
    """The Redis URL (and its password alone) and the token: masked and scrubbed."""

    values: list[str] = field(default_factory=list)

    def add(self, value: str) -> None:
        if value and len(value) >= 4 and value not in self.values:
            self.values.append(value)

    def add_url(self, url: str) -> None:
        self.add(url)
        password = urllib.parse.urlsplit(url).password if "://" in url else None
        if password:
            self.add(password)
            self.add(urllib.parse.unquote(password))

    def mask_commands(self) -> list[str]:
        return [f"::add-mask::{value}" for value in self.values]

    def scrub(self, text: str) -> str:
        text = redact(text)
        for value in sorted(self.values, key=len, reverse=True):
            text = text.replace(value, "***")
        return text

"""Keep credentials out of every line we print or log."""

from __future__ import annotations

import re

# scheme://user:password@host  or  scheme://:password@host
_URL_PASSWORD = re.compile(r"(?P<head>[a-zA-Z][\w+.-]*://[^:/@\s]*):(?P<secret>[^@\s/]+)@")


def redact(text: str) -> str:
    """Replace the password of every URL inside ``text`` with ``***``."""
    return _URL_PASSWORD.sub(lambda m: f"{m.group('head')}:***@", text)

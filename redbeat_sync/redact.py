"""Keep credentials out of every line we print or log."""

from __future__ import annotations

import re

# scheme://user:password@host  or  scheme://:password@host
_URL_PASSWORD = re.compile(r"(?P<head>[a-zA-Z][\w+.-]*://[^:/@\s]*):(?P<secret>[^@\s/]+)@")


# ...?password=secret&...  (redis-py reads these query parameters too)
_QUERY_SECRET = re.compile(r"(?P<head>[?&;](?:password|pass|pwd|token)=)[^&\s]+", re.IGNORECASE)


def redact(text: str) -> str:
    """Replace the password of every URL inside ``text`` with ``***``."""
    text = _URL_PASSWORD.sub(lambda m: f"{m.group('head')}:***@", text)
    return _QUERY_SECRET.sub(lambda m: f"{m.group('head')}***", text)

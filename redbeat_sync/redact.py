"""Keep credentials out of every line we print, log, audit or store: ``redact``.

The one function for it (URLs in messages, URLs shown on their own, tracebacks).
It masks what has the shape of a secret in URLs and ``key=value`` / ``'key': value``
text, and every secret value the process was given through settings that have no
such shape (``redbeat_redis_options``' ``password``, ``sentinel_kwargs``): those are
remembered with ``remember_secret`` when the settings are read.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

MASK = "***"
SECRET_KEYS = ("password", "passwd", "pass", "pwd", "token", "secret")
_KEYS = "|".join(SECRET_KEYS)

# scheme://[user]:password@host... The password may itself hold '@' (unencoded): the
# userinfo ends at the LAST '@' before the path (and before ';', which joins Celery's
# sentinel:// URLs).
_URL_USERINFO = re.compile(r"(?P<head>\b[a-zA-Z][\w+.-]*://[^:/@\s'\"]*):(?P<secret>[^\s'\";/]*)@")

# ?password=secret&...  or  password=secret  (redis-py reads these query parameters)
_KEY_EQUALS = re.compile(rf"(?P<head>(?<!\w)(?:{_KEYS})=)[^&\s'\",;)]+", re.IGNORECASE)

# 'password': 'secret'  /  "password": "secret"  /  password='secret' (dict and kwargs reprs)
_QUOTED = re.compile(
    rf"(?P<head>['\"]?(?:{_KEYS})['\"]?\s*[:=]\s*)(?P<q>['\"])(?:(?!(?P=q)).)*(?P=q)",
    re.IGNORECASE,
)

_remembered: set[str] = set()


def remember_secret(value: Any) -> None:
    """Mask ``value`` wherever it appears from now on (passwords from settings)."""
    if isinstance(value, str) and len(value) >= 3:  # shorter would mask ordinary text
        _remembered.add(value)


def remember_secrets_in(options: Mapping[str, Any] | None) -> None:
    """Remember every secret-named value in ``options``, nested mappings included."""
    for key, value in (options or {}).items():
        if isinstance(value, Mapping):
            remember_secrets_in(value)
        elif str(key).lower() in SECRET_KEYS:
            remember_secret(value)


def _mask_userinfo(match: re.Match[str]) -> str:
    secret = match.group("secret")
    # "u:p@ss@host": the greedy match already ran to the last '@'; an empty password
    # ("redis://:@h") has nothing to hide but is masked alike.
    return f"{match.group('head')}:{MASK}@" if secret is not None else match.group(0)


def redact(text: str, also: Iterable[str] = ()) -> str:
    """``text`` with every password masked as ``***`` (``also``: extra literal secrets)."""
    for secret in sorted({*_remembered, *(s for s in also if s)}, key=len, reverse=True):
        text = text.replace(secret, MASK)
    text = _URL_USERINFO.sub(_mask_userinfo, text)
    text = _QUOTED.sub(lambda m: f"{m.group('head')}{m.group('q')}{MASK}{m.group('q')}", text)
    return _KEY_EQUALS.sub(lambda m: f"{m.group('head')}{MASK}", text)

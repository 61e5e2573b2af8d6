"""URL forms for Sentinel/Cluster, masking them, and the Cluster prefix rule (no I/O)."""

from __future__ import annotations

import pytest

from redbeat_sync.errors import UserError
from redbeat_sync.redact import redact
from redbeat_sync.redact import redact as mask_url
from redbeat_sync.state.connection import RedisSettings
from redbeat_sync.state.layout import Layout
from redbeat_sync.state.topology import (
    is_cluster,
    is_sentinel,
    parse_multi_url,
    prefix_slots,
)


def test_redbeat_sentinel_url_with_several_hosts() -> None:
    parsed = parse_multi_url(
        "redis-sentinel://:pw@h1:26379,h2:26380,[::1]/2?service_name=mymaster", 26379
    )
    assert parsed.hosts == [("h1", 26379), ("h2", 26380), ("::1", 26379)]
    assert parsed.password == "pw" and parsed.username is None
    assert parsed.db() == 2 and parsed.query["service_name"] == "mymaster"


def test_celery_sentinel_spelling() -> None:
    url = "sentinel://:pw@h1:26379/1;sentinel://:pw@h2:26380/1"
    parsed = parse_multi_url(url, 26379)
    assert parsed.hosts == [("h1", 26379), ("h2", 26380)]
    assert parsed.db() == 1 and parsed.password == "pw"
    assert mask_url(url) == "sentinel://:***@h1:26379/1;sentinel://:***@h2:26380/1"
    assert "pw" not in redact(f"error talking to {url}")
    assert redact("at redis://h/0?db=1&password=s3cr3t x") == "at redis://h/0?db=1&password=*** x"


def test_kinds() -> None:
    assert is_sentinel(RedisSettings("redis-sentinel://h:26379/0"))
    assert is_sentinel(RedisSettings("sentinel://h:26379"))
    assert is_cluster(RedisSettings("redis-cluster://h:7000"))
    assert is_cluster(RedisSettings("redis://h:7000/0", {"cluster": True}))
    assert not is_cluster(RedisSettings("redis://h:7000/0", {"cluster": False}))
    assert (
        mask_url("redis-cluster://u:pw@h1:7000,h2:7001") == "redis-cluster://u:***@h1:7000,h2:7001"
    )


@pytest.mark.parametrize(
    ("prefix", "one_slot"),
    [
        ("{redbeat}:", True),
        ("app:{redbeat}:", True),
        ("redbeat:", False),
        ("{}redbeat:", False),  # an empty tag hashes the whole key
        ("{}x}:", False),
    ],
)
def test_prefix_slots(prefix: str, one_slot: bool) -> None:
    assert (len(prefix_slots(Layout(prefix))) == 1) is one_slot


def test_bad_port_is_a_user_error() -> None:
    with pytest.raises(UserError, match="bad port"):
        parse_multi_url("redis-cluster://h:70x0", 6379)

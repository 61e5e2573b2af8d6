"""Settings, under RedBeat's names and rules (ported from what celery-redbeat checks)."""

from __future__ import annotations

import redis
from beat_app import make_app

from redbeat_sync import RedBeatConfig, Scheduler, get_redis
from redbeat_sync.beat.config import DEFAULT_LOCK_TIMEOUT, ensure_conf


def test_defaults(redis_url: str) -> None:
    conf = RedBeatConfig(make_app(redis_url))
    assert conf.key_prefix == "redbeat:"
    assert conf.schedule_key == "redbeat::schedule"
    assert conf.statics_key == "redbeat::statics"
    assert conf.lock_key == "redbeat::lock"
    assert conf.lock_timeout is None  # not configured (as RedBeat's config says it)
    assert Scheduler(make_app(redis_url)).lock_timeout == DEFAULT_LOCK_TIMEOUT
    assert conf.redis_url == redis_url
    assert conf.max_interval == 5.0


def test_custom_prefix_moves_every_key(redis_url: str) -> None:
    conf = RedBeatConfig(make_app(redis_url, redbeat_key_prefix="{app}:"))
    assert conf.schedule_key == "{app}::schedule"
    assert conf.statics_key == "{app}::statics"
    assert conf.lock_key == "{app}::lock"


def test_lock_key_gets_the_prefix_unless_it_has_it(redis_url: str) -> None:
    assert RedBeatConfig(make_app(redis_url, redbeat_lock_key="mylock")).lock_key == (
        "redbeat:mylock"
    )
    assert RedBeatConfig(make_app(redis_url, redbeat_lock_key="redbeat:x")).lock_key == "redbeat:x"


def test_lock_key_none_disables_the_lock(redis_url: str) -> None:
    assert RedBeatConfig(make_app(redis_url, redbeat_lock_key=None)).lock_key is None


def test_lock_timeout_setting_is_honoured(redis_url: str) -> None:
    assert RedBeatConfig(make_app(redis_url, redbeat_lock_timeout=30)).lock_timeout == 30.0


def test_redis_url_falls_back_to_a_redis_broker(redis_url: str) -> None:
    app = make_app(None)
    app.conf.broker_url = "redis://broker.example:6379/3"
    assert RedBeatConfig(app).redis_url == "redis://broker.example:6379/3"
    app2 = make_app(None)
    app2.conf.broker_url = "amqp://guest@localhost//"
    assert RedBeatConfig(app2).redis_url is None


def test_masked_url_hides_the_password(redis_url: str) -> None:
    conf = RedBeatConfig(make_app("redis://:s3cret@example:6379/0"))
    assert "s3cret" not in conf.masked_url


def test_conf_and_client_are_shared(redis_url: str) -> None:
    app = make_app(redis_url, redbeat_redis_options={"retry_period": 5, "socket_timeout": 3})
    assert ensure_conf(app) is ensure_conf(app)
    assert app.redbeat_conf is ensure_conf(app)  # RedBeat-API code reads this name
    client = get_redis(app)
    assert client is get_redis(app)
    assert isinstance(client, redis.Redis)
    assert client.ping()
    assert client.connection_pool.connection_kwargs["socket_timeout"] == 3

"""REDIS_SENTINEL_NODES / REDIS_SENTINEL_MASTER: parsed and checked at start-up; a Sentinel that
does not answer (or is no Sentinel, or does not know the primary) stops every entry point with a
message naming it. Real redis-server processes: a Sentinel group, and a plain Redis."""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import Iterator

import pytest
from kombu.connection import Connection

from apps.realtime.channel_layer import BoundedPubSubChannelLayer
from apps.realtime.redis_client import create_redis, create_subscriber_redis, create_sync_redis
from flylive.celery import broker_settings
from flylive.config import ConfigError, load_config
from flylive.redis_cluster import require_redis_topology
from tests.support.processes import RedisServer, free_port, process_env, repo_root
from tests.support.sentinel import SentinelGroup, run_sentinel_group
from tests.support.server import server_env


@pytest.fixture(scope="module")
def group() -> Iterator[SentinelGroup]:
    with run_sentinel_group() as sentinels:
        yield sentinels


def test_sentinel_nodes_parse_as_host_port_pairs(env: pytest.MonkeyPatch) -> None:
    env.setenv("REDIS_SENTINEL_NODES", " 10.0.0.1:26379, sentinel-b:26380,[::1]:26381 ,")
    env.setenv("REDIS_SENTINEL_MASTER", "flylive")
    config = load_config()
    assert config.REDIS_SENTINEL_NODES == (("10.0.0.1", 26379), ("sentinel-b", 26380), ("::1", 26381))
    assert config.redis_sentinel


def test_without_sentinel_nothing_changes(env: pytest.MonkeyPatch) -> None:
    config = load_config()
    assert (config.REDIS_SENTINEL_NODES, config.REDIS_SENTINEL_MASTER) == ((), None)
    assert not config.redis_sentinel
    require_redis_topology(config)  # nothing to ask
    assert broker_settings(config) == {"broker_url": "redis://127.0.0.1:6379/3"}


def test_celery_broker_goes_through_the_sentinels(env: pytest.MonkeyPatch) -> None:
    env.setenv("REDIS_SENTINEL_NODES", "10.0.0.1:26379,10.0.0.2:26379")
    env.setenv("REDIS_SENTINEL_MASTER", "flylive")
    env.setenv("REDIS_PASSWORD", "pw")
    env.setenv("REDIS_DB", "5")
    broker = broker_settings(load_config())
    assert broker["broker_url"] == "sentinel://:pw@10.0.0.1:26379/5;sentinel://:pw@10.0.0.2:26379/5"
    assert broker["broker_transport_options"]["master_name"] == "flylive"  # type: ignore[index]


@pytest.mark.parametrize(
    ("variables", "message"),
    [
        ({"REDIS_SENTINEL_NODES": "10.0.0.1"},
         "REDIS_SENTINEL_NODES: Value error, must be a comma list of host:port, not '10.0.0.1'"),
        ({"REDIS_SENTINEL_NODES": "10.0.0.1:http", "REDIS_SENTINEL_MASTER": "m"},
         "REDIS_SENTINEL_NODES: Value error, must be a comma list of host:port, not '10.0.0.1:http'"),
        ({"REDIS_SENTINEL_NODES": "10.0.0.1:70000", "REDIS_SENTINEL_MASTER": "m"},
         "not '10.0.0.1:70000'"),
        ({"REDIS_SENTINEL_NODES": "10.0.0.1:26379"},
         "REDIS_SENTINEL_MASTER: is required with REDIS_SENTINEL_NODES"),
        ({"REDIS_SENTINEL_MASTER": "flylive"},
         "REDIS_SENTINEL_NODES: is required with REDIS_SENTINEL_MASTER"),
        ({"REDIS_SENTINEL_NODES": "10.0.0.1:26379", "REDIS_SENTINEL_MASTER": "m", "REDIS_TLS": "true"},
         "REDIS_TLS: is not supported with REDIS_SENTINEL_NODES"),
    ],
)
def test_bad_sentinel_configuration_stops_start_up_naming_it(
    env: pytest.MonkeyPatch, variables: dict[str, str], message: str,
) -> None:
    for name, value in variables.items():
        env.setenv(name, value)
    with pytest.raises(ConfigError) as stopped:
        load_config()
    assert message in str(stopped.value)


def test_answering_sentinels_pass_the_check(env: pytest.MonkeyPatch, group: SentinelGroup) -> None:
    env.setenv("REDIS_SENTINEL_NODES", group.nodes)
    env.setenv("REDIS_SENTINEL_MASTER", group.master_name)
    require_redis_topology(load_config())


def test_each_sentinel_that_does_not_answer_is_named(env: pytest.MonkeyPatch, group: SentinelGroup) -> None:
    dead = free_port()
    env.setenv("REDIS_SENTINEL_NODES", f"{group.nodes},127.0.0.1:{dead}")
    env.setenv("REDIS_SENTINEL_MASTER", group.master_name)
    with pytest.raises(ConfigError) as stopped:
        require_redis_topology(load_config())
    lines = str(stopped.value).splitlines()
    assert lines[0] == "Invalid configuration:"
    assert len(lines) == 2
    assert lines[1].startswith(f"  REDIS_SENTINEL_NODES: the Sentinel at 127.0.0.1:{dead} does not answer (")


def test_a_plain_redis_or_an_unknown_master_is_named(
    env: pytest.MonkeyPatch, group: SentinelGroup, redis_server: RedisServer,
) -> None:
    env.setenv("REDIS_SENTINEL_NODES", f"{group.nodes.split(',')[0]},{redis_server.host}:{redis_server.port}")
    env.setenv("REDIS_SENTINEL_MASTER", "no-such-primary")
    with pytest.raises(ConfigError) as stopped:
        require_redis_topology(load_config())
    text = str(stopped.value)
    first = group.nodes.split(",")[0]
    assert (f"REDIS_SENTINEL_MASTER: the Sentinel at {first} monitors no primary named 'no-such-primary'"
            in text)
    assert f"REDIS_SENTINEL_NODES: {redis_server.host}:{redis_server.port} is not a Redis Sentinel (" in text


async def test_every_client_factory_reaches_the_primary_through_the_sentinels(
    env: pytest.MonkeyPatch, group: SentinelGroup,
) -> None:
    env.setenv("REDIS_SENTINEL_NODES", group.nodes)
    env.setenv("REDIS_SENTINEL_MASTER", group.master_name)
    env.setenv("REDIS_PORT", str(free_port()))  # nothing there: only Sentinel leads to the primary
    env.setenv("REDIS_DB", "5")
    config = load_config()
    primary = group.client(db=5)
    primary.flushdb()

    state = create_redis(config)
    await state.set("via:create_redis", "1")
    await state.aclose()
    subscriber = create_subscriber_redis(config)
    await subscriber.set("via:create_subscriber_redis", "1")
    await subscriber.aclose()
    admin = create_sync_redis(config)
    admin.set("via:create_sync_redis", "1")
    admin.close()
    assert primary.mget("via:create_redis", "via:create_subscriber_redis", "via:create_sync_redis") == [
        "1", "1", "1"]

    env.setattr("apps.realtime.channel_layer.get_config", lambda: config)
    layer = BoundedPubSubChannelLayer(prefix="sentinel-test")
    channel = await layer.new_channel()
    await layer.send(channel, {"type": "probe", "n": 1})
    assert await asyncio.wait_for(layer.receive(channel), 5) == {"type": "probe", "n": 1}
    await layer.flush()

    broker = broker_settings(config)
    with Connection(broker["broker_url"], transport_options=broker["broker_transport_options"]) as connection:
        queue = connection.SimpleQueue("sentinel-test")
        queue.put({"n": 1})
        message = queue.get(timeout=5)
        message.ack()
        assert message.payload == {"n": 1}
        queue.close()
    primary.close()


ENTRY_POINTS = {
    "web": [".venv/bin/uvicorn", "flylive.asgi:application", "--host", "127.0.0.1", "--port", "0"],
    "media": [".venv/bin/python", "manage.py", "runmedia"],
    "celery worker": [".venv/bin/celery", "-A", "flylive", "worker", "--pool=solo"],
    "celery beat": [".venv/bin/celery", "-A", "flylive", "beat"],
}


@pytest.mark.parametrize("entry_point", list(ENTRY_POINTS))
def test_every_process_refuses_to_start_with_a_sentinel_that_does_not_answer(
    group: SentinelGroup, entry_point: str,
) -> None:
    dead = free_port()
    env = server_env(group.primary, **group.env())
    env["REDIS_SENTINEL_NODES"] = f"{group.nodes},127.0.0.1:{dead}"
    done = subprocess.run([str(repo_root() / ENTRY_POINTS[entry_point][0]), *ENTRY_POINTS[entry_point][1:]],
                          cwd=repo_root(), env=process_env(env), capture_output=True, text=True, timeout=60)
    output = done.stdout + done.stderr
    assert done.returncode != 0, output
    assert f"REDIS_SENTINEL_NODES: the Sentinel at 127.0.0.1:{dead} does not answer" in output, output

"""REDIS_CLUSTER_NODES and CHANNEL_LAYER_REDIS_NODES: parsed, checked at start-up, and used by
every state client. A Cluster node that does not answer, a node not in Cluster mode, and a
Cluster that does not serve every slot stop every entry point with a message naming them.
Real redis-server processes: the session's 3-primary Cluster, a lone Cluster-mode node without
slots, and plain Redis servers."""

from __future__ import annotations

import asyncio
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from redis.asyncio.cluster import RedisCluster
from redis.cluster import RedisCluster as SyncRedisCluster

from apps.realtime.channel_layer import BoundedPubSubChannelLayer, configured_hosts
from apps.realtime.redis_client import create_redis, create_subscriber_redis, create_sync_redis
from flylive.config import ConfigError, load_config
from flylive.redis_cluster import require_redis_topology
from tests.support.processes import (
    RedisServer,
    free_port,
    process_env,
    repo_root,
    run_redis_server,
    stop_process,
)
from tests.support.redis_cluster import ClusterUnderTest, cluster_port, start_cluster_node
from tests.support.server import server_env
from tests.test_sentinel_config import ENTRY_POINTS


@pytest.fixture(scope="module")
def slotless_node() -> Iterator[int]:
    """A redis-server in Cluster mode that was never given slots (a Cluster not yet created)."""
    port = cluster_port()
    with tempfile.TemporaryDirectory(prefix="flylive-slotless-") as tmp:
        proc = start_cluster_node(Path(tmp), port)
        try:
            yield port
        finally:
            stop_process(proc)


def test_cluster_nodes_parse_as_host_port_pairs(env: pytest.MonkeyPatch) -> None:
    env.setenv("REDIS_CLUSTER_NODES", "10.0.0.1:7000, redis-b:7001,[::1]:7002,")
    env.setenv("CHANNEL_LAYER_REDIS_NODES", "10.0.0.5:6379,10.0.0.6:6380")
    config = load_config()
    assert config.REDIS_CLUSTER_NODES == (("10.0.0.1", 7000), ("redis-b", 7001), ("::1", 7002))
    assert config.redis_cluster
    env.setattr("apps.realtime.channel_layer.get_config", lambda: config)
    assert [host["address"] for host in configured_hosts()] == [
        "redis://10.0.0.5:6379/3", "redis://10.0.0.6:6380/3"]


@pytest.mark.parametrize(("variables", "message"), [
    ({"REDIS_CLUSTER_NODES": "redis-a"}, "REDIS_CLUSTER_NODES"),
    ({"CHANNEL_LAYER_REDIS_NODES": "10.0.0.5:0"}, "CHANNEL_LAYER_REDIS_NODES"),
    ({"CHANNEL_LAYER_REDIS_NODES": "10.0.0.5:6379", "REDIS_SENTINEL_NODES": "10.0.0.1:26379",
      "REDIS_SENTINEL_MASTER": "m"}, "CHANNEL_LAYER_REDIS_NODES: is not supported with REDIS_SENTINEL_NODES"),
])
def test_bad_cluster_variables_stop_start_up_naming_them(
        env: pytest.MonkeyPatch, variables: dict[str, str], message: str) -> None:
    for name, value in variables.items():
        env.setenv(name, value)
    with pytest.raises(ConfigError) as stopped:
        load_config()
    assert message in str(stopped.value)


def test_a_serving_cluster_passes_the_check(env: pytest.MonkeyPatch, redis_cluster: ClusterUnderTest) -> None:
    env.setenv("REDIS_CLUSTER_NODES", redis_cluster.nodes)
    require_redis_topology(load_config())


def test_each_bad_cluster_node_is_named(env: pytest.MonkeyPatch, redis_cluster: ClusterUnderTest,
                                        slotless_node: int, redis_server: RedisServer) -> None:
    dead = free_port()
    plain = f"{redis_server.host}:{redis_server.port}"
    nodes = f"{redis_cluster.nodes},127.0.0.1:{dead},127.0.0.1:{slotless_node},{plain}"
    env.setenv("REDIS_CLUSTER_NODES", nodes)
    with pytest.raises(ConfigError) as stopped:
        require_redis_topology(load_config())
    lines = str(stopped.value).splitlines()
    assert lines[0] == "Invalid configuration:"
    assert len(lines) == 4, lines
    assert lines[1].startswith(f"  REDIS_CLUSTER_NODES: the Cluster node at 127.0.0.1:{dead} does not answer")
    assert lines[2] == (f"  REDIS_CLUSTER_NODES: the Cluster of 127.0.0.1:{slotless_node} serves 0 of 16384 "
                        "slots (cluster_state fail); assign every slot first")
    assert lines[3].startswith(f"  REDIS_CLUSTER_NODES: {plain} is not a Redis Cluster node (")


async def test_every_state_client_factory_reaches_the_cluster(
        env: pytest.MonkeyPatch, redis_cluster: ClusterUnderTest) -> None:
    env.setenv("REDIS_CLUSTER_NODES", redis_cluster.nodes)
    env.setenv("REDIS_PORT", str(free_port()))  # nothing there: only the Cluster holds state
    config = load_config()
    async with redis_cluster.client() as probe:
        state = create_redis(config)
        assert isinstance(state, RedisCluster)
        await state.set("via:{create_redis}", "1")
        await state.aclose()
        subscriber = create_subscriber_redis(config)
        await subscriber.set("via:{create_subscriber_redis}", "1")
        await subscriber.aclose()
        admin = create_sync_redis(config)
        assert isinstance(admin, SyncRedisCluster)
        admin.set("via:{create_sync_redis}", "1")
        admin.close()
        for name in ("create_redis", "create_subscriber_redis", "create_sync_redis"):
            assert await probe.get(f"via:{{{name}}}") == "1"


async def test_the_channel_layer_shards_over_its_own_redis_servers(env: pytest.MonkeyPatch) -> None:
    with run_redis_server() as first, run_redis_server() as second:
        env.setenv("CHANNEL_LAYER_REDIS_NODES", f"127.0.0.1:{first.port},127.0.0.1:{second.port}")
        config = load_config()
        env.setattr("apps.realtime.channel_layer.get_config", lambda: config)
        layer = BoundedPubSubChannelLayer(prefix="shard-test")
        channels = [await layer.new_channel() for _ in range(8)]
        for n, channel in enumerate(channels):
            await layer.send(channel, {"type": "probe", "n": n})
        for shard in (first, second):  # both servers carry some of the channels
            probe = redis.Redis(port=shard.port)
            assert probe.pubsub_channels("shard-test*"), shard.port
            probe.close()
        for n, channel in enumerate(channels):
            assert await asyncio.wait_for(layer.receive(channel), 5) == {"type": "probe", "n": n}
        await layer.flush()


@pytest.mark.parametrize("entry_point", list(ENTRY_POINTS))
def test_every_process_refuses_to_start_on_a_cluster_without_all_slots(
        redis_server: RedisServer, slotless_node: int, entry_point: str) -> None:
    variables = server_env(redis_server, REDIS_CLUSTER_NODES=f"127.0.0.1:{slotless_node}")
    command = ENTRY_POINTS[entry_point]
    done = subprocess.run([str(repo_root() / command[0]), *command[1:]], cwd=repo_root(),
                          env=process_env(variables), capture_output=True, text=True, timeout=60)
    output = done.stdout + done.stderr
    assert done.returncode != 0, output
    assert f"REDIS_CLUSTER_NODES: the Cluster of 127.0.0.1:{slotless_node} serves 0 of 16384 slots" in output

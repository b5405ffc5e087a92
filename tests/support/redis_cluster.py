"""A real Redis Cluster for tests: three primaries (`redis-server --cluster-enabled yes`) on
loopback ports, joined and given every slot by `redis-cli --cluster create`.

    with run_redis_cluster() as cluster:
        env = server_env(plain_redis, **cluster.env())      # REDIS_CLUSTER_NODES
        async with cluster.client() as redis: ...            # an emptied Cluster, async client

The server's state goes to the Cluster; its channel layer and Celery's broker stay on the
plain Redis of REDIS_HOST (neither can use a Cluster).
"""

from __future__ import annotations

import contextlib
import socket
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import redis
from redis.asyncio.cluster import ClusterNode, RedisCluster

from tests.support.processes import free_port, redis_binary, start_redis_process, stop_process

PRIMARIES = 3


def cluster_port() -> int:
    """A free port whose Cluster bus port (port + 10000) exists and is free too."""
    for _ in range(200):
        port = free_port()
        if port + 10000 > 65535:
            continue
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            try:
                probe.bind(("127.0.0.1", port + 10000))
            except OSError:
                continue
        return port
    raise RuntimeError("no free port pair (port, port + 10000) for a Cluster node")


def start_cluster_node(directory: Path, port: int) -> subprocess.Popen[bytes]:
    """One `redis-server` in Cluster mode, with no slots until a `--cluster create` gives it some."""
    directory.mkdir(parents=True, exist_ok=True)
    return start_redis_process(
        ["--port", str(port), "--bind", "127.0.0.1", "--cluster-enabled", "yes",
         "--cluster-config-file", str(directory / "nodes.conf"), "--cluster-node-timeout", "2000",
         "--save", "", "--appendonly", "no", "--dir", str(directory), "--loglevel", "warning"], port)


def _cluster_ok(port: int) -> bool:
    client = redis.Redis(port=port, socket_timeout=2, decode_responses=True)
    try:
        info = client.execute_command("CLUSTER", "INFO")
    finally:
        client.close()
    return "cluster_state:ok" in str(info) and "cluster_slots_ok:16384" in str(info)


@dataclass
class ClusterUnderTest:
    ports: list[int]

    @property
    def nodes(self) -> str:
        """REDIS_CLUSTER_NODES's value."""
        return ",".join(f"127.0.0.1:{port}" for port in self.ports)

    def env(self) -> dict[str, str]:
        return {"REDIS_CLUSTER_NODES": self.nodes}

    def flush(self) -> None:
        for port in self.ports:
            client = redis.Redis(port=port, socket_timeout=5)
            try:
                client.flushall()
            finally:
                client.close()

    @contextlib.asynccontextmanager
    async def client(self, *, decode_responses: bool = True,
                     flush: bool = True) -> AsyncIterator[RedisCluster]:
        """An async Cluster client (tests' own probes), on the emptied Cluster unless `flush` is False."""
        if flush:
            self.flush()
        client = RedisCluster(startup_nodes=[ClusterNode("127.0.0.1", port) for port in self.ports],
                              decode_responses=decode_responses)
        try:
            yield client
        finally:
            await client.aclose()


@contextlib.contextmanager
def run_redis_cluster(primaries: int = PRIMARIES) -> Iterator[ClusterUnderTest]:
    ports = [cluster_port() for _ in range(primaries)]
    procs: list[subprocess.Popen[bytes]] = []
    with tempfile.TemporaryDirectory(prefix="flylive-cluster-") as tmp:
        try:
            for port in ports:
                procs.append(start_cluster_node(Path(tmp) / str(port), port))
            subprocess.run(
                [redis_binary("redis-cli"), "--cluster", "create", *(f"127.0.0.1:{p}" for p in ports),
                 "--cluster-replicas", "0", "--cluster-yes"],
                check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=60)
            deadline = time.monotonic() + 30
            while not all(_cluster_ok(port) for port in ports):
                if time.monotonic() > deadline:
                    raise TimeoutError("redis cluster: not every node reports all slots served within 30 s")
                time.sleep(0.1)
            yield ClusterUnderTest(ports)
        finally:
            for proc in procs:
                stop_process(proc)

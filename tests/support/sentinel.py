"""A Redis Sentinel group for tests: a primary, a replica and three Sentinels on loopback ports,
all real `redis-server` processes (Sentinel is `redis-server --sentinel`, the same Debian package).

    with run_sentinel_group() as group:
        env = server_env(group.primary, **group.env())       # REDIS_SENTINEL_NODES / _MASTER
        ...
        old = group.kill_primary()                            # SIGKILL
        new = group.wait_for_failover(old)                    # the replica, promoted

Sentinels here call a primary down after `down_after_ms` (default 1 s) of silence, so a
failover takes about two to four seconds. `group.clients(db)` is a sync client that follows the
primary through the Sentinels (tests' own probes).
"""

from __future__ import annotations

import contextlib
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import redis
from redis.sentinel import Sentinel

from tests.support.processes import RedisServer, free_port, start_redis_process, stop_process

MASTER_NAME = "flylive-test"


def _wait(condition: str, check: object, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        try:
            if check():  # type: ignore[operator]
                return
        except redis.RedisError as exc:
            last = exc
        time.sleep(0.05)
    raise TimeoutError(f"sentinel group: {condition} not within {timeout}s (last error: {last!r})")


@dataclass
class SentinelGroup:
    master_name: str
    dir: Path
    servers: dict[int, subprocess.Popen[bytes]]  # data nodes by port: the primary and the replica
    sentinel_ports: list[int]
    sentinels: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def nodes(self) -> str:
        """The value of REDIS_SENTINEL_NODES."""
        return ",".join(f"127.0.0.1:{port}" for port in self.sentinel_ports)

    def env(self) -> dict[str, str]:
        """Server environment for this group. REDIS_HOST/REDIS_PORT point at a closed port, so a
        client that ignored Sentinel would fail, not quietly use the primary."""
        return {"REDIS_SENTINEL_NODES": self.nodes, "REDIS_SENTINEL_MASTER": self.master_name,
                "REDIS_HOST": "127.0.0.1", "REDIS_PORT": str(free_port())}

    @property
    def primary(self) -> RedisServer:
        """The data node Sentinel names as primary now."""
        port = self.primary_port()
        return RedisServer("127.0.0.1", port, self.servers[port])

    def primary_port(self) -> int:
        host, port = self._ask_sentinels()
        assert host == "127.0.0.1", host
        return port

    def _ask_sentinels(self) -> tuple[str, int]:
        for port in self.sentinel_ports:
            with contextlib.suppress(redis.RedisError):
                client = redis.Redis(port=port, socket_timeout=1, decode_responses=True)
                try:
                    address = client.sentinel_get_master_addr_by_name(self.master_name)
                finally:
                    client.close()
                if isinstance(address, (list, tuple)):
                    return str(address[0]), int(address[1])
        raise RuntimeError("no Sentinel of the group answers")

    def client(self, db: int = 3, *, decode_responses: bool = True) -> redis.Redis:
        """A sync client of the primary, found through the Sentinels (follows a failover)."""
        sentinel = Sentinel([("127.0.0.1", port) for port in self.sentinel_ports], socket_timeout=1)
        client: redis.Redis = sentinel.master_for(self.master_name, db=db, socket_timeout=2,
                                                  decode_responses=decode_responses)
        return client

    def wait_for_replication(self, timeout: float = 5.0) -> None:
        """Block until the replica acknowledged every write the primary had (WAIT 1)."""
        client = redis.Redis(port=self.primary_port(), socket_timeout=timeout + 1)
        try:
            acked = client.execute_command("WAIT", 1, int(timeout * 1000))
        finally:
            client.close()
        if int(acked) < 1:
            raise TimeoutError(f"the replica did not acknowledge the primary's writes within {timeout}s")

    def kill_primary(self) -> int:
        """SIGKILL the primary; its port."""
        port = self.primary_port()
        proc = self.servers[port]
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=5)
        return port

    def wait_for_failover(self, old_port: int, timeout: float = 30.0) -> int:
        """Block until the Sentinels name another primary and it accepts writes; its port."""
        _wait("a new primary named by the Sentinels", lambda: self._ask_sentinels()[1] != old_port, timeout)
        port = self.primary_port()

        def writable() -> bool:
            client = redis.Redis(port=port, socket_timeout=1, decode_responses=True)
            try:
                return bool(client.info("replication")["role"] == "master")
            finally:
                client.close()

        _wait("the promoted replica taking writes", writable, timeout)

        def found_by_clients() -> bool:  # redis-py's discovery also wants the new primary's flags clear
            sentinel = Sentinel([("127.0.0.1", p) for p in self.sentinel_ports], socket_timeout=1)
            return bool(sentinel.discover_master(self.master_name) == ("127.0.0.1", port))

        _wait("clients finding the new primary through Sentinel", found_by_clients, timeout)
        return port


def _sentinel_conf(path: Path, port: int, master_name: str, primary_port: int, down_after_ms: int) -> None:
    path.write_text("\n".join([
        f"port {port}",
        "bind 127.0.0.1",
        f"dir {path.parent}",
        f"sentinel monitor {master_name} 127.0.0.1 {primary_port} 2",
        f"sentinel down-after-milliseconds {master_name} {down_after_ms}",
        f"sentinel failover-timeout {master_name} 10000",
        f"sentinel parallel-syncs {master_name} 1",
        "",
    ]))


@contextlib.contextmanager
def run_sentinel_group(*, master_name: str = MASTER_NAME, down_after_ms: int = 1000,
                       timeout: float = 30.0) -> Iterator[SentinelGroup]:
    """Start a primary, its replica and three Sentinels; ready when every Sentinel sees the
    replica and the two other Sentinels (so that a failover can be voted at once)."""
    data = ["--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--loglevel", "warning"]
    with tempfile.TemporaryDirectory(prefix="flylive-sentinel-") as tmp:
        root = Path(tmp)
        group = SentinelGroup(master_name, root, {}, [free_port() for _ in range(3)])
        try:
            primary_port, replica_port = free_port(), free_port()
            replica_of = ["--replicaof", "127.0.0.1", str(primary_port)]
            for port, extra in ((primary_port, []), (replica_port, replica_of)):
                node_dir = root / f"node-{port}"
                node_dir.mkdir()
                group.servers[port] = start_redis_process(
                    ["--port", str(port), "--dir", str(node_dir), *data, *extra], port)

            def replica_synced() -> bool:
                info = redis.Redis(port=replica_port, socket_timeout=1).info("replication")
                return bool(info.get("master_link_status") == "up")

            _wait("the replica in sync", replica_synced, timeout)
            for port in group.sentinel_ports:
                conf = root / f"sentinel-{port}" / "sentinel.conf"
                conf.parent.mkdir()
                _sentinel_conf(conf, port, master_name, primary_port, down_after_ms)
                group.sentinels.append(
                    start_redis_process([str(conf), "--sentinel", "--loglevel", "warning"], port))

            def sentinels_ready() -> bool:
                for port in group.sentinel_ports:
                    client = redis.Redis(port=port, socket_timeout=1, decode_responses=True)
                    try:
                        state = client.sentinel_master(master_name)
                    finally:
                        client.close()
                    assert isinstance(state, dict), state
                    if int(state["num-slaves"]) < 1 or int(state["num-other-sentinels"]) < 2:
                        return False
                return True

            _wait("three Sentinels that see the replica and each other", sentinels_ready, timeout)
            yield group
        finally:
            for proc in [*group.sentinels, *group.servers.values()]:
                stop_process(proc)

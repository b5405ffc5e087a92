"""The start-up check of REDIS_SENTINEL_NODES: every Sentinel answers and knows the primary.

`flylive.redis_cluster.require_redis_topology`, which each entry point runs before it serves
anything, stops start-up on these problems, as on a missing variable. Without Sentinel there is
nothing to ask. `ask_node` is the one way both start-up checks (Sentinel, Cluster) ask a node.
"""

from __future__ import annotations

from typing import Any

import redis

from flylive.config import AppConfig

NODE_CHECK_TIMEOUT_SECONDS = 3.0


def ask_node(host: str, port: int, *command: str, variable: str, kind: str,
             **options: Any) -> tuple[Any, str | None]:
    """`command`'s reply from the node at host:port, or None and a line naming the problem: the
    node does not answer, or answers as something else than a Redis `kind`."""
    client = redis.Redis(host=host, port=port, socket_connect_timeout=NODE_CHECK_TIMEOUT_SECONDS,
                         socket_timeout=NODE_CHECK_TIMEOUT_SECONDS, decode_responses=True, **options)
    try:
        return client.execute_command(*command), None  # type: ignore[no-untyped-call]
    except (redis.ConnectionError, redis.TimeoutError) as exc:
        return None, f"{variable}: the {kind} at {host}:{port} does not answer ({exc})"
    except redis.ResponseError as exc:
        return None, f"{variable}: {host}:{port} is not a Redis {kind} ({exc})"
    finally:
        client.close()


def sentinel_problems(config: AppConfig) -> list[str]:
    """One line per Sentinel that does not answer, is not a Sentinel or does not know the primary."""
    problems = []
    master = config.REDIS_SENTINEL_MASTER
    for host, port in config.REDIS_SENTINEL_NODES:
        address, problem = ask_node(host, port, "SENTINEL", "get-master-addr-by-name", str(master),
                                    variable="REDIS_SENTINEL_NODES", kind="Sentinel")
        if problem is None and not address:
            problem = (f"REDIS_SENTINEL_MASTER: the Sentinel at {host}:{port} monitors no primary "
                       f"named {master!r}")
        if problem is not None:
            problems.append(problem)
    return problems

"""The start-up check of REDIS_CLUSTER_NODES, and the one Redis check every entry point runs.

`require_redis_topology(config)` runs before a process serves anything (flylive/asgi.py for the
web processes, runmedia, flylive/celery.py for the worker and beat, bin/serve): a Sentinel that
does not answer (flylive/redis_sentinel.py), a Cluster node that does not answer or is not a
Cluster node, or a Cluster that does not serve all 16384 slots is a configuration error and stops
start-up with a message naming it, as a missing variable does.
"""

from __future__ import annotations

import redis

from flylive.config import AppConfig, ConfigError
from flylive.redis_sentinel import sentinel_problems

CLUSTER_CHECK_TIMEOUT_SECONDS = 3.0
CLUSTER_SLOTS = 16384


def _cluster_info(client: redis.Redis) -> dict[str, str]:
    raw = client.execute_command("CLUSTER", "INFO")  # type: ignore[no-untyped-call]
    text = raw.decode() if isinstance(raw, bytes) else str(raw)
    return dict(line.split(":", 1) for line in text.splitlines() if ":" in line)


def cluster_problems(config: AppConfig) -> list[str]:
    """One line per configured Cluster node that does not answer, is not in Cluster mode, or
    belongs to a Cluster that is not serving every slot (each node reports the whole Cluster's)."""
    problems = []
    for host, port in config.REDIS_CLUSTER_NODES:
        client = redis.Redis(host=host, port=port, username=config.REDIS_USERNAME,
                             password=config.REDIS_PASSWORD, ssl=config.REDIS_TLS,
                             socket_connect_timeout=CLUSTER_CHECK_TIMEOUT_SECONDS,
                             socket_timeout=CLUSTER_CHECK_TIMEOUT_SECONDS, decode_responses=True)
        node = f"{host}:{port}"
        try:
            info = _cluster_info(client)
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            problems.append(f"REDIS_CLUSTER_NODES: the Cluster node at {node} does not answer ({exc})")
        except redis.ResponseError as exc:
            problems.append(f"REDIS_CLUSTER_NODES: {node} is not a Redis Cluster node ({exc})")
        else:
            served, state = int(info.get("cluster_slots_ok", "0")), info.get("cluster_state", "?")
            if state != "ok" or served < CLUSTER_SLOTS:
                problems.append(f"REDIS_CLUSTER_NODES: the Cluster of {node} serves {served} of "
                                f"{CLUSTER_SLOTS} slots (cluster_state {state}); assign every slot first")
        finally:
            client.close()
    return problems


def require_redis_topology(config: AppConfig) -> None:
    """Stop start-up (ConfigError) unless every configured Sentinel answers for the primary and
    the configured Cluster serves every slot. With neither configured it does nothing."""
    problems = (sentinel_problems(config) if config.redis_sentinel else []) + cluster_problems(config)
    if problems:
        raise ConfigError("Invalid configuration:\n" + "\n".join(f"  {line}" for line in problems))

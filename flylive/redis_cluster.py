"""The start-up check of REDIS_CLUSTER_NODES, and the one Redis check every entry point runs.

`require_redis_topology(config)` runs before a process serves anything (flylive/asgi.py for the
web processes, runmedia, flylive/celery.py for the worker and beat, bin/serve): a Sentinel that
does not answer (flylive/redis_sentinel.py), a Cluster node that does not answer or is not a
Cluster node, or a Cluster that does not serve all 16384 slots is a configuration error and stops
start-up with a message naming it, as a missing variable does.
"""

from __future__ import annotations

from flylive.config import AppConfig, ConfigError
from flylive.redis_sentinel import ask_node, sentinel_problems

CLUSTER_SLOTS = 16384


def cluster_problems(config: AppConfig) -> list[str]:
    """One line per configured Cluster node that does not answer, is not in Cluster mode, or
    belongs to a Cluster that is not serving every slot (each node reports the whole Cluster's)."""
    problems = []
    for host, port in config.REDIS_CLUSTER_NODES:
        raw, problem = ask_node(host, port, "CLUSTER", "INFO", variable="REDIS_CLUSTER_NODES",
                                kind="Cluster node", username=config.REDIS_USERNAME,
                                password=config.REDIS_PASSWORD, ssl=config.REDIS_TLS)
        if problem is None:
            info = dict(line.split(":", 1) for line in str(raw).splitlines() if ":" in line)
            served, state = int(info.get("cluster_slots_ok", "0")), info.get("cluster_state", "?")
            if state != "ok" or served < CLUSTER_SLOTS:
                problem = (f"REDIS_CLUSTER_NODES: the Cluster of {host}:{port} serves {served} of "
                           f"{CLUSTER_SLOTS} slots (cluster_state {state}); assign every slot first")
        if problem is not None:
            problems.append(problem)
    return problems


def require_redis_topology(config: AppConfig) -> None:
    """Stop start-up (ConfigError) unless every configured Sentinel answers for the primary and
    the configured Cluster serves every slot. With neither configured it does nothing."""
    problems = (sentinel_problems(config) if config.redis_sentinel else []) + cluster_problems(config)
    if problems:
        raise ConfigError("Invalid configuration:\n" + "\n".join(f"  {line}" for line in problems))

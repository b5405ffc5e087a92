"""The start-up check of REDIS_SENTINEL_NODES: every Sentinel answers and knows the primary.

Each entry point calls `require_sentinels(config)` before it serves anything (flylive/asgi.py
for the web processes, runmedia, flylive/celery.py for the worker and beat, bin/serve): a
Sentinel that does not answer is a configuration error and stops start-up with a message naming
it, as a missing variable does. Without Sentinel it does nothing.
"""

from __future__ import annotations

import redis

from flylive.config import AppConfig, ConfigError

SENTINEL_CHECK_TIMEOUT_SECONDS = 3.0


def sentinel_problems(config: AppConfig) -> list[str]:
    """One line per Sentinel that does not answer, is not a Sentinel or does not know the primary."""
    problems = []
    master = config.REDIS_SENTINEL_MASTER
    for host, port in config.REDIS_SENTINEL_NODES:
        client = redis.Redis(host=host, port=port, socket_connect_timeout=SENTINEL_CHECK_TIMEOUT_SECONDS,
                             socket_timeout=SENTINEL_CHECK_TIMEOUT_SECONDS, decode_responses=True)
        try:
            address = client.execute_command(  # type: ignore[no-untyped-call]
                "SENTINEL", "get-master-addr-by-name", master)
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            problems.append(f"REDIS_SENTINEL_NODES: the Sentinel at {host}:{port} does not answer ({exc})")
        except redis.ResponseError as exc:
            problems.append(f"REDIS_SENTINEL_NODES: {host}:{port} is not a Redis Sentinel ({exc})")
        else:
            if not address:
                problems.append(f"REDIS_SENTINEL_MASTER: the Sentinel at {host}:{port} monitors no primary "
                                f"named {master!r}")
        finally:
            client.close()
    return problems


def require_sentinels(config: AppConfig) -> None:
    """Stop start-up (ConfigError) unless every configured Sentinel answers for the primary."""
    if config.redis_sentinel and (problems := sentinel_problems(config)):
        raise ConfigError("Invalid configuration:\n" + "\n".join(f"  {line}" for line in problems))

"""The server's configuration: read once from the environment (and `.env`), validated.

Names and defaults are the contract's (PROTOCOL.md section 10) so an operator can
swap servers without new configuration. Nothing else in the project reads
`os.environ`; code gets an `AppConfig` from `get_config()`.
"""

from __future__ import annotations

import ipaddress
import os
from functools import lru_cache
from typing import Annotated, Literal

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

# Django's key when DJANGO_SECRET_KEY is unset outside production: public, like Django's own
# `django-insecure-` defaults, and unrelated to JWT_SECRET and every other secret of ours.
DEVELOPMENT_SECRET_KEY = "django-insecure-flylive-development-only-not-a-secret"

SETTINGS_MODULES = {
    "production": "flylive.settings.prod",
    "test": "flylive.settings.test",
    "development": "flylive.settings.dev",
}


def _flag(value: object) -> bool:
    """The contract's booleans: `true`/`1` are on, `false`/`0`/empty are off."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "1"):
        return True
    if text in ("false", "0", ""):
        return False
    raise ValueError("must be one of true, 1, false, 0 or empty")


class AppConfig(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", frozen=True)

    NODE_ENV: Literal["development", "production", "test"] = "development"
    PORT: int = Field(3030, ge=1, le=65535)
    LOG_LEVEL: Literal["fatal", "error", "warn", "info", "debug", "trace"] = "info"
    SSL_KEY_PATH: str | None = None
    SSL_CERT_PATH: str | None = None

    REDIS_HOST: str = "127.0.0.1"
    REDIS_PORT: int = Field(6379, ge=1, le=65535)
    REDIS_USERNAME: str | None = None
    REDIS_PASSWORD: str | None = None
    REDIS_DB: int = Field(3, ge=0)
    REDIS_TLS: bool = False
    # The Node server's plan for staging: find the primary through these Sentinels (comma list of
    # host:port) under this master name, for every Redis client; REDIS_HOST/REDIS_PORT are then unused.
    REDIS_SENTINEL_NODES: Annotated[tuple[tuple[str, int], ...], NoDecode] = ()
    REDIS_SENTINEL_MASTER: str | None = None
    # Comma list of Redis Cluster nodes (host:port): the server's state goes to that Cluster (every
    # key carries a hash tag; REDIS_DB is unused: a Cluster has database 0 only). The channel layer
    # and Celery's broker, which cannot use a Cluster, stay on REDIS_HOST (or Sentinel).
    REDIS_CLUSTER_NODES: Annotated[tuple[tuple[str, int], ...], NoDecode] = ()
    # Comma list of plain Redis servers (host:port) the channel layer shards its channels and groups
    # over (channels_redis, consistent hashing); unset: the one Redis above. Not with Sentinel.
    CHANNEL_LAYER_REDIS_NODES: Annotated[tuple[tuple[str, int], ...], NoDecode] = ()

    JWT_SECRET: str = Field(min_length=32)
    JWT_MAX_AGE_SECONDS: int = Field(86400, gt=0)

    LARAVEL_API_URL: str
    LARAVEL_INTERNAL_KEY: str = Field(min_length=32)
    LARAVEL_API_TIMEOUT_MS: int = Field(10000, gt=0)

    MEDIASOUP_LISTEN_IP: str = "0.0.0.0"
    MEDIASOUP_ANNOUNCED_IP: str | None = None
    MEDIASOUP_RTC_MIN_PORT: int = Field(10000, ge=1, le=65535)
    MEDIASOUP_RTC_MAX_PORT: int = Field(59999, ge=1, le=65535)
    MEDIASOUP_NUM_WORKERS: int = Field(default_factory=lambda: os.cpu_count() or 1, ge=1)
    # Same variable as mediasoup's Node library: an operator may bring a binary.
    MEDIASOUP_WORKER_BIN: str | None = None
    # A media node whose registry heartbeat (every 2 s) is older than this is dead: its rooms are lost.
    MEDIA_NODE_DEAD_AFTER_MS: int = Field(10000, gt=0)

    MAX_ROOMS_PER_WORKER: int = Field(100, gt=0)
    MAX_LISTENERS_PER_DISTRIBUTION_ROUTER: int = Field(700, gt=0)
    MAX_ACTIVE_SPEAKERS_FORWARDED: int = Field(3, gt=0)
    # Not in the Node contract: a room across media nodes (apps/media/room_span.py). A room's home
    # node keeps up to MAX_LISTENERS_PER_NODE of its listener transports (0: no cap, all stay
    # home); beyond, listeners go to other nodes, each fed from the source router through a pipe
    # transport listening on MEDIA_NODE_PIPE_LISTEN_IP (default MEDIASOUP_LISTEN_IP) and reached by
    # the other nodes at MEDIA_NODE_PIPE_ANNOUNCED_IP (announced in the heartbeat; unset: the node
    # neither spreads its rooms nor serves other nodes' listeners).
    MAX_LISTENERS_PER_NODE: int = Field(0, ge=0)
    MEDIA_NODE_PIPE_LISTEN_IP: str | None = None
    MEDIA_NODE_PIPE_ANNOUNCED_IP: str | None = None
    RATE_LIMIT_MESSAGES_PER_MINUTE: int = Field(60, gt=0)
    # Not in the Node contract: room:join per user per 60 s (room-creation floods; `Too many requests`).
    ROOM_JOIN_RATE_LIMIT_PER_MINUTE: int = Field(30, gt=0)
    ROOM_INACTIVITY_TIMEOUT_MS: int = Field(30000, gt=0)
    ROOM_AUTO_CLOSE_POLL_INTERVAL_MS: int = Field(30000, gt=0)
    # Not in the Node contract: how often Celery beat collects the rooms media nodes lost (a dead
    # worker, a node whose heartbeat stopped) and closes them with `worker_died`.
    MEDIA_LOST_ROOMS_POLL_INTERVAL_MS: int = Field(1000, gt=0)
    GIFT_BUFFER_FLUSH_INTERVAL_MS: int = Field(500, gt=0)
    GIFT_MAX_RETRIES: int = Field(3, gt=0)
    # Not in the Node contract (apps/gifts/buffer.py): transactions per batch POST (the baseline
    # sent the whole backlog at once), and the flush lock's TTL, which a live flush keeps
    # extending: a flush killed mid-batch frees the lock, and its batch is recovered, this soon.
    GIFT_BATCH_SIZE: int = Field(100, gt=0, le=1000)
    GIFT_FLUSH_LOCK_TTL_MS: int = Field(5000, ge=1000)
    DEFAULT_SEAT_COUNT: int = Field(15, ge=1, le=15)
    # Not in the Node contract: seat permission caches and the Laravel lookups' deadline
    # (apps/seats/permissions.py). The owner rarely changes; a role is kept short so a demoted
    # admin loses the right quickly.
    SEAT_OWNER_CACHE_TTL_MS: int = Field(30000, ge=0)
    SEAT_ROLE_CACHE_TTL_MS: int = Field(10000, ge=0)
    SEAT_AUTH_TIMEOUT_MS: int = Field(5000, gt=0)
    # An invite's life (the contract's 30 s; tests shorten it) and how often the expiry sweep
    # (Celery beat) looks for invites past it.
    SEAT_INVITE_TTL_MS: int = Field(30000, gt=0)
    SEAT_INVITE_SWEEP_INTERVAL_MS: int = Field(1000, gt=0)

    MSAB_EVENTS_CHANNEL: str = "flylive:msab:events"
    MSAB_EVENTS_ENABLED: bool = True
    # Not in the Node contract (apps/integrations/laravel_events.py): Laravel events waiting for
    # delivery in one web process; beyond it they are dropped and counted.
    MSAB_EVENTS_QUEUE_SIZE: int = Field(10000, gt=0)
    CORS_ORIGINS: Annotated[tuple[str, ...], NoDecode] = (
        "https://flyliveapp.com",
        "https://www.flyliveapp.com",
    )

    # Not in the Node contract: Django's own knobs.
    DATABASE_URL: str = "sqlite:///db.sqlite3"
    DJANGO_SECRET_KEY: str | None = None
    DJANGO_ALLOWED_HOSTS: Annotated[tuple[str, ...], NoDecode] = ("*",)

    # Not in the Node contract: Engine.IO heartbeat (its defaults are the contract's 25 s / 20 s);
    # tests shorten them to see a dead peer dropped.
    SOCKET_PING_INTERVAL_MS: int = Field(25000, gt=0)
    SOCKET_PING_TIMEOUT_MS: int = Field(20000, gt=0)
    # Not in the Node contract: liveness of web processes (apps/realtime/web_instance.py). Each
    # event loop serving sockets stamps `web:instances` every HEARTBEAT; one silent for DEAD_AFTER
    # is dead, and every process looks for dead ones every SWEEP_INTERVAL and cleans up their
    # sockets as a disconnect would. Worst case a dead process's sockets linger
    # DEAD_AFTER + SWEEP_INTERVAL (40 s by default).
    WEB_INSTANCE_HEARTBEAT_MS: int = Field(5000, gt=0)
    WEB_INSTANCE_DEAD_AFTER_MS: int = Field(30000, gt=0)
    WEB_INSTANCE_SWEEP_INTERVAL_MS: int = Field(10000, gt=0)
    # Registers the `debug:*` probe events (apps/realtime/probe_events.py). Tests only: refused
    # with NODE_ENV=production.
    FLYLIVE_TEST_EVENTS: bool = False

    @field_validator("REDIS_TLS", "MSAB_EVENTS_ENABLED", "FLYLIVE_TEST_EVENTS", mode="before")
    @classmethod
    def _parse_flag(cls, value: object) -> bool:
        return _flag(value)

    @field_validator("CORS_ORIGINS", "DJANGO_ALLOWED_HOSTS", mode="before")
    @classmethod
    def _parse_list(cls, value: object) -> tuple[str, ...]:
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return tuple(value)  # type: ignore[arg-type]

    @field_validator("REDIS_SENTINEL_NODES", "REDIS_CLUSTER_NODES", "CHANNEL_LAYER_REDIS_NODES",
                     mode="before")
    @classmethod
    def _parse_nodes(cls, value: object) -> object:
        if not isinstance(value, str):
            return value
        nodes = []
        for entry in (part.strip() for part in value.split(",")):
            if not entry:
                continue
            host, sep, port = entry.rpartition(":")
            host = host.removeprefix("[").removesuffix("]")  # [::1]:26379
            if not sep or not host or not port.isdigit() or not 1 <= int(port) <= 65535:
                raise ValueError(f"must be a comma list of host:port, not {entry!r}")
            nodes.append((host, int(port)))
        return tuple(nodes)

    @field_validator("LARAVEL_API_URL")
    @classmethod
    def _parse_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")) or len(value) < 10:
            raise ValueError("must be an http(s) URL")
        return value

    @field_validator("SSL_KEY_PATH", "SSL_CERT_PATH", "MEDIASOUP_ANNOUNCED_IP", "MEDIASOUP_WORKER_BIN",
                     "REDIS_USERNAME", "REDIS_PASSWORD", "REDIS_SENTINEL_MASTER", "DJANGO_SECRET_KEY",
                     mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        return None if value == "" else value

    @field_validator("MEDIA_NODE_PIPE_LISTEN_IP", "MEDIA_NODE_PIPE_ANNOUNCED_IP", mode="before")
    @classmethod
    def _ip_address(cls, value: object) -> object:
        if value == "" or value is None:
            return None
        try:
            ipaddress.ip_address(str(value))
        except ValueError:
            raise ValueError("must be an IP address") from None
        return value

    @model_validator(mode="after")
    def _spread_rooms_need_a_pipe_address(self) -> AppConfig:
        # A node that spreads its rooms must tell the other nodes where its pipe transports are.
        if self.MAX_LISTENERS_PER_NODE > 0 and self.MEDIA_NODE_PIPE_ANNOUNCED_IP is None:
            raise ValueError("MEDIA_NODE_PIPE_ANNOUNCED_IP: is required when MAX_LISTENERS_PER_NODE is set "
                             "(the address the other media nodes reach this one's pipe transports at)")
        return self

    @model_validator(mode="after")
    def _dead_after_spans_heartbeats(self) -> AppConfig:
        # Fewer than two missed heartbeats would let one slow Redis round trip kill a live process.
        if self.WEB_INSTANCE_DEAD_AFTER_MS < 2 * self.WEB_INSTANCE_HEARTBEAT_MS:
            raise ValueError("WEB_INSTANCE_DEAD_AFTER_MS must be at least twice WEB_INSTANCE_HEARTBEAT_MS")
        return self

    @model_validator(mode="after")
    def _sentinel_complete(self) -> AppConfig:
        if self.REDIS_SENTINEL_NODES and not self.REDIS_SENTINEL_MASTER:
            raise ValueError("REDIS_SENTINEL_MASTER: is required with REDIS_SENTINEL_NODES")
        if self.REDIS_SENTINEL_MASTER and not self.REDIS_SENTINEL_NODES:
            raise ValueError("REDIS_SENTINEL_NODES: is required with REDIS_SENTINEL_MASTER")
        if self.REDIS_SENTINEL_NODES and self.REDIS_TLS:
            raise ValueError("REDIS_TLS: is not supported with REDIS_SENTINEL_NODES")
        if self.REDIS_SENTINEL_NODES and self.CHANNEL_LAYER_REDIS_NODES:
            raise ValueError("CHANNEL_LAYER_REDIS_NODES: is not supported with REDIS_SENTINEL_NODES "
                             "(the channel layer follows the Sentinels' primary)")
        return self

    @model_validator(mode="after")
    def _production_rules(self) -> AppConfig:
        problems = []
        if self.DJANGO_SECRET_KEY is not None and self.DJANGO_SECRET_KEY in (
                self.JWT_SECRET, self.LARAVEL_INTERNAL_KEY):
            problems.append("DJANGO_SECRET_KEY: must be its own secret, not JWT_SECRET or "
                            "LARAVEL_INTERNAL_KEY")
        if self.NODE_ENV == "production":
            if not self.DJANGO_SECRET_KEY or len(self.DJANGO_SECRET_KEY) < 32:
                problems.append("DJANGO_SECRET_KEY: is required (at least 32 characters) when "
                                "NODE_ENV=production")
            if self.FLYLIVE_TEST_EVENTS:
                problems.append("FLYLIVE_TEST_EVENTS: test-only events cannot be enabled when "
                                "NODE_ENV=production")
        if problems:
            raise ValueError("\n  ".join(problems))
        return self

    @property
    def django_secret_key(self) -> str:
        """Django's signing key: DJANGO_SECRET_KEY, else (development and test only, see
        `_production_rules`) a fixed value that signs nothing of ours."""
        return self.DJANGO_SECRET_KEY or DEVELOPMENT_SECRET_KEY

    @property
    def redis_url(self) -> str:
        scheme = "rediss" if self.REDIS_TLS else "redis"
        auth = ""
        if self.REDIS_PASSWORD:
            auth = f"{self.REDIS_USERNAME or ''}:{self.REDIS_PASSWORD}@"
        return f"{scheme}://{auth}{self.REDIS_HOST}:{self.REDIS_PORT}/{self.REDIS_DB}"

    @property
    def redis_cluster(self) -> bool:
        """Whether the server's state lives on a Redis Cluster (REDIS_CLUSTER_NODES)."""
        return bool(self.REDIS_CLUSTER_NODES)

    @property
    def redis_sentinel(self) -> bool:
        """Whether Redis is found through Sentinel (REDIS_SENTINEL_NODES) rather than REDIS_HOST."""
        return bool(self.REDIS_SENTINEL_NODES)

    @property
    def tls_enabled(self) -> bool:
        return bool(self.SSL_KEY_PATH and self.SSL_CERT_PATH)


class ConfigError(SystemExit):
    """Start-up stops with a message naming each missing or invalid variable."""


def load_config() -> AppConfig:
    try:
        return AppConfig()
    except ValidationError as exc:
        lines = []
        for error in exc.errors():
            reason = "is required" if error["type"] == "missing" else error["msg"]
            if error["loc"]:
                lines.append(f"  {'.'.join(str(part) for part in error['loc'])}: {reason}")
            else:  # a rule across variables: its message names them
                lines.append("  " + reason.removeprefix("Value error, "))
        raise ConfigError("Invalid configuration:\n" + "\n".join(lines)) from None


class _NodeEnv(BaseSettings):
    """Only NODE_ENV, from the same sources as AppConfig, before the whole config can be checked."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    NODE_ENV: str = "development"


def default_settings_module() -> str:
    """The Django settings module NODE_ENV calls for (entry points use it unless
    DJANGO_SETTINGS_MODULE is set): production -> prod, test -> test, else dev. An invalid
    NODE_ENV picks dev, whose config check then names it."""
    return SETTINGS_MODULES.get(_NodeEnv().NODE_ENV, SETTINGS_MODULES["development"])


def refuse_in_production(config: AppConfig, settings_module: str) -> None:
    """Development and test settings stop start-up under NODE_ENV=production."""
    if config.NODE_ENV == "production":
        raise ConfigError(
            f"Invalid configuration:\n  DJANGO_SETTINGS_MODULE: {settings_module} cannot run with "
            f"NODE_ENV=production (unset it to follow NODE_ENV, or use {SETTINGS_MODULES['production']})")


@lru_cache(maxsize=1)
def get_config() -> AppConfig:
    return load_config()

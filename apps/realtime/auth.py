"""The Socket.IO handshake check (contract 1.2-1.5): Origin, token, JWT, claims, revocation.

Outcomes are the contract's four `connect_error` texts, each counted in
`flylive_auth_attempts_total{result}`; a Redis failure during the revocation
lookup refuses the socket (fail closed) and is counted as `redis_error`.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from apps.realtime.claims import UserClaims
from apps.realtime.tokens import InvalidToken, revocation_key, verify_token
from flylive.config import AppConfig
from flylive.metrics import AUTH_ATTEMPTS
from flylive.redis_batch import auto_pipeline
from flylive.redis_types import AsyncRedis

logger = logging.getLogger(__name__)

ORIGIN_NOT_ALLOWED = "Origin not allowed"
AUTHENTICATION_REQUIRED = "Authentication required"
INVALID_CREDENTIALS = "Invalid credentials"
AUTHENTICATION_FAILED = "Authentication failed"

_BEARER_PREFIX = re.compile(r"^Bearer\s+", re.IGNORECASE)


class HandshakeRejected(Exception):
    def __init__(self, message: str, result: str) -> None:
        super().__init__(message)
        self.message = message  # sent to the client as connect_error's `message`
        self.result = result  # the metric label


@dataclass(frozen=True)
class Handshake:
    origin: str | None  # the Origin header, if any
    authorization: str | None  # the Authorization header, if any
    auth: Any  # the CONNECT packet's data (socket.io-client's `auth` option)

    @classmethod
    def from_scope(cls, scope: dict[str, Any], auth: Any) -> Handshake:
        headers: dict[bytes, bytes] = {}
        for name, value in scope.get("headers", ()):
            headers.setdefault(bytes(name).lower(), bytes(value))
        origin = headers.get(b"origin")
        authorization = headers.get(b"authorization")
        return cls(
            origin=origin.decode("latin-1") if origin is not None else None,
            authorization=authorization.decode("latin-1") if authorization is not None else None,
            auth=auth,
        )


def _js_truthy(value: Any) -> bool:
    if value is None or value is False or value == "":
        return False
    if isinstance(value, int | float) and not isinstance(value, bool):
        return value == value and value != 0  # NaN and 0 are falsy
    return True


async def authenticate(handshake: Handshake, *, config: AppConfig, redis: AsyncRedis) -> dict[str, Any]:
    """The socket's user (the 16 claims), or HandshakeRejected with the contract's text."""
    try:
        user = await _authenticate(handshake, config, redis)
    except HandshakeRejected as rejected:
        AUTH_ATTEMPTS.labels(result=rejected.result).inc()
        raise
    except Exception:
        logger.exception("unexpected failure while authenticating a socket")
        AUTH_ATTEMPTS.labels(result="error").inc()
        raise HandshakeRejected(AUTHENTICATION_FAILED, "error") from None
    AUTH_ATTEMPTS.labels(result="success").inc()
    return user


async def _authenticate(handshake: Handshake, config: AppConfig, redis: AsyncRedis) -> dict[str, Any]:
    if handshake.origin is not None and handshake.origin not in config.CORS_ORIGINS:
        raise HandshakeRejected(ORIGIN_NOT_ALLOWED, "origin_blocked")

    auth_token = handshake.auth.get("token") if isinstance(handshake.auth, dict) else None
    token: Any = auth_token if _js_truthy(auth_token) else handshake.authorization
    if not _js_truthy(token):
        raise HandshakeRejected(AUTHENTICATION_REQUIRED, "no_token")
    if not isinstance(token, str):  # the baseline crashes here; we refuse
        raise HandshakeRejected(INVALID_CREDENTIALS, "invalid_token")
    token = _BEARER_PREFIX.sub("", token, count=1)

    try:
        payload = verify_token(token, config.JWT_SECRET, max_age_seconds=config.JWT_MAX_AGE_SECONDS)
        claims = UserClaims.model_validate(payload)
    except (InvalidToken, ValidationError):
        raise HandshakeRejected(INVALID_CREDENTIALS, "invalid_token") from None

    try:
        # Through the loop's auto-pipeline: a burst of handshakes shares round trips.
        revoked = await auto_pipeline(redis).command("EXISTS", revocation_key(token))
    except Exception as exc:  # fail closed: no answer means revoked
        logger.warning("revocation lookup failed, refusing the socket: %r", exc)
        raise HandshakeRejected(INVALID_CREDENTIALS, "redis_error") from None
    if revoked:
        raise HandshakeRejected(INVALID_CREDENTIALS, "invalid_token")
    return claims.as_user()

"""FlyLive JWT verification (contract 1.3), with PyJWT's HMAC primitives.

The algorithm is pinned by us, not chosen by the token: the header must be a JSON
object declaring `"alg": "HS256"` (what Laravel mints), and the signature is
checked as HMAC-SHA256 over `part0.part1` with JWT_SECRET. `alg: none`, any other
algorithm and a header that is not a JSON object are refused. Nothing else in the
header is read: `kid`, `typ`, `cty` and any other member may hold any JSON value
(PyJWT's `get_unverified_header` refuses e.g. a numeric `kid`, so the header is
parsed here). (The baseline never parsed the header and only checked the MAC;
tightening it to `alg` breaks no genuine token.) We do not use `jwt.decode()`
because the contract's expiry rules differ from PyJWT's.

Expiry follows the contract, not PyJWT: `exp < now` is expired (`exp == now`
passes); without a numeric `exp`, a numeric `iat` older than JWT_MAX_AGE_SECONDS
is expired; with neither, the token never expires. nbf/iss/aud/sub/jti are not
checked.
"""

from __future__ import annotations

import binascii
import hashlib
import math
import time
from typing import Any

from jwt.algorithms import HMACAlgorithm
from jwt.utils import base64url_decode

from apps.realtime.codec import loads

_HS256 = HMACAlgorithm(HMACAlgorithm.SHA256)


class InvalidToken(Exception):
    """Malformed, forged or expired: the handshake answers `Invalid credentials`."""


def _number(value: Any) -> float | None:
    """`value` if JavaScript's typeof would say "number", else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        try:
            return float(value)
        except OverflowError:  # beyond a double: JSON.parse makes it +-Infinity
            return math.inf if value > 0 else -math.inf
    if isinstance(value, float):
        return value
    return None


def _b64url(part: str) -> bytes:
    try:
        return base64url_decode(part)
    except (binascii.Error, ValueError) as exc:
        raise InvalidToken("bad base64url") from exc


def header_algorithm(header_b64: str) -> object:
    """The header's `alg` member (None when absent); InvalidToken unless the header is a JSON object."""
    try:
        header = loads(_b64url(header_b64))
    except ValueError as exc:
        raise InvalidToken("header is not JSON") from exc
    if not isinstance(header, dict):
        raise InvalidToken("header is not an object")
    return header.get("alg")


def verify_token(token: str, secret: str, *, max_age_seconds: int, now: int | None = None) -> Any:
    """The decoded payload of a valid token (any JSON value; the claims model checks its shape).

    Raises InvalidToken for a bad shape, signature or JSON, or when expired."""
    parts = token.split(".")
    if len(parts) != 3:
        raise InvalidToken("not three parts")
    header_b64, payload_b64, signature_b64 = parts
    if header_algorithm(header_b64) != "HS256":
        raise InvalidToken("algorithm is not HS256")
    try:
        signing_input = f"{header_b64}.{payload_b64}".encode()  # Node's hmac.update(string): UTF-8
    except UnicodeEncodeError as exc:  # lone surrogates
        raise InvalidToken("not encodable") from exc
    signature = _b64url(signature_b64)
    key = _HS256.prepare_key(secret)
    # HMACAlgorithm.verify compares in constant time; a wrong length simply never matches.
    if not _HS256.verify(signing_input, key, signature):
        raise InvalidToken("bad signature")
    try:
        payload = loads(_b64url(payload_b64))
    except ValueError as exc:
        raise InvalidToken("payload is not JSON") from exc

    if isinstance(payload, dict):
        current = math.floor(time.time()) if now is None else now
        exp, iat = _number(payload.get("exp")), _number(payload.get("iat"))
        if exp is not None:
            if exp < current:
                raise InvalidToken("expired")
        elif iat is not None and iat + max_age_seconds < current:
            raise InvalidToken("too old")
    return payload


def revocation_key(token: str) -> str:
    """`auth:revoked:<sha256 hex>`: written by Laravel for a revoked token (contract 1.5)."""
    return "auth:revoked:" + hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()

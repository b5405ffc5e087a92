"""JWT verification and claims (contract 1.3, 1.4): the baseline's rules, not PyJWT's."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json

import pytest
from pydantic import ValidationError

from apps.realtime.claims import UserClaims, js_string
from apps.realtime.tokens import InvalidToken, revocation_key, verify_token
from tests.support.server import make_token, user_claims

SECRET = "unit-test-secret-unit-test-secret-0123"
NOW = 1_800_000_000


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def hs256_token(header: dict[str, object] | str, payload: object, secret: str = SECRET) -> str:
    head = b64(json.dumps(header).encode()) if isinstance(header, dict) else header
    body = b64(json.dumps(payload).encode())
    mac = hmac.new(secret.encode(), f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{b64(mac)}"


def verify(token: str, now: int = NOW) -> object:
    return verify_token(token, SECRET, max_age_seconds=86400, now=now)


def test_valid_token_returns_its_payload() -> None:
    token = make_token(user_claims(7, iat=NOW, exp=NOW + 10), SECRET)
    payload = verify(token)
    assert isinstance(payload, dict)
    assert payload["id"] == 7


def test_token_expiring_this_second_still_passes() -> None:
    assert verify(make_token(user_claims(exp=NOW), SECRET))


def test_expired_token_is_invalid() -> None:
    with pytest.raises(InvalidToken):
        verify(make_token(user_claims(exp=NOW - 1), SECRET))


def test_without_exp_an_iat_older_than_max_age_is_invalid() -> None:
    with pytest.raises(InvalidToken):
        verify(make_token(user_claims(), SECRET, iat=NOW - 86401, exp=...))
    assert verify(make_token(user_claims(), SECRET, iat=NOW - 86400, exp=...))


def test_non_numeric_exp_falls_back_to_iat() -> None:
    with pytest.raises(InvalidToken):
        verify(make_token(user_claims(iat=NOW - 90000, exp="never"), SECRET))


def test_token_without_exp_or_iat_never_expires() -> None:
    assert verify(make_token(user_claims(), SECRET, iat=..., exp=...), now=4_000_000_000)


def test_wrong_secret_is_invalid() -> None:
    with pytest.raises(InvalidToken):
        verify(make_token(user_claims(), "another-secret-another-secret-012345"))


def test_forged_alg_none_token_is_invalid() -> None:
    header = b64(json.dumps({"alg": "none", "typ": "JWT"}).encode())
    body = b64(json.dumps(user_claims()).encode())
    for signature in ("", "c2lnbmF0dXJl"):
        with pytest.raises(InvalidToken):
            verify(f"{header}.{body}.{signature}")


def test_other_algorithms_are_invalid() -> None:
    header = b64(json.dumps({"alg": "HS512", "typ": "JWT"}).encode())
    body = b64(json.dumps(user_claims()).encode())
    mac512 = hmac.new(SECRET.encode(), f"{header}.{body}".encode(), hashlib.sha512).digest()
    with pytest.raises(InvalidToken):
        verify(f"{header}.{body}.{b64(mac512)}")
    with pytest.raises(InvalidToken):
        verify(f"{header}.{body}.{b64(b'x' * 256)}")  # an RS256-sized signature


@pytest.mark.parametrize("header", [{"alg": "none"}, {"alg": "hs256"}, {"typ": "JWT"}, {"alg": "RS256"}])
def test_only_an_hs256_header_is_accepted_even_with_a_valid_mac(header: dict[str, object]) -> None:
    """Decision (tokens.py): HS256 is pinned; our MAC under another declared algorithm is refused."""
    claims = user_claims(iat=NOW, exp=NOW + 60)
    assert verify(hs256_token({"alg": "HS256", "typ": "JWT"}, claims))
    with pytest.raises(InvalidToken):
        verify(hs256_token(header, claims))


def test_a_header_that_is_not_a_json_object_is_invalid() -> None:
    with pytest.raises(InvalidToken):
        verify(hs256_token("not-even-json", user_claims(iat=NOW)))
    with pytest.raises(InvalidToken):
        verify(hs256_token(b64(b"[1,2]"), user_claims(iat=NOW)))


@pytest.mark.parametrize("token", ["", "a.b", "a.b.c.d", "abc", "a.!!!.c"])
def test_malformed_tokens_are_invalid(token: str) -> None:
    with pytest.raises(InvalidToken):
        verify(token)


def test_payload_that_is_not_json_is_invalid() -> None:
    head = b64(b'{"alg":"HS256"}')
    body = b64(b"not json")
    mac = hmac.new(SECRET.encode(), f"{head}.{body}".encode(), hashlib.sha256).digest()
    with pytest.raises(InvalidToken):
        verify(f"{head}.{body}.{b64(mac)}")


def test_null_payload_is_returned_and_refused_by_the_claims_model() -> None:
    payload = verify(hs256_token({"alg": "HS256"}, None))
    assert payload is None
    with pytest.raises(ValidationError):
        UserClaims.model_validate(payload)


def test_revocation_key_is_sha256_hex_of_the_token() -> None:
    assert revocation_key("abc") == (
        "auth:revoked:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    )


# --- claims ---


def test_claims_keep_exactly_the_sixteen_keys_in_order() -> None:
    user = UserClaims.model_validate(user_claims(9, extra="dropped")).as_user()
    assert list(user) == [
        "id",
        "name",
        "signature",
        "email",
        "avatar",
        "frame",
        "gender",
        "date_of_birth",
        "phone",
        "country",
        "coins",
        "diamonds",
        "wealth_xp",
        "charm_xp",
        "is_blocked",
        "isSpeaker",
    ]


@pytest.mark.parametrize(
    ("gender", "expected"),
    [
        (1, "1"),
        (None, "null"),
        ("male", "male"),
        (True, "true"),
        (1.5, "1.5"),
        (2.0, "2"),
        ([1, None, "x"], "1,,x"),
        ({"a": 1}, "[object Object]"),
    ],
)
def test_gender_is_coerced_like_javascript_string(gender: object, expected: str) -> None:
    assert UserClaims.model_validate(user_claims(gender=gender)).gender == expected


def test_missing_gender_becomes_undefined() -> None:
    claims = user_claims()
    del claims["gender"]
    assert UserClaims.model_validate(claims).gender == "undefined"


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("id", "42"),
        ("id", True),
        ("email", None),
        ("coins", 100),
        ("is_blocked", "false"),
        ("name", None),
    ],
)
def test_wrongly_typed_claims_are_refused(key: str, value: object) -> None:
    with pytest.raises(ValidationError):
        UserClaims.model_validate({**user_claims(), key: value})


def test_missing_required_claim_is_refused() -> None:
    claims = user_claims()
    del claims["isSpeaker"]
    with pytest.raises(ValidationError):
        UserClaims.model_validate(claims)


def test_js_string_of_numbers() -> None:
    assert js_string(42) == "42"
    assert js_string(42.0) == "42"
    assert js_string(1e21) == "1e+21"
    assert js_string(0.000001) == "0.000001"
    assert js_string(1.5e-7) == "1.5e-7"

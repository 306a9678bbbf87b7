"""Access tokens (JWT) and opaque secrets."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import pytest

from hub.adapters.security.tokens import (
    ALGORITHM,
    CLOCK_LEEWAY_SECONDS,
    DEVICE_PREFIX,
    ISSUER,
    REFRESH_PREFIX,
    AccessClaims,
    AccessTokens,
    digest,
    new_secret,
)
from hub.domain.errors import AuthenticationFailed
from protocol.errors import ErrorCode

SECRET = "unit-test-secret-" + "s" * 40
OTHER_SECRET = "another-unit-test-secret-" + "o" * 40
TTL = 900


def _now() -> datetime:
    """Whole seconds, since JWT timestamps are whole seconds."""
    return datetime.now(UTC).replace(microsecond=0)


@pytest.fixture
def tokens() -> AccessTokens:
    return AccessTokens(SECRET, TTL)


def _issue(tokens: AccessTokens, **overrides: Any) -> tuple[str, datetime, dict[str, Any]]:
    values: dict[str, Any] = {
        "user_id": uuid.uuid4(),
        "tenant_id": uuid.uuid4(),
        "role": "manager",
        "shops": [uuid.uuid4(), uuid.uuid4()],
        "session_id": uuid.uuid4(),
        "auth_version": 3,
        "now": _now(),
    }
    values.update(overrides)
    token, expires = tokens.issue(**values)
    return token, expires, values


def _payload(**overrides: Any) -> dict[str, Any]:
    now = _now()
    payload: dict[str, Any] = {
        "iss": ISSUER,
        "typ": "access",
        "sub": str(uuid.uuid4()),
        "user_id": str(uuid.uuid4()),
        "tenant_id": str(uuid.uuid4()),
        "role": "cashier",
        "shops": [str(uuid.uuid4())],
        "sid": str(uuid.uuid4()),
        "ver": 1,
        "iat": int(now.timestamp()),
        "exp": int((now + timedelta(seconds=TTL)).timestamp()),
    }
    payload.update(overrides)
    return {k: v for k, v in payload.items() if v is not _DROP}


_DROP = object()


def _expect(tokens: AccessTokens, token: str, code: ErrorCode) -> AuthenticationFailed:
    with pytest.raises(AuthenticationFailed) as info:
        tokens.decode(token)
    assert info.value.code is code
    return info.value


# ---------------------------------------------------------------- round trip


def test_round_trip_keeps_every_claim(tokens: AccessTokens) -> None:
    token, expires, values = _issue(tokens)
    claims = tokens.decode(token)
    assert isinstance(claims, AccessClaims)
    assert claims.user_id == values["user_id"]
    assert claims.tenant_id == values["tenant_id"]
    assert claims.role == "manager"
    assert set(claims.shops) == set(values["shops"])
    assert claims.session_id == values["session_id"]
    assert claims.auth_version == 3
    assert claims.expires_at == values["now"] + timedelta(seconds=TTL)
    assert claims.expires_at == expires
    assert claims.expires_at.tzinfo is not None
    assert all(isinstance(s, uuid.UUID) for s in claims.shops)


def test_shops_come_back_sorted(tokens: AccessTokens) -> None:
    shops = [uuid.uuid4() for _ in range(5)]
    token, _, _ = _issue(tokens, shops=shops)
    assert list(tokens.decode(token).shops) == sorted(shops, key=str)


def test_no_shops(tokens: AccessTokens) -> None:
    token, _, _ = _issue(tokens, shops=[], role="owner")
    claims = tokens.decode(token)
    assert claims.shops == ()
    assert claims.role == "owner"


def test_payload_is_what_the_docs_promise(tokens: AccessTokens) -> None:
    token, _, values = _issue(tokens)
    header = jwt.get_unverified_header(token)
    assert header["alg"] == ALGORITHM == "HS256"
    payload = jwt.decode(token, SECRET, algorithms=[ALGORITHM], issuer=ISSUER)
    assert payload["iss"] == ISSUER
    assert payload["typ"] == "access"
    assert payload["sub"] == payload["user_id"] == str(values["user_id"])
    assert payload["iat"] == int(values["now"].timestamp())
    assert payload["exp"] - payload["iat"] == TTL


def test_default_now_is_the_current_time(tokens: AccessTokens) -> None:
    before = datetime.now(UTC)
    token, expires = tokens.issue(
        user_id=uuid.uuid4(),
        tenant_id=uuid.uuid4(),
        role="cashier",
        shops=[],
        session_id=uuid.uuid4(),
        auth_version=0,
    )
    after = datetime.now(UTC)
    assert before.replace(microsecond=0) + tokens.ttl <= expires <= after + tokens.ttl
    claims = tokens.decode(token)
    # the token carries whole seconds, and the caller is told exactly that
    assert claims.expires_at == expires


def test_ttl_is_a_timedelta() -> None:
    assert AccessTokens(SECRET, 60).ttl == timedelta(seconds=60)


# ---------------------------------------------------------------- rejection


def test_expired_token(tokens: AccessTokens) -> None:
    token, _, _ = _issue(tokens, now=_now() - timedelta(seconds=TTL + CLOCK_LEEWAY_SECONDS + 5))
    error = _expect(tokens, token, ErrorCode.TOKEN_EXPIRED)
    assert error.message == "access token expired"


def test_expired_token_signed_with_another_secret_is_invalid_not_expired(
    tokens: AccessTokens,
) -> None:
    other = AccessTokens(OTHER_SECRET, TTL)
    token, _, _ = _issue(other, now=_now() - timedelta(seconds=TTL + CLOCK_LEEWAY_SECONDS + 5))
    _expect(tokens, token, ErrorCode.TOKEN_INVALID)


def test_wrong_secret(tokens: AccessTokens) -> None:
    token, _, _ = _issue(AccessTokens(OTHER_SECRET, TTL))
    error = _expect(tokens, token, ErrorCode.TOKEN_INVALID)
    assert error.message == "invalid access token"


def _b64(data: dict[str, Any]) -> str:
    raw = json.dumps(data, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def test_tampered_payload(tokens: AccessTokens) -> None:
    token, _, _ = _issue(tokens, role="cashier")
    header, body, signature = token.split(".")
    payload = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    payload["role"] = "owner"
    forged = ".".join([header, _b64(payload), signature])
    _expect(tokens, forged, ErrorCode.TOKEN_INVALID)


def test_tampered_signature(tokens: AccessTokens) -> None:
    token, _, _ = _issue(tokens)
    header, body, signature = token.split(".")
    flipped = ("A" if signature[0] != "A" else "B") + signature[1:]
    _expect(tokens, ".".join([header, body, flipped]), ErrorCode.TOKEN_INVALID)


def test_unsigned_alg_none_token(tokens: AccessTokens) -> None:
    forged = jwt.encode(_payload(), None, algorithm="none")
    _expect(tokens, forged, ErrorCode.TOKEN_INVALID)


@pytest.mark.parametrize(
    "garbage",
    ["", "garbage", "a.b.c", "Bearer x", "...", "eyJhbGciOiJIUzI1NiJ9.e30", "\x00\xff"],
)
def test_garbage(tokens: AccessTokens, garbage: str) -> None:
    _expect(tokens, garbage, ErrorCode.TOKEN_INVALID)


def test_opaque_refresh_token_is_not_an_access_token(tokens: AccessTokens) -> None:
    _expect(tokens, new_secret(REFRESH_PREFIX), ErrorCode.TOKEN_INVALID)
    _expect(tokens, new_secret(DEVICE_PREFIX), ErrorCode.TOKEN_INVALID)


@pytest.mark.parametrize("typ", ["refresh", "device", "", None, _DROP])
def test_signed_token_of_another_type(tokens: AccessTokens, typ: object) -> None:
    token = jwt.encode(_payload(typ=typ), SECRET, algorithm=ALGORITHM)
    _expect(tokens, token, ErrorCode.TOKEN_INVALID)


@pytest.mark.parametrize(
    "claim", ["user_id", "tenant_id", "role", "shops", "sid", "ver", "exp", "iat", "sub", "iss"]
)
def test_missing_claim(tokens: AccessTokens, claim: str) -> None:
    token = jwt.encode(_payload(**{claim: _DROP}), SECRET, algorithm=ALGORITHM)
    _expect(tokens, token, ErrorCode.TOKEN_INVALID)


@pytest.mark.parametrize(
    "overrides",
    [
        {"iss": "someone-else"},
        {"user_id": "not-a-uuid"},
        {"tenant_id": "42"},
        {"sid": None},
        {"shops": ["not-a-uuid"]},
        {"shops": None},
        {"shops": 7},
        {"ver": "seven"},
        {"ver": None},
        {"iat": int((_now() + timedelta(hours=1)).timestamp())},
    ],
    ids=lambda o: f"{next(iter(o))}={next(iter(o.values()))!r}"[:30],
)
def test_malformed_claim(tokens: AccessTokens, overrides: dict[str, Any]) -> None:
    token = jwt.encode(_payload(**overrides), SECRET, algorithm=ALGORITHM)
    _expect(tokens, token, ErrorCode.TOKEN_INVALID)


@pytest.mark.parametrize(
    "overrides",
    [
        pytest.param({"tenant_id": 42}, id="tenant_id-int"),
        pytest.param({"user_id": 7}, id="user_id-int"),
        pytest.param({"shops": [1]}, id="shops-int"),
        pytest.param({"sid": ["x"]}, id="sid-list"),
    ],
)
def test_non_string_id_claim(tokens: AccessTokens, overrides: dict[str, Any]) -> None:
    token = jwt.encode(_payload(**overrides), SECRET, algorithm=ALGORITHM)
    _expect(tokens, token, ErrorCode.TOKEN_INVALID)


def test_hand_made_valid_token_is_accepted(tokens: AccessTokens) -> None:
    """Guards the malformed-claim tests: the untouched payload does decode."""
    payload = _payload()
    claims = tokens.decode(jwt.encode(payload, SECRET, algorithm=ALGORITHM))
    assert str(claims.user_id) == payload["user_id"]
    assert claims.role == "cashier"


# ---------------------------------------------------------------- opaque secrets


def test_digest_is_sha256_hex() -> None:
    assert digest("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    token = new_secret(REFRESH_PREFIX)
    assert digest(token) == hashlib.sha256(token.encode()).hexdigest()
    assert re.fullmatch(r"[0-9a-f]{64}", digest(token))
    assert digest(token) == digest(token)
    assert digest(token) != digest(token + "x")
    assert digest("пароль") == hashlib.sha256("пароль".encode()).hexdigest()


@pytest.mark.parametrize("prefix", [REFRESH_PREFIX, DEVICE_PREFIX])
def test_new_secret_has_prefix_and_is_unique(prefix: str) -> None:
    made = [new_secret(prefix) for _ in range(1000)]
    assert len(set(made)) == len(made)
    for secret in made:
        assert secret.startswith(prefix)
        rest = secret[len(prefix) :]
        assert re.fullmatch(r"[A-Za-z0-9_-]{43}", rest)  # 32 random bytes, URL-safe


def test_prefixes_differ() -> None:
    assert REFRESH_PREFIX == "rt_"
    assert DEVICE_PREFIX == "dt_"


def test_small_clock_drift_is_tolerated(tokens: AccessTokens) -> None:
    # Expired a few seconds ago by this host's clock: within the leeway for drift.
    token, _, _ = _issue(tokens, now=_now() - timedelta(seconds=TTL + CLOCK_LEEWAY_SECONDS - 3))
    assert tokens.decode(token).role == "manager"

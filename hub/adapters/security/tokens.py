"""Access tokens (JWT, HS256) and opaque secrets (refresh and device tokens).

Refresh and device tokens are random strings; only their SHA-256 is stored, so a leaked
database does not leak usable credentials.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import jwt

from hub.domain.errors import AuthenticationFailed
from protocol.errors import ErrorCode

ISSUER = "pos-hub"
ALGORITHM = "HS256"
REFRESH_PREFIX = "rt_"
DEVICE_PREFIX = "dt_"
CLOCK_LEEWAY_SECONDS = 10


@dataclass(frozen=True)
class AccessClaims:
    user_id: uuid.UUID
    tenant_id: uuid.UUID
    role: str
    shops: tuple[uuid.UUID, ...]
    session_id: uuid.UUID
    auth_version: int
    expires_at: datetime


class AccessTokens:
    def __init__(self, secret: str, ttl_seconds: int) -> None:
        self._secret = secret
        self.ttl = timedelta(seconds=ttl_seconds)

    def issue(
        self,
        *,
        user_id: uuid.UUID,
        tenant_id: uuid.UUID,
        role: str,
        shops: list[uuid.UUID],
        session_id: uuid.UUID,
        auth_version: int,
        now: datetime | None = None,
    ) -> tuple[str, datetime]:
        # Whole seconds: what the JWT carries is what the caller is told.
        issued = (now or datetime.now(UTC)).replace(microsecond=0)
        expires = issued + self.ttl
        payload = {
            "iss": ISSUER,
            "typ": "access",
            "sub": str(user_id),
            "user_id": str(user_id),
            "tenant_id": str(tenant_id),
            "role": role,
            "shops": sorted(str(s) for s in shops),
            "sid": str(session_id),
            "ver": auth_version,
            "iat": int(issued.timestamp()),
            "exp": int(expires.timestamp()),
        }
        return jwt.encode(payload, self._secret, algorithm=ALGORITHM), expires

    def decode(self, token: str) -> AccessClaims:
        try:
            payload = jwt.decode(
                token,
                self._secret,
                algorithms=[ALGORITHM],
                issuer=ISSUER,
                # Tolerates small clock drift between hub hosts.
                leeway=CLOCK_LEEWAY_SECONDS,
                options={"require": ["exp", "iat", "sub", "iss"]},
            )
        except jwt.ExpiredSignatureError as exc:
            raise AuthenticationFailed(
                "access token expired", code=ErrorCode.TOKEN_EXPIRED
            ) from exc
        except jwt.PyJWTError as exc:
            raise AuthenticationFailed(
                "invalid access token", code=ErrorCode.TOKEN_INVALID
            ) from exc
        try:
            if payload.get("typ") != "access":
                raise ValueError("not an access token")
            return AccessClaims(
                user_id=uuid.UUID(payload["user_id"]),
                tenant_id=uuid.UUID(payload["tenant_id"]),
                role=str(payload["role"]),
                shops=tuple(uuid.UUID(s) for s in payload["shops"]),
                session_id=uuid.UUID(payload["sid"]),
                auth_version=int(payload["ver"]),
                expires_at=datetime.fromtimestamp(payload["exp"], UTC),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise AuthenticationFailed(
                "invalid access token", code=ErrorCode.TOKEN_INVALID
            ) from exc


def new_secret(prefix: str) -> str:
    return prefix + secrets.token_urlsafe(32)


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, EmailStr, Field, SecretStr

from hub.web.schemas.common import In


class RegisterIn(In):
    tenant_name: str = Field(min_length=1, max_length=200)
    username: str = Field(min_length=3, max_length=150)
    password: str = Field(min_length=1, max_length=128)
    email: EmailStr | None = None
    shop_name: str = Field(min_length=1, max_length=200)
    full_name: str = Field(default="", max_length=200)
    timezone: str | None = Field(
        default=None,
        max_length=64,
        description="IANA zone of the business and its first shop; default Europe/Moscow",
    )


class Ref(BaseModel):
    id: uuid.UUID
    name: str


class UserRef(BaseModel):
    id: uuid.UUID
    username: str
    role: str
    shops: list[uuid.UUID]


class TokensOut(BaseModel):
    access: str
    refresh: str
    token_type: Literal["Bearer"] = "Bearer"
    expires_in: int = Field(description="seconds until the access token expires")
    refresh_expires_at: datetime


class RegisterOut(TokensOut):
    tenant: Ref
    user: UserRef
    shop: Ref


class LoginIn(In):
    username: str = Field(min_length=1, max_length=150)
    password: str = Field(min_length=1, max_length=128)


class LoginOut(TokensOut):
    user: UserRef


class RefreshIn(In):
    refresh: str = Field(min_length=1, max_length=200)


class LogoutIn(In):
    refresh: str | None = Field(default=None, max_length=200)


class PasswordChangeIn(In):
    old_password: str = Field(min_length=1, max_length=128)
    new_password: str = Field(min_length=1, max_length=128)


class PinIn(In):
    password: str = Field(min_length=1, max_length=128, description="your current password")
    pin: SecretStr | None = Field(max_length=100, description="4 to 8 digits; null clears your PIN")


class PinOut(BaseModel):
    has_pin: bool


class MeOut(BaseModel):
    kind: Literal["user", "device"]
    tenant: uuid.UUID
    shops: list[uuid.UUID]
    user: uuid.UUID | None = None
    username: str | None = None
    role: str | None = None
    permissions: list[str] = Field(default_factory=list)
    has_pin: bool | None = Field(default=None, description="a staff user's: a PIN is set")
    device: uuid.UUID | None = None

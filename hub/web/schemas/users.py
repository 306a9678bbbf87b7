from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, EmailStr, Field

from hub.domain.permissions import Role
from hub.services.users import StaffMember
from hub.web.schemas.common import In, PageQuery


class UserOut(BaseModel):
    id: uuid.UUID
    username: str
    email: str
    full_name: str
    role: Role
    shops: list[uuid.UUID]
    is_active: bool
    created_at: datetime
    last_login_at: datetime | None

    @classmethod
    def of(cls, member: StaffMember) -> UserOut:
        u = member.user
        return cls(
            id=u.id,
            username=u.username,
            email=u.email,
            full_name=u.full_name,
            role=Role(u.role),
            shops=member.shop_ids,
            is_active=u.is_active,
            created_at=u.created_at,
            last_login_at=u.last_login_at,
        )


class UserCreateIn(In):
    username: str = Field(min_length=3, max_length=150)
    password: str = Field(min_length=1, max_length=128)
    role: Role
    shops: list[uuid.UUID] = Field(default_factory=list, max_length=1000)
    email: EmailStr | None = None
    full_name: str = Field(default="", max_length=200)


class UserUpdateIn(In):
    role: Role | None = None
    shops: list[uuid.UUID] | None = Field(default=None, max_length=1000)
    email: EmailStr | None = None
    full_name: str | None = Field(default=None, max_length=200)
    is_active: bool | None = None


class SetPasswordIn(In):
    password: str = Field(min_length=1, max_length=128)


class UserQuery(PageQuery):
    role: Role | None = None
    is_active: bool | None = None
    shop: uuid.UUID | None = None
    search: str | None = Field(default=None, max_length=100)

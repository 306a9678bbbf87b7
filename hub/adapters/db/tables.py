"""Tables, and the Alembic targets.

Two metadata sets:
- `shared_metadata` lives in the `pos_shared` schema (PostgreSQL) or the attached
  `pos_shared` file (SQLite): tenants, logins, sessions, device tokens.
- `tenant_metadata` has no schema; each tenant's engine maps it to that tenant's schema
  (PostgreSQL) or its own database file (SQLite), so a tenant query cannot name
  another tenant's tables.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Uuid,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from hub.adapters.db.types import JsonDocument, UtcDateTime, utcnow
from hub.domain.ids import new_id

SHARED_SCHEMA = "pos_shared"

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

shared_metadata = MetaData(schema=SHARED_SCHEMA, naming_convention=NAMING)
tenant_metadata = MetaData(naming_convention=NAMING)


class SharedBase(DeclarativeBase):
    metadata = shared_metadata
    type_annotation_map = {datetime: UtcDateTime, uuid.UUID: Uuid}


class TenantBase(DeclarativeBase):
    metadata = tenant_metadata
    type_annotation_map = {datetime: UtcDateTime, uuid.UUID: Uuid}


# --- shared schema -------------------------------------------------------------------


class Tenant(SharedBase):
    __tablename__ = "tenants"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(200))
    schema_name: Mapped[str] = mapped_column(String(63), unique=True)
    # The PostgreSQL cluster holding the tenant's schema (Settings.clusters).
    cluster: Mapped[str] = mapped_column(String(31), default="main", server_default="main")
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class User(SharedBase):
    """A login. Shared because login names are global; every query is tenant-filtered."""

    __tablename__ = "users"
    __table_args__ = (Index(None, "tenant_id", "role"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey(Tenant.id, ondelete="CASCADE"))
    username: Mapped[str] = mapped_column(String(150))
    username_key: Mapped[str] = mapped_column(String(150), unique=True)
    email: Mapped[str] = mapped_column(String(254), default="")
    full_name: Mapped[str] = mapped_column(String(200), default="")
    password_hash: Mapped[str] = mapped_column(String(255))
    # A manager's short PIN, typed at a till to approve what a cashier may not do alone.
    pin_hash: Mapped[str | None] = mapped_column(String(255), default=None)
    role: Mapped[str] = mapped_column(String(20))
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    # Bumped when role, shops, password or activity change: older access tokens go stale.
    auth_version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(default=None)


class AuthSession(SharedBase):
    """One login on one device: the family of rotating refresh tokens."""

    __tablename__ = "auth_sessions"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey(Tenant.id, ondelete="CASCADE"))
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey(User.id, ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)
    revoked_reason: Mapped[str] = mapped_column(String(40), default="")
    user_agent: Mapped[str] = mapped_column(String(300), default="")
    client_ip: Mapped[str] = mapped_column(String(64), default="")


class RefreshToken(SharedBase):
    __tablename__ = "refresh_tokens"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    session_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey(AuthSession.id, ondelete="CASCADE"), index=True
    )
    issued_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None] = mapped_column(default=None)


class DeviceToken(SharedBase):
    """An edge agent's credential, bound to one shop of one tenant."""

    __tablename__ = "device_tokens"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    tenant_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey(Tenant.id, ondelete="CASCADE"), index=True
    )
    shop_id: Mapped[uuid.UUID]
    name: Mapped[str] = mapped_column(String(100))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    token_prefix: Mapped[str] = mapped_column(String(16))
    created_by: Mapped[uuid.UUID | None] = mapped_column(default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(default=None)
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)


# --- tenant schema -------------------------------------------------------------------


class Shop(TenantBase):
    __tablename__ = "shops"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(200))
    address: Mapped[str] = mapped_column(String(500), default="")
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class UserShop(TenantBase):
    """Which shops a user works in (the user row itself is shared)."""

    __tablename__ = "user_shops"

    user_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    shop_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey(Shop.id, ondelete="CASCADE"), primary_key=True, index=True
    )


class OutboxEvent(TenantBase):
    """An event written in the transaction that caused it, relayed to the broker after
    commit and deleted once published; the id de-duplicates a retried relay."""

    __tablename__ = "outbox"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    channel: Mapped[str] = mapped_column(String(200))
    type: Mapped[str] = mapped_column(String(64))
    payload: Mapped[Any] = mapped_column(JsonDocument)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


class TenantSetting(TenantBase):
    __tablename__ = "tenant_settings"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[Any] = mapped_column(JsonDocument)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

"""Customer (CRM) tables: groups, customers with their three accounts, the ledger of
every account change, bonus lots (for expiry) and the record of sales operations
applied (for idempotency)."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal

from sqlalchemy import (
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from hub.adapters.db.tables import TenantBase
from hub.adapters.db.types import ExactDecimal, utcnow
from hub.domain.ids import new_id

# Exact on both stores: NUMERIC on PostgreSQL, integer cents on SQLite.
MONEY = ExactDecimal(14, 2)
PERCENT = ExactDecimal(5, 2)


class CustomerGroup(TenantBase):
    """Retail 0 %, VIP 10 %, Wholesale…: an automatic discount and a bonus rate."""

    __tablename__ = "customer_groups"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(100))
    name_key: Mapped[str] = mapped_column(String(100), unique=True)
    discount_percent: Mapped[Decimal] = mapped_column(PERCENT, default=Decimal("0.00"))
    # None: the tenant's default rate (setting bonus_accrual_percent).
    bonus_rate: Mapped[Decimal | None] = mapped_column(PERCENT, default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Customer(TenantBase):
    __tablename__ = "customers"
    __table_args__ = (
        # Substring search at 100,000 customers: trigram indexes on PostgreSQL (pg_trgm
        # is created by the shared migration 0002_pg_trgm); plain ones on SQLite.
        Index(
            "ix_customers_phone_digits_trgm",
            "phone_digits",
            postgresql_using="gin",
            postgresql_ops={"phone_digits": "gin_trgm_ops"},
        ),
        Index(
            "ix_customers_search_name_trgm",
            "search_name",
            postgresql_using="gin",
            postgresql_ops={"search_name": "gin_trgm_ops"},
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    kind: Mapped[str] = mapped_column(String(10))
    name: Mapped[str] = mapped_column(String(200))
    legal_name: Mapped[str] = mapped_column(String(300), default="")
    tax_id: Mapped[str] = mapped_column(String(32), default="")
    # E.164; unique per tenant (NULLs, customers without a phone, do not collide).
    phone: Mapped[str | None] = mapped_column(String(20), unique=True, default=None)
    phone_digits: Mapped[str] = mapped_column(String(20), default="")
    email: Mapped[str] = mapped_column(String(254), default="")
    notes: Mapped[str] = mapped_column(String(2000), default="")
    # fold(name + legal name): SQLite's lower() does not fold Cyrillic.
    search_name: Mapped[str] = mapped_column(String(600), index=True)
    group_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey(CustomerGroup.id), index=True, default=None
    )
    credit_limit: Mapped[Decimal] = mapped_column(MONEY, default=Decimal("0.00"))
    balance: Mapped[Decimal] = mapped_column(MONEY, default=Decimal("0.00"))
    debt: Mapped[Decimal] = mapped_column(MONEY, default=Decimal("0.00"))
    bonus: Mapped[Decimal] = mapped_column(MONEY, default=Decimal("0.00"))
    # The last ledger row's number: rows of one customer are numbered 1, 2, 3…
    ledger_seq: Mapped[int] = mapped_column(Integer, default=0)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class CustomerLedgerEntry(TenantBase):
    """One change of one account. For each customer and account, the amounts sum to the
    account's value, and each row also records all three values after it."""

    __tablename__ = "customer_ledger"
    __table_args__ = (
        UniqueConstraint("customer_id", "seq"),
        Index(None, "customer_id", "created_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    customer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey(Customer.id))
    seq: Mapped[int] = mapped_column(Integer)
    account: Mapped[str] = mapped_column(String(10))
    kind: Mapped[str] = mapped_column(String(32))
    amount: Mapped[Decimal] = mapped_column(MONEY)  # signed: what it did to the account
    balance_after: Mapped[Decimal] = mapped_column(MONEY)
    debt_after: Mapped[Decimal] = mapped_column(MONEY)
    bonus_after: Mapped[Decimal] = mapped_column(MONEY)
    sale_id: Mapped[uuid.UUID | None] = mapped_column(index=True, default=None)
    return_id: Mapped[uuid.UUID | None] = mapped_column(default=None)
    # A desk operation's cash at a till: the shift whose drawer took (or paid) it.
    shift_id: Mapped[uuid.UUID | None] = mapped_column(default=None)
    # The sales operation (customer_operations.key) that wrote the row, if any.
    operation: Mapped[str | None] = mapped_column(String(120), index=True, default=None)
    # A client's Idempotency-Key (top-ups, repayments, refunds over HTTP).
    idempotency_key: Mapped[str | None] = mapped_column(String(200), unique=True, default=None)
    reference: Mapped[str] = mapped_column(String(100), default="")
    note: Mapped[str] = mapped_column(String(500), default="")
    user_id: Mapped[uuid.UUID | None] = mapped_column(default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class CustomerBonusLot(TenantBase):
    """Points accrued (or given back) together, expiring together. The remainders of a
    customer's lots sum to the customer's bonus; redemptions take the lots that expire
    first."""

    __tablename__ = "customer_bonus_lots"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    customer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey(Customer.id), index=True)
    sale_id: Mapped[uuid.UUID | None] = mapped_column(default=None)
    amount: Mapped[Decimal] = mapped_column(MONEY)
    remaining: Mapped[Decimal] = mapped_column(MONEY)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column(default=None)


class CustomerOperation(TenantBase):
    """A sales-side operation applied once: `<kind>:<sale id>` or `return:<return id>`.
    Recorded even when it changed nothing, so a repeat never changes anything either."""

    __tablename__ = "customer_operations"

    key: Mapped[str] = mapped_column(String(120), primary_key=True)
    customer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey(Customer.id), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

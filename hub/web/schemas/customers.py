from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated

from pydantic import AfterValidator, BaseModel, Field
from pydantic.networks import validate_email

from hub.adapters.db.customer_tables import Customer, CustomerGroup, CustomerLedgerEntry
from hub.domain.customers import CustomerKind, LedgerAccount, LedgerKind
from hub.services.customers import Balances, Statement
from hub.web.export import ExportQuery
from hub.web.schemas.common import Day, In, PageQuery

Money = Annotated[Decimal, Field(ge=0, max_digits=14, decimal_places=2)]
PositiveMoney = Annotated[Decimal, Field(gt=0, max_digits=14, decimal_places=2)]
Percent = Annotated[Decimal, Field(ge=0, le=100, max_digits=5, decimal_places=2)]


def _email_or_empty(value: str) -> str:
    return value if value == "" else validate_email(value)[1]


Email = Annotated[
    str, Field(max_length=254, description='"" for none'), AfterValidator(_email_or_empty)
]


# --- groups ---------------------------------------------------------------------------


class GroupOut(BaseModel):
    id: uuid.UUID
    name: str
    discount_percent: Decimal
    bonus_rate: Decimal | None = Field(description="bonus percent; null: the tenant's rate")
    created_at: datetime

    @classmethod
    def of(cls, group: CustomerGroup) -> GroupOut:
        return cls(
            id=group.id,
            name=group.name,
            discount_percent=group.discount_percent,
            bonus_rate=group.bonus_rate,
            created_at=group.created_at,
        )


class GroupCreateIn(In):
    name: str = Field(min_length=1, max_length=100)
    discount_percent: Percent = Decimal("0")
    bonus_rate: Percent | None = None


class GroupUpdateIn(In):
    name: str | None = Field(default=None, min_length=1, max_length=100)
    discount_percent: Percent | None = None
    bonus_rate: Percent | None = Field(default=None, description="null: the tenant's rate")


class GroupQuery(PageQuery):
    search: str | None = Field(default=None, max_length=100)


# --- customers ------------------------------------------------------------------------


class CustomerOut(BaseModel):
    id: uuid.UUID
    kind: CustomerKind
    name: str
    legal_name: str
    tax_id: str
    phone: str | None = Field(description="E.164, e.g. +79161234567")
    email: str
    notes: str
    group: uuid.UUID | None
    credit_limit: Decimal
    balance: Decimal = Field(description="prepaid money held")
    debt: Decimal = Field(description="owed from sales on credit")
    bonus: Decimal = Field(description="unexpired bonus points")
    available_credit: Decimal = Field(description="credit_limit - debt, never below 0")
    is_active: bool
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, c: Customer) -> CustomerOut:
        return cls(
            id=c.id,
            kind=CustomerKind(c.kind),
            name=c.name,
            legal_name=c.legal_name,
            tax_id=c.tax_id,
            phone=c.phone,
            email=c.email,
            notes=c.notes,
            group=c.group_id,
            credit_limit=c.credit_limit,
            balance=c.balance,
            debt=c.debt,
            bonus=c.bonus,
            available_credit=max(c.credit_limit - c.debt, Decimal("0.00")),
            is_active=c.is_active,
            created_at=c.created_at,
            updated_at=c.updated_at,
        )


class CustomerCreateIn(In):
    name: str = Field(min_length=1, max_length=200)
    phone: str | None = Field(
        default=None, max_length=40, description="any common form; stored in E.164"
    )
    group: uuid.UUID | None = None
    credit_limit: Money = Decimal("0")
    kind: CustomerKind = CustomerKind.PERSON
    legal_name: str = Field(default="", max_length=300)
    tax_id: str = Field(default="", max_length=32, description="an INN when the country is RU")
    email: Email | None = None
    notes: str = Field(default="", max_length=2000)


class CustomerUpdateIn(In):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    phone: str | None = Field(default=None, max_length=40, description='"" removes the phone')
    group: uuid.UUID | None = Field(default=None, description="null takes the customer out")
    credit_limit: Money | None = None
    kind: CustomerKind | None = None
    legal_name: str | None = Field(default=None, max_length=300)
    tax_id: str | None = Field(default=None, max_length=32)
    email: Email | None = None
    notes: str | None = Field(default=None, max_length=2000)
    is_active: bool | None = None


class CustomerQuery(PageQuery, ExportQuery):
    search: str | None = Field(
        default=None, max_length=100, description="a fragment of the name or of the phone"
    )
    group: uuid.UUID | None = None
    kind: CustomerKind | None = None
    is_active: bool | None = None
    has_debt: bool | None = None


# --- accounts -------------------------------------------------------------------------


class PaymentIn(In):
    amount: PositiveMoney
    reference: str = Field(default="", max_length=100, description="e.g. a payment's number")
    note: str = Field(default="", max_length=500)
    session: uuid.UUID | None = Field(
        default=None,
        description="cash at a till: the open shift whose drawer takes it in (a refund: pays it"
        " out); the shift's report counts it as cash in (out)",
    )


class LedgerEntryOut(BaseModel):
    id: uuid.UUID
    seq: int = Field(description="the row's number in the customer's ledger: 1, 2, 3…")
    account: LedgerAccount
    kind: LedgerKind
    amount: Decimal = Field(description="signed change of the account")
    balance_after: Decimal
    debt_after: Decimal
    bonus_after: Decimal
    sale: uuid.UUID | None
    sale_return: uuid.UUID | None
    session: uuid.UUID | None = Field(
        description="a desk operation's cash at a till: the shift whose drawer took it"
    )
    reference: str
    note: str
    user: uuid.UUID | None
    created_at: datetime

    @classmethod
    def of(cls, e: CustomerLedgerEntry) -> LedgerEntryOut:
        return cls(
            id=e.id,
            seq=e.seq,
            account=LedgerAccount(e.account),
            kind=LedgerKind(e.kind),
            amount=e.amount,
            balance_after=e.balance_after,
            debt_after=e.debt_after,
            bonus_after=e.bonus_after,
            sale=e.sale_id,
            sale_return=e.return_id,
            session=e.shift_id,
            reference=e.reference,
            note=e.note,
            user=e.user_id,
            created_at=e.created_at,
        )


class MovementOut(BaseModel):
    """The customer's accounts right after the movement, and its ledger row."""

    customer: uuid.UUID
    balance: Decimal
    debt: Decimal
    bonus: Decimal
    entry: LedgerEntryOut

    @classmethod
    def of(cls, e: CustomerLedgerEntry) -> MovementOut:
        return cls(
            customer=e.customer_id,
            balance=e.balance_after,
            debt=e.debt_after,
            bonus=e.bonus_after,
            entry=LedgerEntryOut.of(e),
        )


class LedgerQuery(PageQuery):
    kind: LedgerKind | None = None
    account: LedgerAccount | None = None
    date_from: Day | None = Field(default=None, description="first day, tenant's zone")
    date_to: Day | None = Field(default=None, description="last day, inclusive")


class StatementQuery(ExportQuery):
    date_from: Day | None = Field(default=None, description="default: first of the month")
    date_to: Day | None = Field(default=None, description="default: today")


class BalancesOut(BaseModel):
    balance: Decimal
    debt: Decimal
    bonus: Decimal

    @classmethod
    def of(cls, b: Balances) -> BalancesOut:
        return cls(balance=b.balance, debt=b.debt, bonus=b.bonus)


class StatementOut(BaseModel):
    customer: uuid.UUID
    name: str
    date_from: date
    date_to: date
    timezone: str
    opening: BalancesOut
    movements: list[LedgerEntryOut]
    closing: BalancesOut

    @classmethod
    def of(cls, s: Statement) -> StatementOut:
        return cls(
            customer=s.customer.id,
            name=s.customer.name,
            date_from=s.date_from,
            date_to=s.date_to,
            timezone=s.timezone,
            opening=BalancesOut.of(s.opening),
            movements=[LedgerEntryOut.of(e) for e in s.movements],
            closing=BalancesOut.of(s.closing),
        )

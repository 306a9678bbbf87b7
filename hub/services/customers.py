"""Customers (CRM): groups, customers, and the money desk's operations on their accounts
(top-up, refund of the balance, repayment of debt), the ledger and statements.

Customers belong to the tenant, not to a shop: every shop's till finds them. Cashiers
find, register and edit customers and take top-ups and repayments; credit limits,
groups, deactivation and paying a balance back out are for managers and owners
(`customers.credit`)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Final
from zoneinfo import ZoneInfo

from sqlalchemy.exc import IntegrityError

from hub.adapters.db.customer_tables import Customer, CustomerGroup, CustomerLedgerEntry
from hub.adapters.db.repositories import PageRequest
from hub.adapters.db.types import utcnow
from hub.adapters.db.uow import UnitOfWork
from hub.domain.customers import (
    ZERO,
    CustomerKind,
    IdempotencyKeyReused,
    LedgerAccount,
    LedgerKind,
    PhoneTaken,
    check_balance,
    check_percent,
    check_tax_id,
    money,
    normalise_phone,
    period_bounds,
    phone_digits,
    phone_fragments,
    positive_money,
)
from hub.domain.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from hub.domain.ids import new_id
from hub.domain.permissions import Permission
from hub.domain.shifts import CashMovementKind
from hub.domain.text import fold
from hub.services import shifts
from hub.services.customer_accounts import (
    find_customer,
    lock_customer,
    post,
    settings_of,
)
from hub.services.principal import Principal


class _Keep:
    """A field left as it is (distinct from None, which clears it)."""

    def __repr__(self) -> str:
        return "KEEP"


KEEP: Final = _Keep()
# Folding may lengthen text (NFKC, ß -> ss); keys are cut to their columns' lengths.
NAME_KEY_LENGTH = 100
SEARCH_NAME_LENGTH = 600


# --- groups ---------------------------------------------------------------------------


@dataclass(frozen=True)
class GroupFields:
    name: str | None = None
    discount_percent: Decimal | None = None
    bonus_rate: Decimal | _Keep | None = KEEP


async def get_group(uow: UnitOfWork, principal: Principal, group_id: uuid.UUID) -> CustomerGroup:
    principal.require(Permission.CUSTOMERS_VIEW)
    group = await uow.customer_groups.get(group_id)
    if group is None:
        raise NotFound("no such customer group")
    return group


async def list_groups(
    uow: UnitOfWork, principal: Principal, page: PageRequest, *, search: str | None = None
) -> tuple[list[CustomerGroup], int]:
    principal.require(Permission.CUSTOMERS_VIEW)
    return await uow.customer_groups.find(page, search=fold(search) if search else None)


async def _apply_group_fields(
    uow: UnitOfWork, group: CustomerGroup, fields: GroupFields
) -> CustomerGroup:
    if fields.name is not None:
        name = fields.name.strip()
        if not name:
            raise ValidationFailed("must not be blank", fields={"name": "must not be blank"})
        key = fold(name)[:NAME_KEY_LENGTH]
        other = await uow.customer_groups.by_name_key(key)
        if other is not None and other.id != group.id:
            raise Conflict("a group with this name exists", fields={"name": "already taken"})
        group.name, group.name_key = name, key
    if fields.discount_percent is not None:
        group.discount_percent = check_percent(fields.discount_percent, "discount_percent")
    if not isinstance(fields.bonus_rate, _Keep):
        group.bonus_rate = (
            None if fields.bonus_rate is None else check_percent(fields.bonus_rate, "bonus_rate")
        )
    return group


async def _flush_group(uow: UnitOfWork) -> None:
    try:
        await uow.session.flush()
    except IntegrityError as exc:
        raise Conflict("a group with this name exists", fields={"name": "already taken"}) from exc


async def create_group(uow: UnitOfWork, principal: Principal, fields: GroupFields) -> CustomerGroup:
    principal.require(Permission.CUSTOMERS_CREDIT)
    if fields.name is None:
        raise ValidationFailed("a name is needed", fields={"name": "required"})
    group = CustomerGroup(id=new_id(), discount_percent=ZERO, bonus_rate=None)
    await _apply_group_fields(uow, group, fields)
    uow.customer_groups.add(group)
    await _flush_group(uow)
    await uow.commit()
    return group


async def update_group(
    uow: UnitOfWork, principal: Principal, group_id: uuid.UUID, fields: GroupFields
) -> CustomerGroup:
    group = await get_group(uow, principal, group_id)
    principal.require(Permission.CUSTOMERS_CREDIT)
    await _apply_group_fields(uow, group, fields)
    await _flush_group(uow)
    await uow.commit()
    return group


async def delete_group(uow: UnitOfWork, principal: Principal, group_id: uuid.UUID) -> None:
    """Only an empty group goes: move its customers out first."""
    group = await get_group(uow, principal, group_id)
    principal.require(Permission.CUSTOMERS_CREDIT)
    members = await uow.customer_groups.member_count(group.id)
    if members:
        raise Conflict(f"{members} customers are in this group; move them first")
    await uow.customer_groups.delete(group)
    await uow.commit()


# --- customers ------------------------------------------------------------------------


@dataclass(frozen=True)
class CustomerFields:
    """New values; None leaves a field as it is (on creation: its default). `phone=""`
    removes the phone, `group=None` takes the customer out of its group."""

    kind: CustomerKind | None = None
    name: str | None = None
    legal_name: str | None = None
    tax_id: str | None = None
    phone: str | None = None
    email: str | None = None
    notes: str | None = None
    group: uuid.UUID | _Keep | None = KEEP
    credit_limit: Decimal | None = None
    is_active: bool | None = None


@dataclass(frozen=True)
class CustomerFilters:
    search: str | None = None
    group: uuid.UUID | None = None
    kind: CustomerKind | None = None
    is_active: bool | None = None
    has_debt: bool | None = None


async def _check_group(uow: UnitOfWork, group_id: uuid.UUID) -> None:
    if await uow.customer_groups.get(group_id) is None:
        raise NotFound("unknown customer group", fields={"group": f"unknown group id {group_id}"})


def _require_credit_rights(principal: Principal, field: str) -> None:
    if not principal.has(Permission.CUSTOMERS_CREDIT):
        raise PermissionDenied(
            f"your role may not set {field} ({Permission.CUSTOMERS_CREDIT.value})",
            fields={field: "managers and owners only"},
        )


async def _apply_customer_fields(
    uow: UnitOfWork, principal: Principal, customer: Customer, fields: CustomerFields
) -> None:
    settings = await settings_of(uow)
    if fields.kind is not None:
        customer.kind = fields.kind.value
    if fields.name is not None:
        if not fields.name.strip():
            raise ValidationFailed("must not be blank", fields={"name": "must not be blank"})
        customer.name = fields.name.strip()
    if fields.legal_name is not None:
        customer.legal_name = fields.legal_name.strip()
    if fields.tax_id is not None:
        customer.tax_id = check_tax_id(fields.tax_id, settings.country)
    if fields.email is not None:
        customer.email = fields.email
    if fields.notes is not None:
        customer.notes = fields.notes
    if fields.phone is not None:
        phone = normalise_phone(fields.phone, settings.country) if fields.phone.strip() else None
        if phone is not None and phone != customer.phone:
            other = await uow.customers.by_phone(phone)
            if other is not None and other.id != customer.id:
                raise PhoneTaken()
        customer.phone = phone
        customer.phone_digits = phone_digits(phone) if phone else ""
    if not isinstance(fields.group, _Keep) and fields.group != customer.group_id:
        _require_credit_rights(principal, "group")
        if fields.group is not None:
            await _check_group(uow, fields.group)
        customer.group_id = fields.group
    if fields.credit_limit is not None and fields.credit_limit != customer.credit_limit:
        _require_credit_rights(principal, "credit_limit")
        if not fields.credit_limit.is_finite() or fields.credit_limit < 0:
            raise ValidationFailed("bad limit", fields={"credit_limit": "zero or more"})
        # A lower limit than the current debt is allowed: it stops further credit only.
        customer.credit_limit = money(fields.credit_limit)
    if fields.is_active is not None and fields.is_active != customer.is_active:
        _require_credit_rights(principal, "is_active")
        customer.is_active = fields.is_active
    customer.search_name = fold(f"{customer.name} {customer.legal_name}")[:SEARCH_NAME_LENGTH]


async def _flush_customer(uow: UnitOfWork) -> None:
    try:
        await uow.session.flush()
    except IntegrityError as exc:  # a concurrent registration of the same phone
        raise PhoneTaken() from exc


async def create_customer(
    uow: UnitOfWork, principal: Principal, fields: CustomerFields
) -> Customer:
    principal.require(Permission.CUSTOMERS_CREATE)
    if fields.name is None:
        raise ValidationFailed("a name is needed", fields={"name": "required"})
    customer = Customer(
        id=new_id(),
        kind=(fields.kind or CustomerKind.PERSON).value,
        name="",
        legal_name="",
        tax_id="",
        phone=None,
        phone_digits="",
        email="",
        notes="",
        group_id=None,
        credit_limit=ZERO,
        balance=ZERO,
        debt=ZERO,
        bonus=ZERO,
        ledger_seq=0,
        is_active=True,
    )
    await _apply_customer_fields(uow, principal, customer, fields)
    uow.customers.add(customer)
    await _flush_customer(uow)
    await uow.commit()
    return customer


async def get_customer(uow: UnitOfWork, principal: Principal, customer_id: uuid.UUID) -> Customer:
    """The customer, with expired bonus points written off first."""
    principal.require(Permission.CUSTOMERS_VIEW)
    customer = await find_customer(uow, customer_id)
    await _write_off_expired(uow, [customer.id])
    return customer


async def _write_off_expired(uow: UnitOfWork, customer_ids: list[uuid.UUID]) -> None:
    """Lazy expiry for customers about to be shown: lock and write off only those that
    have expired points (usually none), and commit that."""
    now = utcnow()
    expired = await uow.customer_ledger.customers_with_expired_lots(customer_ids, now)
    if expired:
        for customer_id in sorted(expired):
            # The lock re-reads the row: objects already loaded show the new values.
            await lock_customer(uow, customer_id, now)
        await uow.commit()


async def list_customers(
    uow: UnitOfWork, principal: Principal, page: PageRequest, filters: CustomerFilters
) -> tuple[list[Customer], int]:
    principal.require(Permission.CUSTOMERS_VIEW)
    if filters.group is not None:  # as a ?shop= filter: an unknown group is 404, not []
        await _check_group(uow, filters.group)
    # A term of digits and phone punctuation looks in phones, anything else in names:
    # one kind of index per query keeps PostgreSQL on its trigram indexes.
    name_fragment = None
    fragments: list[str] = []
    if filters.search and filters.search.strip():
        fragments = phone_fragments(filters.search, (await settings_of(uow)).country)
        name_fragment = None if fragments else fold(filters.search)
    found, count = await uow.customers.find(
        page,
        name_fragment=name_fragment,
        phone_fragments=fragments,
        group=filters.group,
        kind=filters.kind.value if filters.kind else None,
        is_active=filters.is_active,
        has_debt=filters.has_debt,
    )
    await _write_off_expired(uow, [c.id for c in found])
    return found, count


async def update_customer(
    uow: UnitOfWork, principal: Principal, customer_id: uuid.UUID, fields: CustomerFields
) -> Customer:
    principal.require(Permission.CUSTOMERS_CREATE)
    customer, _ = await lock_customer(uow, customer_id)
    await _apply_customer_fields(uow, principal, customer, fields)
    await _flush_customer(uow)
    await uow.commit()
    return customer


async def deactivate_customer(
    uow: UnitOfWork, principal: Principal, customer_id: uuid.UUID
) -> None:
    """Customers are never deleted: their ledger and sales keep pointing at them."""
    principal.require(Permission.CUSTOMERS_CREDIT)
    await update_customer(uow, principal, customer_id, CustomerFields(is_active=False))


# --- the money desk -------------------------------------------------------------------


@dataclass(frozen=True)
class Payment:
    amount: Decimal
    idempotency_key: str | None = None
    reference: str = ""
    note: str = ""
    # Cash handed over at a till: it goes into (a refund: out of) this shift's drawer.
    session: uuid.UUID | None = None


_DESK: dict[LedgerKind, tuple[LedgerAccount, int, Permission]] = {
    LedgerKind.TOP_UP: (LedgerAccount.BALANCE, +1, Permission.CUSTOMERS_CREATE),
    LedgerKind.BALANCE_REFUND: (LedgerAccount.BALANCE, -1, Permission.CUSTOMERS_CREDIT),
    LedgerKind.REPAYMENT: (LedgerAccount.DEBT, -1, Permission.CUSTOMERS_CREATE),
}


async def _desk(
    uow: UnitOfWork,
    principal: Principal,
    customer_id: uuid.UUID,
    kind: LedgerKind,
    payment: Payment,
) -> CustomerLedgerEntry:
    account, sign, permission = _DESK[kind]
    principal.require(permission)
    amount = positive_money(payment.amount)
    drawer = None
    if payment.session is not None:
        # Locked first, as a sale locks its shift before the customer; checked after the
        # key, so a retry whose answer was lost finds its entry even after the shift closed.
        drawer = await shifts.get_shift(uow, principal, payment.session, for_update=True)
    customer, now = await lock_customer(uow, customer_id)
    if payment.idempotency_key is not None:
        earlier = await uow.customer_ledger.by_idempotency_key(payment.idempotency_key)
        if earlier is not None:
            same = (earlier.customer_id, earlier.kind, abs(earlier.amount), earlier.shift_id)
            if same != (customer.id, kind.value, amount, payment.session):
                raise IdempotencyKeyReused(
                    "this Idempotency-Key was used for another request",
                    fields={"Idempotency-Key": "already used"},
                )
            await uow.commit()  # the expiry written by lock_customer, if any
            return earlier
    if drawer is not None:
        shifts.check_drawer(principal, drawer)
    if kind is LedgerKind.TOP_UP and not customer.is_active:
        raise Conflict("the customer is deactivated", fields={"customer": "inactive"})
    if kind is LedgerKind.BALANCE_REFUND:
        check_balance(balance=customer.balance, amount=amount)
    if kind is LedgerKind.REPAYMENT and amount > customer.debt:
        raise Conflict(
            f"the customer owes {customer.debt}",
            fields={"amount": f"at most {max(customer.debt, ZERO)}"},
        )
    if drawer is not None:  # refused before anything is written when the drawer is short
        refund = kind is LedgerKind.BALANCE_REFUND
        direction = CashMovementKind.OUT if refund else CashMovementKind.IN
        reason = f"{kind.value}: {customer.name}"
        await shifts.record_cash(uow, principal, drawer, direction, amount, reason)
    entry = post(
        uow,
        customer,
        account,
        kind,
        sign * amount,
        now=now,
        user_id=principal.user_id,
        idempotency_key=payment.idempotency_key,
        shift_id=payment.session,
        reference=payment.reference,
        note=payment.note,
    )
    try:
        await uow.commit()
    except IntegrityError as exc:  # the same key, at the same moment, on another customer
        raise IdempotencyKeyReused(
            "this Idempotency-Key was used for another request",
            fields={"Idempotency-Key": "already used"},
        ) from exc
    return entry


async def top_up(
    uow: UnitOfWork, principal: Principal, customer_id: uuid.UUID, payment: Payment
) -> CustomerLedgerEntry:
    """Money paid in to the prepaid balance."""
    return await _desk(uow, principal, customer_id, LedgerKind.TOP_UP, payment)


async def refund_balance(
    uow: UnitOfWork, principal: Principal, customer_id: uuid.UUID, payment: Payment
) -> CustomerLedgerEntry:
    """Prepaid money paid back out to the customer (at most the balance)."""
    return await _desk(uow, principal, customer_id, LedgerKind.BALANCE_REFUND, payment)


async def repay(
    uow: UnitOfWork, principal: Principal, customer_id: uuid.UUID, payment: Payment
) -> CustomerLedgerEntry:
    """The customer pays off debt (at most the debt)."""
    return await _desk(uow, principal, customer_id, LedgerKind.REPAYMENT, payment)


# --- history and statements -----------------------------------------------------------


@dataclass(frozen=True)
class LedgerFilters:
    kind: LedgerKind | None = None
    account: LedgerAccount | None = None
    date_from: date | None = None
    date_to: date | None = None


async def ledger(
    uow: UnitOfWork,
    principal: Principal,
    customer_id: uuid.UUID,
    page: PageRequest,
    filters: LedgerFilters,
) -> tuple[list[CustomerLedgerEntry], int]:
    """The customer's ledger, newest first; dates are whole days in the tenant's zone."""
    customer = await get_customer(uow, principal, customer_id)
    settings = await settings_of(uow)
    start, end = period_bounds(filters.date_from, filters.date_to, settings.timezone)
    return await uow.customer_ledger.find(
        customer.id,
        page,
        kind=filters.kind.value if filters.kind else None,
        account=filters.account.value if filters.account else None,
        start=start,
        end=end,
    )


@dataclass(frozen=True)
class Balances:
    balance: Decimal
    debt: Decimal
    bonus: Decimal

    @classmethod
    def after(cls, entry: CustomerLedgerEntry | None) -> Balances:
        if entry is None:
            return cls(ZERO, ZERO, ZERO)
        return cls(entry.balance_after, entry.debt_after, entry.bonus_after)


@dataclass(frozen=True)
class Statement:
    customer: Customer
    date_from: date
    date_to: date
    timezone: str
    opening: Balances
    movements: list[CustomerLedgerEntry]
    closing: Balances


async def statement(
    uow: UnitOfWork,
    principal: Principal,
    customer_id: uuid.UUID,
    date_from: date | None,
    date_to: date | None,
) -> Statement:
    """Opening values at the start of `date_from`, every movement up to the end of
    `date_to` (whole days in the tenant's zone), closing values. Defaults: from the
    first of this month to today."""
    customer = await get_customer(uow, principal, customer_id)
    settings = await settings_of(uow)
    today = utcnow().astimezone(ZoneInfo(settings.timezone)).date()
    last = date_to or today
    first = date_from or last.replace(day=1)
    start, end = period_bounds(first, last, settings.timezone)
    opening = await uow.customer_ledger.last_before(customer.id, start)
    movements = await uow.customer_ledger.between(customer.id, start, end)
    closing = movements[-1] if movements else opening
    return Statement(
        customer=customer,
        date_from=first,
        date_to=last,
        timezone=settings.timezone,
        opening=Balances.after(opening),
        movements=movements,
        closing=Balances.after(closing),
    )

"""Customer accounts as the sales module uses them: group discount, sales on credit,
payment from the prepaid balance, bonus redemption and accrual, and returns.

Contract shared by every function here:

- It runs inside the caller's unit of work and **never commits**: the sale and the
  customer's ledger commit together, or neither does.
- It locks the customer's row first (`SELECT … FOR UPDATE` on PostgreSQL; SQLite write
  units of work are serialised by `BEGIN IMMEDIATE`), so concurrent sales of one customer
  are applied one after the other and limits hold. Call them in a write unit of work.
- It is idempotent by operation: `<kind>:<sale_id>` for a sale's operations,
  `return:<return_id>` for a return. A repeated call changes nothing and returns what
  the first call wrote (a repeat with a different amount is a `Conflict`: a bug).
- Every change is a ledger row (`CustomerLedgerEntry`) carrying the sale/return ids, the
  user and the three account values after it.
- Expired bonus points are written off (an expiry row per lot, dated when it expired)
  before anything else is done with the account.
- A refusal (credit limit, balance, bonus, cap) raises before anything is written, so
  the caller may catch it and try another tender in the same transaction.

Amounts are `Decimal` in whole cents; see hub/domain/customers.py for the rounding rules.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal

from hub.adapters.db.customer_tables import (
    Customer,
    CustomerBonusLot,
    CustomerLedgerEntry,
    CustomerOperation,
)
from hub.adapters.db.types import utcnow
from hub.adapters.db.uow import UnitOfWork
from hub.domain.customers import (
    REVERSAL_OF,
    ZERO,
    LedgerAccount,
    LedgerKind,
    bonus_accrual,
    bonus_expires_at,
    check_balance,
    check_credit,
    check_redemption,
    plan_consumption,
    positive_money,
    redeem_cap,
    reversal_amount,
)
from hub.domain.errors import Conflict, NotFound, ValidationFailed
from hub.domain.ids import new_id
from hub.domain.tenant_settings import TenantSettings

# --- the ledger core (also used by hub/services/customers.py) -------------------------


async def settings_of(uow: UnitOfWork) -> TenantSettings:
    return TenantSettings.from_json(await uow.tenants.settings())


async def find_customer(uow: UnitOfWork, customer_id: uuid.UUID) -> Customer:
    customer = await uow.customers.get(customer_id)
    if customer is None:
        raise NotFound("no such customer")
    return customer


async def lock_customer(
    uow: UnitOfWork, customer_id: uuid.UUID, now: datetime | None = None
) -> tuple[Customer, datetime]:
    """The customer's row, locked for this transaction, with expired points written
    off; and the time to stamp changes with (taken after the lock was granted)."""
    customer = await uow.customers.get(customer_id, for_update=True)
    if customer is None:
        raise NotFound("no such customer")
    moment = now or utcnow()
    await expire_bonus(uow, customer, moment)
    return customer, moment


def post(
    uow: UnitOfWork,
    customer: Customer,
    account: LedgerAccount,
    kind: LedgerKind,
    amount: Decimal,
    *,
    now: datetime,
    user_id: uuid.UUID | None,
    sale_id: uuid.UUID | None = None,
    return_id: uuid.UUID | None = None,
    operation: str | None = None,
    idempotency_key: str | None = None,
    shift_id: uuid.UUID | None = None,
    reference: str = "",
    note: str = "",
) -> CustomerLedgerEntry:
    """Change one account of a locked customer by `amount` (signed) and write its row."""
    if account is LedgerAccount.BALANCE:
        customer.balance += amount
    elif account is LedgerAccount.DEBT:
        customer.debt += amount
    else:
        customer.bonus += amount
    customer.ledger_seq += 1
    entry = CustomerLedgerEntry(
        id=new_id(),
        customer_id=customer.id,
        seq=customer.ledger_seq,
        account=account.value,
        kind=kind.value,
        amount=amount,
        balance_after=customer.balance,
        debt_after=customer.debt,
        bonus_after=customer.bonus,
        sale_id=sale_id,
        return_id=return_id,
        operation=operation,
        idempotency_key=idempotency_key,
        shift_id=shift_id,
        reference=reference,
        note=note,
        user_id=user_id,
        created_at=now,
    )
    uow.customer_ledger.add(entry)
    return entry


async def expire_bonus(
    uow: UnitOfWork, customer: Customer, now: datetime
) -> list[CustomerLedgerEntry]:
    """Write off the points of lots past their lifetime: one row per lot, dated when it
    expired (every earlier change of the account ran this first, so the dates stay in
    ledger order)."""
    written = []
    for lot in await uow.customer_ledger.open_lots(customer.id):
        if lot.expires_at is None or lot.expires_at > now:
            continue
        amount, lot.remaining = lot.remaining, ZERO
        written.append(
            post(
                uow,
                customer,
                LedgerAccount.BONUS,
                LedgerKind.BONUS_EXPIRY,
                -amount,
                now=lot.expires_at,
                user_id=None,
                sale_id=lot.sale_id,
                note=f"points accrued {lot.created_at:%Y-%m-%d} expired",
            )
        )
    return written


async def _take_points(
    uow: UnitOfWork, customer: Customer, points: Decimal, *, first: uuid.UUID | None = None
) -> None:
    """Take points out of the customer's lots: those of sale `first` before the others,
    then first to expire first."""
    lots = await uow.customer_ledger.open_lots(customer.id)
    if first is not None:
        lots.sort(key=lambda lot: lot.sale_id != first)  # stable: keeps expiry order
    plan = plan_consumption([lot.remaining for lot in lots], points)
    for lot, take in zip(lots, plan, strict=True):
        lot.remaining -= take


def _add_lot(
    uow: UnitOfWork,
    customer: Customer,
    points: Decimal,
    *,
    now: datetime,
    ttl_days: int | None,
    sale_id: uuid.UUID | None,
) -> None:
    uow.customer_ledger.add_lot(
        CustomerBonusLot(
            id=new_id(),
            customer_id=customer.id,
            sale_id=sale_id,
            amount=points,
            remaining=points,
            created_at=now,
            expires_at=bonus_expires_at(now, ttl_days),
        )
    )


async def _replay(
    uow: UnitOfWork, customer: Customer, key: str
) -> list[CustomerLedgerEntry] | None:
    """What operation `key` wrote if it was applied before, else None."""
    done = await uow.customer_ledger.operation(key)
    if done is None:
        return None
    if done.customer_id != customer.id:
        raise Conflict(f"operation {key} was applied to another customer")
    return await uow.customer_ledger.of_operation(key)


def _record(uow: UnitOfWork, customer: Customer, key: str, now: datetime) -> None:
    uow.customer_ledger.add_operation(
        CustomerOperation(key=key, customer_id=customer.id, created_at=now)
    )


def _same_amount(entries: list[CustomerLedgerEntry], amount: Decimal, key: str) -> None:
    if sum((abs(e.amount) for e in entries), ZERO) != amount:
        raise Conflict(f"operation {key} was already applied with another amount")


def _require_active(customer: Customer) -> None:
    if not customer.is_active:
        raise Conflict("the customer is deactivated", fields={"customer": "inactive"})


# --- what the sales module calls ------------------------------------------------------


async def group_discount_percent(uow: UnitOfWork, customer_id: uuid.UUID) -> Decimal:
    """The automatic discount of the customer's group in percent (0.00 without a group).
    Read only; NotFound for an unknown customer. Apply it with
    `hub.domain.customers.discount_amount(total, percent)` (half up to cents)."""
    customer = await find_customer(uow, customer_id)
    if customer.group_id is None:
        return ZERO
    group = await uow.customer_groups.get(customer.group_id)
    return ZERO if group is None else group.discount_percent


async def redeemable_bonus(
    uow: UnitOfWork, customer_id: uuid.UUID, receipt_total: Decimal
) -> Decimal:
    """How many points could pay a receipt of `receipt_total` now: the lesser of the
    customer's unexpired points and the tenant's cap (rounded down). Read only."""
    customer = await find_customer(uow, customer_id)
    now = utcnow()
    unexpired = sum(
        (
            lot.remaining
            for lot in await uow.customer_ledger.open_lots(customer.id)
            if lot.expires_at is None or lot.expires_at > now
        ),
        ZERO,
    )
    cap = redeem_cap(receipt_total, (await settings_of(uow)).bonus_redeem_cap_percent)
    return min(unexpired, cap)


async def charge_credit(
    uow: UnitOfWork,
    customer_id: uuid.UUID,
    amount: Decimal,
    sale_id: uuid.UUID,
    user_id: uuid.UUID | None,
    *,
    now: datetime | None = None,
) -> CustomerLedgerEntry:
    """Put `amount` of sale `sale_id` on the customer's debt.

    Refused with CreditLimitExceeded (409 `credit_limit_exceeded`) when debt + amount
    would pass the credit limit, and with Conflict for a deactivated customer.
    Idempotent by (sale_id, credit_charge)."""
    amount = positive_money(amount)
    key = f"{LedgerKind.CREDIT_CHARGE.value}:{sale_id}"
    customer, moment = await lock_customer(uow, customer_id, now)
    done = await _replay(uow, customer, key)
    if done is not None:
        _same_amount(done, amount, key)
        return done[0]
    _require_active(customer)
    check_credit(debt=customer.debt, credit_limit=customer.credit_limit, amount=amount)
    _record(uow, customer, key, moment)
    return post(
        uow,
        customer,
        LedgerAccount.DEBT,
        LedgerKind.CREDIT_CHARGE,
        amount,
        now=moment,
        user_id=user_id,
        sale_id=sale_id,
        operation=key,
    )


async def pay_from_balance(
    uow: UnitOfWork,
    customer_id: uuid.UUID,
    amount: Decimal,
    sale_id: uuid.UUID,
    user_id: uuid.UUID | None,
    *,
    now: datetime | None = None,
) -> CustomerLedgerEntry:
    """Pay `amount` of sale `sale_id` from the customer's prepaid balance.

    Refused with InsufficientBalance (409 `insufficient_balance`) beyond the balance.
    Idempotent by (sale_id, balance_payment)."""
    amount = positive_money(amount)
    key = f"{LedgerKind.BALANCE_PAYMENT.value}:{sale_id}"
    customer, moment = await lock_customer(uow, customer_id, now)
    done = await _replay(uow, customer, key)
    if done is not None:
        _same_amount(done, amount, key)
        return done[0]
    _require_active(customer)
    check_balance(balance=customer.balance, amount=amount)
    _record(uow, customer, key, moment)
    return post(
        uow,
        customer,
        LedgerAccount.BALANCE,
        LedgerKind.BALANCE_PAYMENT,
        -amount,
        now=moment,
        user_id=user_id,
        sale_id=sale_id,
        operation=key,
    )


async def redeem_bonus(
    uow: UnitOfWork,
    customer_id: uuid.UUID,
    points: Decimal,
    receipt_total: Decimal,
    sale_id: uuid.UUID,
    user_id: uuid.UUID | None,
    *,
    now: datetime | None = None,
) -> CustomerLedgerEntry:
    """Pay `points` (one point = one currency unit) of a receipt of `receipt_total`
    with bonus points.

    Refused with BonusCapExceeded (409 `bonus_cap_exceeded`) above the tenant's cap,
    `receipt_total x bonus_redeem_cap_percent / 100` rounded down to cents, and with
    InsufficientBonus (409 `insufficient_bonus`) beyond the unexpired points. Points
    are taken from the lots that expire first. Idempotent by (sale_id, bonus_redemption).
    """
    points = positive_money(points, "points")
    if not receipt_total.is_finite() or receipt_total <= 0:
        raise ValidationFailed("bad receipt total", fields={"receipt_total": "positive"})
    key = f"{LedgerKind.BONUS_REDEMPTION.value}:{sale_id}"
    customer, moment = await lock_customer(uow, customer_id, now)
    done = await _replay(uow, customer, key)
    if done is not None:
        _same_amount(done, points, key)
        return done[0]
    _require_active(customer)
    settings = await settings_of(uow)
    check_redemption(
        points,
        available=customer.bonus,
        receipt_total=receipt_total,
        cap_percent=settings.bonus_redeem_cap_percent,
    )
    _record(uow, customer, key, moment)
    await _take_points(uow, customer, points)
    return post(
        uow,
        customer,
        LedgerAccount.BONUS,
        LedgerKind.BONUS_REDEMPTION,
        -points,
        now=moment,
        user_id=user_id,
        sale_id=sale_id,
        operation=key,
    )


async def accrue_bonus(
    uow: UnitOfWork,
    customer_id: uuid.UUID,
    paid_amount: Decimal,
    sale_id: uuid.UUID,
    user_id: uuid.UUID | None,
    *,
    now: datetime | None = None,
) -> CustomerLedgerEntry | None:
    """Accrue points for `paid_amount` of sale `sale_id` — the money paid, without the
    part paid with points — at the group's bonus rate, or the tenant's
    `bonus_accrual_percent` when the customer has no group or the group no rate of its
    own; rounded half up to cents. The points expire after the tenant's
    `bonus_ttl_days` (never when unset).

    Returns None when nothing is accrued (rate 0, or less than half a cent); that is
    recorded too, so a repeat after a change of rate still accrues nothing.
    Idempotent by (sale_id, bonus_accrual)."""
    if not paid_amount.is_finite() or paid_amount < 0:
        raise ValidationFailed("bad amount", fields={"paid_amount": "zero or more"})
    key = f"{LedgerKind.BONUS_ACCRUAL.value}:{sale_id}"
    customer, moment = await lock_customer(uow, customer_id, now)
    done = await _replay(uow, customer, key)
    if done is not None:
        return done[0] if done else None
    settings = await settings_of(uow)
    rate = settings.bonus_accrual_percent
    if customer.group_id is not None:
        group = await uow.customer_groups.get(customer.group_id)
        if group is not None and group.bonus_rate is not None:
            rate = group.bonus_rate
    points = bonus_accrual(paid_amount, rate)
    _record(uow, customer, key, moment)
    if points <= 0:
        return None
    _add_lot(uow, customer, points, now=moment, ttl_days=settings.bonus_ttl_days, sale_id=sale_id)
    return post(
        uow,
        customer,
        LedgerAccount.BONUS,
        LedgerKind.BONUS_ACCRUAL,
        points,
        now=moment,
        user_id=user_id,
        sale_id=sale_id,
        operation=key,
        note=f"{rate} % of {paid_amount}",
    )


async def reverse_for_return(
    uow: UnitOfWork,
    customer_id: uuid.UUID,
    sale_id: uuid.UUID,
    return_id: uuid.UUID,
    share: Decimal,
    user_id: uuid.UUID | None,
    *,
    final: bool = False,
    tenders: Mapping[LedgerKind, Decimal] | None = None,
    now: datetime | None = None,
) -> list[CustomerLedgerEntry]:
    """Give back what sale `sale_id` did to the customer's accounts, for a return of
    `share` of the sale (0 < share <= 1, e.g. refund_total / sale_total).

    `tenders`, when the caller has decided them, are the exact amounts given back of
    the sale's credit charge, balance payment and bonus redemption (a return rounds
    each tender's share so that they add up to the lines it refunds); they are capped
    at what earlier returns left, like the rest.

    For each kind the sale wrote (credit charge, balance payment, bonus redemption,
    bonus accrual) the return reverses `original x share`, rounded half up to cents and
    capped at what earlier returns of the sale left unreversed. With `final=True` (the
    return that completes the sale's return) or share = 1 it reverses exactly the
    remainder. So partial returns never restore more than the sale took, and a sale
    returned in full is restored to the cent.

    - credit: the debt goes down; what exceeds the current debt (already repaid) is
      credited to the prepaid balance (kind `credit_reversal` on the balance account);
    - balance payment: back to the balance;
    - redeemed points: back as a new lot with a fresh lifetime;
    - accrued points: taken back, from the sale's own lot first, but never below zero:
      points already spent are not clawed back (the sales module may deduct them from
      the refund if it wishes), and points of the sale that expired count as gone.

    Idempotent by return_id: a repeat returns the rows of the first call."""
    if not share.is_finite() or not 0 < share <= 1:
        raise ValidationFailed("bad share", fields={"share": "greater than 0, at most 1"})
    key = f"return:{return_id}"
    customer, moment = await lock_customer(uow, customer_id, now)
    done = await _replay(uow, customer, key)
    if done is not None:
        return done
    rows = await uow.customer_ledger.of_sale(customer.id, sale_id)
    _record(uow, customer, key, moment)
    settings = await settings_of(uow)

    def moved(kind: LedgerKind) -> Decimal:
        return sum((abs(r.amount) for r in rows if r.kind == kind.value), ZERO)

    written: list[CustomerLedgerEntry] = []

    def write(account: LedgerAccount, kind: LedgerKind, amount: Decimal) -> None:
        written.append(
            post(
                uow,
                customer,
                account,
                kind,
                amount,
                now=moment,
                user_id=user_id,
                sale_id=sale_id,
                return_id=return_id,
                operation=key,
            )
        )

    for original_kind, kind in REVERSAL_OF.items():
        original = moved(original_kind)
        if original_kind is LedgerKind.BONUS_ACCRUAL:
            # Points of the sale's own lot that expired are gone, not to be taken back.
            original -= moved(LedgerKind.BONUS_EXPIRY)
        if tenders is not None and original_kind is not LedgerKind.BONUS_ACCRUAL:
            amount = min(tenders.get(original_kind, ZERO), original - moved(kind))
        else:
            amount = reversal_amount(original, moved(kind), share, final=final)
        if amount <= 0:
            continue
        if original_kind is LedgerKind.CREDIT_CHARGE:
            from_debt = min(amount, max(customer.debt, ZERO))
            if from_debt > 0:
                write(LedgerAccount.DEBT, kind, -from_debt)
            if amount > from_debt:
                write(LedgerAccount.BALANCE, kind, amount - from_debt)
        elif original_kind is LedgerKind.BALANCE_PAYMENT:
            write(LedgerAccount.BALANCE, kind, amount)
        elif original_kind is LedgerKind.BONUS_REDEMPTION:
            _add_lot(
                uow, customer, amount, now=moment, ttl_days=settings.bonus_ttl_days, sale_id=None
            )
            write(LedgerAccount.BONUS, kind, amount)
        else:
            taken = min(amount, customer.bonus)
            if taken > 0:
                await _take_points(uow, customer, taken, first=sale_id)
                write(LedgerAccount.BONUS, kind, -taken)
    return written

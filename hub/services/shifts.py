"""Cash registers and shifts: open with a float, cash in and out, X-report, close with the
counted cash and a Z-report. The report reads the shift's running totals, which sales and
returns (the POS core) will keep in their own transactions."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy.exc import IntegrityError

from hub.adapters.db.repositories import PageRequest
from hub.adapters.db.sales_tables import CashMovement, CashRegister, Shift
from hub.adapters.db.types import utcnow
from hub.adapters.db.uow import UnitOfWork
from hub.domain.catalogue import money
from hub.domain.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from hub.domain.ids import new_id
from hub.domain.permissions import Permission
from hub.domain.shifts import (
    CashMovementKind,
    MethodTotals,
    PaymentMethod,
    ShiftClosed,
    ShiftReport,
    ShiftStatus,
    ShiftTotals,
    check_cash_out,
)
from hub.services import device_jobs
from hub.services.principal import Principal
from hub.services.shops import check_shop_filter, get_shop
from protocol import channels

# --- registers -------------------------------------------------------------------------


async def _visible_shop(uow: UnitOfWork, principal: Principal, shop_id: uuid.UUID) -> None:
    shop = await get_shop(uow, principal, shop_id)
    if not shop.is_active:
        raise ValidationFailed("the shop is closed", fields={"shop": "an active shop"})


async def get_register(
    uow: UnitOfWork, principal: Principal, register_id: uuid.UUID, *, for_update: bool = False
) -> CashRegister:
    register = await uow.registers.get(register_id, for_update=for_update)
    if register is None or not principal.sees_shop(register.shop_id):
        raise NotFound("no such cash register", fields={"cash_register": "no such register"})
    return register


async def check_register_filter(
    uow: UnitOfWork, principal: Principal, register_id: uuid.UUID | None
) -> None:
    """A list's `?cash_register=`: 404 rather than an empty page for a register one
    cannot see (unknown, another business's, another shop's)."""
    if register_id is not None:
        await get_register(uow, principal, register_id)


async def create_register(
    uow: UnitOfWork, principal: Principal, shop_id: uuid.UUID, name: str
) -> CashRegister:
    principal.require(Permission.REGISTERS_MANAGE)
    await _visible_shop(uow, principal, shop_id)
    name = " ".join(name.split())
    if not name:
        raise ValidationFailed("name required", fields={"name": "must not be blank"})
    if await uow.registers.by_name(shop_id, name) is not None:
        raise Conflict("the shop has a register with this name", fields={"name": "taken"})
    register = CashRegister(
        id=new_id(), shop_id=shop_id, name=name, is_active=True, next_receipt_number=1
    )
    register.shifts_count = 0
    uow.registers.add(register)
    await uow.commit()
    return register


async def update_register(
    uow: UnitOfWork,
    principal: Principal,
    register_id: uuid.UUID,
    *,
    name: str | None,
    is_active: bool | None,
) -> CashRegister:
    principal.require(Permission.REGISTERS_MANAGE)
    register = await get_register(uow, principal, register_id)
    if name is not None:
        cleaned = " ".join(name.split())
        twin = await uow.registers.by_name(register.shop_id, cleaned)
        if not cleaned or (twin is not None and twin.id != register.id):
            raise Conflict("the shop has a register with this name", fields={"name": "taken"})
        register.name = cleaned
    if is_active is False and await uow.shifts.open_on(register.id) is not None:
        raise Conflict("close the open shift first", fields={"is_active": "a shift is open"})
    if is_active is not None:
        register.is_active = is_active
    await uow.commit()
    return register


# --- shifts ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ShiftView:
    shift: Shift
    report: ShiftReport


async def shift_totals(uow: UnitOfWork, shift: Shift) -> ShiftTotals:
    by_method = {
        PaymentMethod(row.method): MethodTotals(row.sales, row.refunds, row.count)
        for row in await uow.shifts.method_totals(shift.id)
    }
    return ShiftTotals(
        opening_cash=shift.opening_cash,
        cash_in=shift.cash_in,
        cash_out=shift.cash_out,
        receipts=shift.receipts,
        returns=shift.returns,
        sales_total=shift.sales_total,
        returns_total=shift.returns_total,
        discounts_total=shift.discounts_total,
        first_receipt=shift.first_receipt,
        last_receipt=shift.last_receipt,
        by_method=by_method,
    )


async def view(uow: UnitOfWork, shift: Shift) -> ShiftView:
    kind = "z" if shift.status == ShiftStatus.CLOSED else "x"
    report = ShiftReport(kind, await shift_totals(uow, shift), shift.closing_cash)
    return ShiftView(shift, report)


async def get_shift(
    uow: UnitOfWork, principal: Principal, shift_id: uuid.UUID, *, for_update: bool = False
) -> Shift:
    shift = await uow.shifts.get(shift_id, for_update=for_update)
    if shift is None or not principal.sees_shop(shift.shop_id):
        raise NotFound("no such shift")
    return shift


def _require_own_or_manager(principal: Principal, shift: Shift) -> None:
    """A cashier runs their own shift; managers and owners any in their shops."""
    if principal.has(Permission.SHIFTS_MANAGE):
        return
    principal.require(Permission.SHIFTS_OPERATE)
    if shift.cashier_id != principal.user_id:
        raise PermissionDenied("this is another cashier's shift")


def _announce(uow: UnitOfWork, shift: Shift, type_: str, extra: dict[str, str]) -> None:
    uow.emit(
        channels.sales(uow.tenant_id, shift.shop_id),
        type_,
        {
            "shift": str(shift.id),
            "register": str(shift.register_id),
            "cashier": str(shift.cashier_id),
            "number": str(shift.number),
            **extra,
        },
    )


async def open_shift(
    uow: UnitOfWork, principal: Principal, register_id: uuid.UUID, opening_cash: Decimal
) -> ShiftView:
    """Open a shift on a register for the acting user, with the float in the drawer."""
    principal.require(Permission.SHIFTS_OPERATE)
    if principal.user_id is None:
        raise PermissionDenied("a shift belongs to a person")
    opening_cash = money(opening_cash, field="opening_cash")
    # The register's row lock serialises two tills opening the same register.
    register = await get_register(uow, principal, register_id, for_update=True)
    if not register.is_active:
        raise ValidationFailed("the register is disabled", fields={"cash_register": "inactive"})
    current = await uow.shifts.open_on(register.id)
    if current is not None:
        raise Conflict(
            "the register already has an open shift",
            fields={"cash_register": f"shift {current.number} is open"},
        )
    register.shifts_count += 1
    shift = Shift(
        id=new_id(),
        register_id=register.id,
        shop_id=register.shop_id,
        number=register.shifts_count,
        cashier_id=principal.user_id,
        status=ShiftStatus.OPEN.value,
        opened_at=utcnow(),
        opening_cash=opening_cash,
    )
    uow.shifts.add(shift)
    _announce(uow, shift, "shift.opened", {"opening_cash": str(opening_cash)})
    try:
        await uow.commit()
    except IntegrityError as exc:  # the partial unique index, should the lock be bypassed
        raise Conflict("the register already has an open shift") from exc
    return await view(uow, shift)


async def move_cash(
    uow: UnitOfWork,
    principal: Principal,
    shift_id: uuid.UUID,
    kind: CashMovementKind,
    amount: Decimal,
    reason: str,
) -> ShiftView:
    """Cash into or out of the drawer, with the reason (a float top-up, a pick-up)."""
    shift = await shift_for_cash(uow, principal, shift_id)
    await record_cash(uow, principal, shift, kind, amount, reason)
    await uow.commit()
    return await view(uow, shift)


async def shift_for_cash(uow: UnitOfWork, principal: Principal, shift_id: uuid.UUID) -> Shift:
    """The shift, locked, open, and one the principal may take cash on."""
    shift = await get_shift(uow, principal, shift_id, for_update=True)
    check_drawer(principal, shift)
    return shift


def check_drawer(principal: Principal, shift: Shift) -> None:
    """Cash may go into or out of the shift's drawer: the shift is open, and the
    principal's own (a manager's: any in their shops)."""
    _require_own_or_manager(principal, shift)
    if shift.status != ShiftStatus.OPEN:
        raise ShiftClosed("the shift is closed", fields={"session": "closed"})


async def record_cash(
    uow: UnitOfWork,
    principal: Principal,
    shift: Shift,
    kind: CashMovementKind,
    amount: Decimal,
    reason: str,
) -> None:
    """Cash into or out of the drawer of a locked shift that passed `check_drawer`
    (`shift_for_cash` does both); never more out than the drawer holds, and the till's
    drawer is asked to open. The caller commits."""
    amount = money(amount, field="amount", allow_zero=False)
    reason = reason.strip()
    if not reason:
        raise ValidationFailed("say why", fields={"reason": "required"})
    if kind is CashMovementKind.OUT:
        check_cash_out(await shift_totals(uow, shift), amount)
        shift.cash_out += amount
    else:
        shift.cash_in += amount
    uow.shifts.add(
        CashMovement(
            shift_id=shift.id,
            kind=kind.value,
            amount=amount,
            reason=reason,
            user_id=principal.user_id,
            created_at=utcnow(),
        )
    )
    _announce(uow, shift, "shift.cash", {"kind": kind.value, "amount": str(amount)})
    # The cash goes in or out through the till's drawer.
    await device_jobs.open_till_drawer(
        uow, shift.shop_id, shift.register_id, reason, principal.user_id
    )


async def cash_movements(
    uow: UnitOfWork, principal: Principal, shift_id: uuid.UUID
) -> list[CashMovement]:
    """The shift's cash movements in order (its cashier's, or a manager's to read)."""
    shift = await get_shift(uow, principal, shift_id)
    _require_own_or_manager(principal, shift)
    return await uow.shifts.cash_movements(shift.id)


async def x_report(uow: UnitOfWork, principal: Principal, shift_id: uuid.UUID) -> ShiftView:
    """The shift with its report so far (the Z-report once closed): a cashier's own
    shifts; managers and owners any in their shops."""
    shift = await get_shift(uow, principal, shift_id)
    _require_own_or_manager(principal, shift)
    return await view(uow, shift)


async def record_close(
    uow: UnitOfWork, principal: Principal, shift_id: uuid.UUID, closing_cash: Decimal
) -> ShiftView:
    """Close with the cash counted in the drawer: expected cash, the difference (over or
    short) and the Z-report are fixed on the shift. The caller commits (closing a shift
    also closes the cart left open on it: `carts.close_shift`)."""
    shift = await get_shift(uow, principal, shift_id, for_update=True)
    _require_own_or_manager(principal, shift)
    if shift.status != ShiftStatus.OPEN:
        raise ShiftClosed("the shift is already closed")
    closing_cash = money(closing_cash, field="closing_cash")
    totals = await shift_totals(uow, shift)
    shift.status = ShiftStatus.CLOSED.value
    shift.closed_at = utcnow()
    shift.closed_by = principal.user_id
    shift.closing_cash = closing_cash
    shift.expected_cash = totals.expected_cash
    result = await view(uow, shift)
    _announce(
        uow,
        shift,
        "shift.closed",
        {
            "expected_cash": str(result.report.expected_cash),
            "closing_cash": str(closing_cash),
            "difference": str(result.report.difference),
        },
    )
    return result


async def list_shifts(
    uow: UnitOfWork,
    principal: Principal,
    page: PageRequest | None,
    *,
    shop: uuid.UUID | None = None,
    register: uuid.UUID | None = None,
    cashier: uuid.UUID | None = None,
    status: ShiftStatus | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> tuple[list[ShiftView], int]:
    """Shifts of the principal's shops, a cashier's own only (seeing every shift is
    `shifts.manage`)."""
    principal.require(Permission.SHIFTS_OPERATE)
    await check_shop_filter(uow, principal, shop)
    await check_register_filter(uow, principal, register)
    if not principal.has(Permission.SHIFTS_MANAGE):
        if cashier not in (None, principal.user_id):
            return [], 0
        cashier = principal.user_id
    found, count = await uow.shifts.find(
        page,
        shops=principal.visible_shops(),
        shop=shop,
        register=register,
        cashier=cashier,
        status=status.value if status else None,
        since=since,
        until=until,
    )
    return [await view(uow, s) for s in found], count


async def add_tenders(
    uow: UnitOfWork, shift: Shift, amounts: dict[str, Decimal], *, refund: bool
) -> None:
    """Add a sale's tenders (or a return's refunds) to the shift's per-method totals; for
    the sale and return commits, inside their transactions, with the shift locked."""
    await uow.shifts.add_to_method_totals(shift.id, amounts, refund=refund)

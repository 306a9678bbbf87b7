"""Returns against a sale: never more than sold less earlier returns; the goods back to
the batches they came from; the money back to the sale's own tenders (cash from the
drawer, card back to the card, credit off the debt, balance and bonus points back), in the
shift open at the till; all in one transaction, idempotent by key. The return's receipt
(a return of income for the fiscal register) is a job for the shop's edge agent, written
in the same transaction.

Each line refunds its paid total in proportion to the quantity returned, in cents half
up; the return that completes a line refunds exactly what is left of it. The tenders give
back the same share of what they paid, the return that completes the sale exactly the
rest; a cent of rounding goes to cash or card, so customer accounts get what
`customer_accounts.reverse_for_return` computes with the same rule.

Managers and owners return on their own; a cashier returns with a manager's PIN typed at
the till (`hub/services/pins.py`), and the return records who approved it. Who approved
is checked on every attempt, a replay included, and is not part of the request's digest:
the PIN never is, in any form.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal

from hub.adapters.db.sales_tables import (
    ReturnLine,
    ReturnPayment,
    Sale,
    SaleLine,
    SaleReturn,
    Shift,
)
from hub.adapters.db.types import utcnow
from hub.adapters.db.uow import UnitOfWork
from hub.domain import fingerprints
from hub.domain.accounts import check_pin_shape
from hub.domain.catalogue import QUANTITY_STEP, Unit
from hub.domain.customers import LedgerKind
from hub.domain.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from hub.domain.ids import new_id
from hub.domain.permissions import Permission
from hub.domain.pricing import cents
from hub.domain.shifts import PaymentMethod, ShiftClosed, ShiftStatus, check_cash_out
from hub.services import customer_accounts, device_jobs, pins, stock
from hub.services.deps import Deps
from hub.services.principal import Principal
from hub.services.shifts import add_tenders, get_shift, shift_totals
from protocol import channels
from protocol.errors import ErrorCode

ZERO = Decimal("0.00")


@dataclass(frozen=True)
class ReturnItem:
    product_id: uuid.UUID
    quantity: Decimal


@dataclass(frozen=True)
class ReturnRequest:
    sale_id: uuid.UUID
    items: tuple[ReturnItem, ...]
    shift_id: uuid.UUID | None = None

    def digest(self) -> str:
        """What a retry must repeat to be the same return (`hub.domain.fingerprints`)."""
        return fingerprints.of(self._shape)

    def matches(self, stored: str) -> bool:
        """Whether `stored` is this request's digest, as written now or before decimals
        counted by value."""
        return fingerprints.matches(self._shape, stored)

    def _shape(self, text: Callable[[object], str]) -> list[str]:
        shape = [str(self.sale_id), str(self.shift_id)]
        return shape + [f"{i.product_id}:{text(i.quantity)}" for i in self.items]


@dataclass(frozen=True)
class ReturnView:
    sale_return: SaleReturn
    lines: list[ReturnLine]
    payments: list[ReturnPayment]
    replayed: bool = False


def _take_lines(
    sale_lines: Sequence[SaleLine],
    done: dict[uuid.UUID, tuple[Decimal, Decimal]],
    items: Sequence[ReturnItem],
) -> list[tuple[SaleLine, Decimal, Decimal]]:
    """(sale line, quantity, refund) for each line a return touches; `done` maps a line
    to the quantity and money already returned."""
    taken = []
    for index, item in enumerate(items):
        left = item.quantity
        lines = [line for line in sale_lines if line.product_id == item.product_id]
        if not lines:
            raise ValidationFailed(
                "not in the sale", fields={f"items.{index}.product": "was not sold in it"}
            )
        Unit(lines[0].unit).quantity(item.quantity, field=f"items.{index}.quantity")
        for line in lines:
            sold_qty = line.quantity - done.get(line.id, (ZERO, ZERO))[0]
            refunded = done.get(line.id, (ZERO, ZERO))[1]
            take = min(left, sold_qty)
            if take <= 0:
                continue
            if take == sold_qty:
                refund = line.total - refunded
            else:
                refund = min(cents(line.total * take / line.quantity), line.total - refunded)
            taken.append((line, take, refund))
            done[line.id] = (done.get(line.id, (ZERO, ZERO))[0] + take, refunded + refund)
            left -= take
        if left > 0:
            more = (item.quantity - left).quantize(QUANTITY_STEP)
            raise ValidationFailed(
                "more than was sold", fields={f"items.{index}.quantity": f"at most {more} more"}
            )
    return taken


_DRIFT_ORDER = tuple(
    m.value
    for m in (
        PaymentMethod.CASH,
        PaymentMethod.CARD,
        PaymentMethod.BALANCE,
        PaymentMethod.CREDIT,
        PaymentMethod.BONUS,
    )
)
# The customer's tenders, by the ledger entry a sale wrote for each.
_TENDER_ENTRIES = {
    PaymentMethod.CREDIT.value: LedgerKind.CREDIT_CHARGE,
    PaymentMethod.BALANCE.value: LedgerKind.BALANCE_PAYMENT,
    PaymentMethod.BONUS.value: LedgerKind.BONUS_REDEMPTION,
}


def _refunds_by_method(
    sale: Sale, paid: dict[str, Decimal], refunded: dict[str, Decimal], total: Decimal, final: bool
) -> dict[str, Decimal]:
    share = total / sale.total if sale.total else Decimal(1)
    refunds = {}
    for method, amount in paid.items():
        left = amount - refunded.get(method, ZERO)
        refunds[method] = left if final else min(cents(amount * share), left)
    # Each tender's share is rounded on its own: the cent they miss or overshoot goes
    # to money first, else to the customer's tenders, so that the refunds add up to the
    # lines' refunds (the return receipt's payments must equal its total).
    drift = total - sum(refunds.values(), ZERO)
    for method in _DRIFT_ORDER:
        if drift == 0:
            break
        if method in refunds:
            room = paid[method] - refunded.get(method, ZERO) - refunds[method]
            step = min(drift, room) if drift > 0 else max(drift, -refunds[method])
            refunds[method] += step
            drift -= step
    return {m: a for m, a in refunds.items() if a > 0}


async def _refund_shift(
    uow: UnitOfWork, principal: Principal, sale: Sale, shift_id: uuid.UUID | None
) -> Shift:
    shift = await get_shift(uow, principal, shift_id or sale.shift_id, for_update=True)
    if shift.status != ShiftStatus.OPEN:
        raise ShiftClosed(
            "the refund needs an open shift", fields={"session": "give the open shift"}
        )
    if shift.shop_id != sale.shop_id:
        raise ValidationFailed("another shop's shift", fields={"session": "the sale's shop"})
    if not principal.has(Permission.SHIFTS_MANAGE) and shift.cashier_id != principal.user_id:
        # A cashier pays out of their own drawer only, as they sell into it.
        raise PermissionDenied(
            "this is another cashier's shift", fields={"session": "your own open shift"}
        )
    return shift


async def _authorise(
    deps: Deps,
    uow: UnitOfWork,
    principal: Principal,
    sale: Sale,
    approval: pins.PinApproval | None,
) -> uuid.UUID | None:
    """Who approved: None when the principal may return on their own, else the manager
    whose PIN was typed at the till (a cashier's return)."""
    if principal.has(Permission.SALES_RETURN):
        return None
    principal.require(Permission.SALES_SELL)
    if approval is None:
        raise PermissionDenied(
            "a return needs a manager (sales.return) or a manager's PIN",
            fields={"manager_pin": "required"},
        )
    return await pins.approve(deps, uow, principal, sale.shop_id, approval)


async def _book(
    uow: UnitOfWork, shift: Shift, refund_total: Decimal, refunds: dict[str, Decimal]
) -> None:
    if PaymentMethod.CASH.value in refunds:
        cash = refunds[PaymentMethod.CASH.value]
        check_cash_out(await shift_totals(uow, shift), cash, field="session")
    shift.returns += 1
    shift.returns_total += refund_total
    await add_tenders(uow, shift, refunds, refund=True)


async def make_return(
    deps: Deps,
    uow: UnitOfWork,
    principal: Principal,
    request: ReturnRequest,
    idempotency_key: str,
    *,
    approval: pins.PinApproval | None = None,
) -> ReturnView:
    """Make a return, or find the one this key already made. `approval` is a manager's
    PIN, for a principal who may sell but not return on their own."""
    if not principal.has(Permission.SALES_RETURN):
        principal.require(Permission.SALES_SELL)
    if approval is not None:  # malformed is a 400 whoever sends it, needed or not
        check_pin_shape(approval.pin, field="manager_pin")
    if not request.items:
        raise ValidationFailed("nothing to return", fields={"items": "at least one line"})
    sale = await uow.sales.get(request.sale_id)
    if sale is None or not principal.sees_shop(sale.shop_id):
        raise NotFound("no such sale", fields={"sale": "no such sale"})
    # Before the sale's lock: a PIN costs argon2 verifications.
    approved_by = await _authorise(deps, uow, principal, sale, approval)
    sale = await uow.sales.get(request.sale_id, for_update=True)  # serialises returns
    assert sale is not None
    existing = await uow.sales.return_by_key(idempotency_key)
    if existing is not None:
        if not request.matches(existing.request_digest):
            raise Conflict(
                "this Idempotency-Key was used for another return",
                code=ErrorCode.IDEMPOTENCY_KEY_REUSED,
            )
        return ReturnView(
            existing,
            await uow.sales.return_lines_of(existing.id),
            await uow.sales.return_payments_of(existing.id),
            replayed=True,
        )
    shift = await _refund_shift(uow, principal, sale, request.shift_id)
    register = await uow.registers.get(shift.register_id, for_update=True)  # its number
    assert register is not None
    sale_lines = await uow.sales.lines_of(sale.id)
    done: dict[uuid.UUID, tuple[Decimal, Decimal]] = {}
    for row in await uow.sales.returned_lines(sale.id):
        qty, money = done.get(row.sale_line_id, (ZERO, ZERO))
        done[row.sale_line_id] = (qty + row.quantity, money + row.refund)
    taken = _take_lines(sale_lines, done, request.items)
    refund_total = sum((refund for _, _, refund in taken), ZERO)
    final = all(done.get(line.id, (ZERO, ZERO))[0] == line.quantity for line in sale_lines)
    paid = {p.method: p.amount for p in await uow.sales.payments_of(sale.id)}
    refunded: dict[str, Decimal] = {}
    for earlier in await uow.sales.refunded_payments(sale.id):
        refunded[earlier.method] = refunded.get(earlier.method, ZERO) + earlier.amount
    refunds = _refunds_by_method(sale, paid, refunded, refund_total, final)
    refund_total = sum(refunds.values(), ZERO)
    return_id = new_id()
    if sale.customer_id is not None and refund_total > 0:
        await customer_accounts.reverse_for_return(
            uow,
            sale.customer_id,
            sale.id,
            return_id,
            min(refund_total / sale.total, Decimal(1)),
            principal.user_id,
            final=final,
            tenders={
                entry: refunds.get(method, ZERO)
                for method, entry in _TENDER_ENTRIES.items()
                if method in paid
            },
        )
    await stock.return_to_stock(
        uow,
        sale.shop_id,
        sale.id,
        return_id,
        [stock.StockLine(line.product_id, qty) for line, qty, _ in taken],
        user_id=principal.user_id,
    )
    await _book(uow, shift, refund_total, refunds)
    sale_return = SaleReturn(
        id=return_id,
        idempotency_key=idempotency_key,
        request_digest=request.digest(),
        sale_id=sale.id,
        shop_id=sale.shop_id,
        shift_id=shift.id,
        user_id=principal.user_id,
        approved_by=approved_by,
        refund_total=refund_total,
        number=register.next_return_number,
        created_at=utcnow(),
        receipt_status="pending",
    )
    register.next_return_number += 1
    uow.sales.add(sale_return)
    await uow.session.flush()
    lines = [
        ReturnLine(
            return_id=return_id,
            sale_line_id=line.id,
            product_id=line.product_id,
            quantity=qty,
            refund=refund,
        )
        for line, qty, refund in taken
    ]
    payments = [ReturnPayment(return_id=return_id, method=m, amount=a) for m, a in refunds.items()]
    uow.sales.add(*lines, *payments)
    made = ReturnView(sale_return, lines, payments)
    await device_jobs.enqueue_return_receipt(uow, made, sale, sale_lines)
    uow.emit(
        channels.sales(uow.tenant_id, sale.shop_id),
        "sale.returned",
        {
            "return": str(return_id),
            "sale": str(sale.id),
            "number": sale.number,
            "return_number": sale_return.number,
            "shift": str(shift.id),
            "refund_total": str(refund_total),
            "refunds": {m: str(a) for m, a in refunds.items()},
            "user": str(principal.user_id) if principal.user_id else None,
            "approved_by": str(approved_by) if approved_by else None,
        },
    )
    await uow.commit()
    return made

"""The sale commit: one function for every door (REST, `cart.pay`, and later edge agents
replaying offline sales). In one transaction: the sale, its lines and payments, stock taken
from batches, the customer's ledger (credit, balance, bonus redeemed and accrued), the
shift's totals and a receipt number without gaps; `sale.completed` after commit.

Locks are taken in one order — shift, the paying cart, register, customer, then each
product's stock level by id — so concurrent sales wait for each other instead of
deadlocking. The idempotency key is looked up after the shift's lock: a retry waits for
the first attempt and then finds its sale.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sqlalchemy.exc import IntegrityError

from hub.adapters.db.catalogue_tables import Product
from hub.adapters.db.database import duplicate_key
from hub.adapters.db.sales_tables import Sale, SaleLine, SalePayment, Shift
from hub.adapters.db.types import utcnow
from hub.adapters.db.uow import SALE_COMPLETED, UnitOfWork
from hub.domain import fingerprints
from hub.domain.catalogue import Unit
from hub.domain.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from hub.domain.ids import new_id
from hub.domain.permissions import Permission
from hub.domain.pricing import (
    Discount,
    LineIn,
    PricedLine,
    PricedReceipt,
    Settlement,
    Tender,
    price_receipt,
    settle,
)
from hub.domain.shifts import PaymentMethod, ShiftClosed, ShiftStatus
from hub.services import customer_accounts, device_jobs, stock
from hub.services.principal import Principal
from hub.services.shifts import add_tenders, get_shift
from protocol import channels
from protocol.errors import ErrorCode

CUSTOMER_METHODS = {PaymentMethod.CREDIT, PaymentMethod.BONUS, PaymentMethod.BALANCE}


@dataclass(frozen=True)
class SaleItem:
    product_id: uuid.UUID
    quantity: Decimal
    discount_percent: Decimal | None = None
    discount_amount: Decimal | None = None
    # A live cart's line keeps the price it was scanned at; None (REST) is the
    # product's price now. Only the cart door sets it: a client never names a price.
    price: Decimal | None = None


@dataclass(frozen=True)
class SaleRequest:
    shift_id: uuid.UUID
    items: tuple[SaleItem, ...]
    payments: tuple[Tender, ...]
    customer_id: uuid.UUID | None = None
    discount_percent: Decimal | None = None
    discount_amount: Decimal | None = None

    def digest(self) -> str:
        """What a retry must repeat to be the same sale (`hub.domain.fingerprints`)."""
        return fingerprints.of(self._shape)

    def matches(self, stored: str) -> bool:
        """Whether `stored` is this request's digest: as written now, or as it was
        written before decimals counted by value (a sale committed then, retried now)."""
        return fingerprints.matches(self._shape, stored)

    def _shape(self, text: Callable[[object], str]) -> dict[str, Any]:
        return {
            "shift": str(self.shift_id),
            "items": [
                [
                    str(i.product_id),
                    text(i.quantity),
                    text(i.discount_percent),
                    text(i.discount_amount),
                    *([] if i.price is None else [text(i.price)]),
                ]
                for i in self.items
            ],
            "payments": [[t.method.value, text(t.amount)] for t in self.payments],
            "customer": str(self.customer_id),
            "discount": [text(self.discount_percent), text(self.discount_amount)],
        }


@dataclass(frozen=True)
class SaleView:
    sale: Sale
    lines: list[SaleLine]
    payments: list[SalePayment]
    replayed: bool = field(default=False)


async def read_sale(uow: UnitOfWork, sale: Sale, *, replayed: bool = False) -> SaleView:
    lines = await uow.sales.lines_of(sale.id)
    return SaleView(sale, lines, await uow.sales.payments_of(sale.id), replayed)


async def get_sale(uow: UnitOfWork, principal: Principal, sale_id: uuid.UUID) -> SaleView:
    principal.require(Permission.SALES_VIEW)
    sale = await uow.sales.get(sale_id)
    if sale is None or not principal.sees_shop(sale.shop_id):
        raise NotFound("no such sale")
    return await read_sale(uow, sale)


def _check_sells_in(principal: Principal, shift: Shift) -> None:
    if shift.cashier_id != principal.user_id and not principal.has(Permission.SHIFTS_MANAGE):
        raise PermissionDenied("this is another cashier's shift")
    if shift.status != ShiftStatus.OPEN:
        raise ShiftClosed("the shift is closed", fields={"session": "closed"})


@dataclass(frozen=True)
class _Item:
    product: Product
    quantity: Decimal  # checked against the product's unit
    price: Decimal  # the unit price sold at


async def _price(uow: UnitOfWork, request: SaleRequest) -> tuple[PricedReceipt, list[_Item]]:
    products = await uow.products.many(i.product_id for i in request.items)
    items, lines = [], []
    for index, item in enumerate(request.items):
        where = f"items.{index}"
        product = products.get(item.product_id)
        if product is None:
            raise NotFound("no such product", fields={f"{where}.product": "no such product"})
        if not product.is_active:
            raise ValidationFailed("product not sold", fields={f"{where}.product": "inactive"})
        quantity = Unit(product.unit).quantity(item.quantity, field=f"{where}.quantity")
        if quantity <= 0:
            raise ValidationFailed("bad quantity", fields={f"{where}.quantity": "> 0"})
        discount = Discount(percent=item.discount_percent, amount=item.discount_amount)
        price = product.price if item.price is None else item.price
        items.append(_Item(product, quantity, price))
        lines.append(LineIn(price, quantity, discount))
    group_percent = Decimal("0")
    if request.customer_id is not None:
        customer = await customer_accounts.find_customer(uow, request.customer_id)
        if not customer.is_active:
            raise ValidationFailed("customer deactivated", fields={"customer": "inactive"})
        group_percent = await customer_accounts.group_discount_percent(uow, customer.id)
    receipt = price_receipt(
        lines,
        receipt_discount=Discount(percent=request.discount_percent, amount=request.discount_amount),
        group_discount_percent=group_percent,
    )
    return receipt, items


async def _charge_customer(
    uow: UnitOfWork,
    request: SaleRequest,
    settlement: Settlement,
    total: Decimal,
    sale_id: uuid.UUID,
    user_id: uuid.UUID | None,
) -> Decimal:
    """Credit, prepaid balance and bonus points of the sale; returns the bonus accrued."""
    taken = settlement.taken
    if request.customer_id is None:
        if CUSTOMER_METHODS & set(taken):
            raise ValidationFailed(
                "credit, balance and bonus need a customer", fields={"customer": "required"}
            )
        return Decimal("0.00")
    customer = request.customer_id
    if PaymentMethod.BONUS in taken:
        await customer_accounts.redeem_bonus(
            uow, customer, taken[PaymentMethod.BONUS], total, sale_id, user_id
        )
    if PaymentMethod.CREDIT in taken:
        await customer_accounts.charge_credit(
            uow, customer, taken[PaymentMethod.CREDIT], sale_id, user_id
        )
    if PaymentMethod.BALANCE in taken:
        await customer_accounts.pay_from_balance(
            uow, customer, taken[PaymentMethod.BALANCE], sale_id, user_id
        )
    paid = total - taken.get(PaymentMethod.BONUS, Decimal("0.00"))
    accrued = await customer_accounts.accrue_bonus(uow, customer, paid, sale_id, user_id)
    return accrued.amount if accrued is not None else Decimal("0.00")


async def _add_to_shift(uow: UnitOfWork, shift: Shift, sale: Sale, settlement: Settlement) -> None:
    shift.receipts += 1
    shift.sales_total += sale.total
    shift.discounts_total += sale.discount_total
    shift.first_receipt = shift.first_receipt or sale.number
    shift.last_receipt = sale.number
    await add_tenders(uow, shift, {m.value: a for m, a in settlement.taken.items()}, refund=False)


async def commit_sale(
    uow: UnitOfWork,
    principal: Principal,
    request: SaleRequest,
    idempotency_key: str,
) -> SaleView:
    """Commit a sale, or return the one this key already committed."""
    view = await record_sale(uow, principal, request, idempotency_key)
    if not view.replayed:
        await uow.commit()
    return view


async def record_sale(
    uow: UnitOfWork,
    principal: Principal,
    request: SaleRequest,
    idempotency_key: str,
    *,
    cart_id: uuid.UUID | None = None,
) -> SaleView:
    """Write a sale into the unit of work without committing (the caller commits, with
    whatever else belongs to the same transaction), or find the one this key already
    committed (`replayed`). A live cart's sale names the cart: its reserved goods are the
    ones sold, and what it still holds beyond them is released (`stock.consume_for_sale`)."""
    principal.require(Permission.SALES_SELL)
    if not request.items:
        raise ValidationFailed("an empty sale", fields={"items": "at least one line"})
    shift = await get_shift(uow, principal, request.shift_id, for_update=True)
    existing = await uow.sales.by_key(idempotency_key)
    if existing is not None:
        # Before the shift's state: a retry whose reply was lost finds its sale even
        # after the shift was closed.
        if not request.matches(existing.request_digest):
            raise Conflict(
                "this Idempotency-Key was used for another sale",
                code=ErrorCode.IDEMPOTENCY_KEY_REUSED,
            )
        return await read_sale(uow, existing, replayed=True)
    _check_sells_in(principal, shift)
    register = await uow.registers.get(shift.register_id, for_update=True)
    assert register is not None
    receipt, items = await _price(uow, request)
    settlement = settle(receipt.total, request.payments)
    sale_id = new_id()
    bonus_accrued = await _charge_customer(
        uow, request, settlement, receipt.total, sale_id, principal.user_id
    )
    await stock.consume_for_sale(
        uow,
        shift.shop_id,
        sale_id,
        [stock.StockLine(item.product.id, item.quantity) for item in items],
        user_id=principal.user_id,
        holder_id=cart_id,
        new_sale=True,
    )
    sale = new_sale(
        sale_id,
        idempotency_key,
        request,
        shop_id=shift.shop_id,
        register_id=register.id,
        number=register.next_receipt_number,
        cashier_id=principal.user_id or shift.cashier_id,
        receipt=receipt,
        settlement=settlement,
        bonus_accrued=bonus_accrued,
    )
    register.next_receipt_number += 1
    uow.sales.add(sale)
    try:
        await uow.session.flush()
    except IntegrityError as exc:
        # The key's sale was committed meanwhile on another shift (on the same one the
        # shift's lock would have made this wait and find it): another sale's key.
        if duplicate_key(exc, "idempotency_key"):
            raise Conflict(
                "this Idempotency-Key was used for another sale",
                code=ErrorCode.IDEMPOTENCY_KEY_REUSED,
            ) from exc
        raise
    lines = [
        sale_line(sale.id, position, item.product, item.price, item.quantity, priced)
        for position, (item, priced) in enumerate(zip(items, receipt.lines, strict=True), 1)
    ]
    payments = sale_payments(sale.id, settlement)
    uow.sales.add(*lines, *payments)
    await _add_to_shift(uow, shift, sale, settlement)
    view = SaleView(sale, lines, payments)
    announce_sale(uow, view)
    await device_jobs.enqueue_receipt(uow, view, new_sale=True)
    return view


def new_sale(
    sale_id: uuid.UUID,
    idempotency_key: str,
    request: SaleRequest,
    *,
    shop_id: uuid.UUID,
    register_id: uuid.UUID,
    number: int,
    cashier_id: uuid.UUID,
    receipt: PricedReceipt,
    settlement: Settlement,
    bonus_accrued: Decimal,
) -> Sale:
    """A sale's row: the request's shift, customer and digest, the priced receipt's
    totals and the settlement's cash, made now, its receipt not yet printed."""
    return Sale(
        id=sale_id,
        idempotency_key=idempotency_key,
        request_digest=request.digest(),
        shop_id=shop_id,
        register_id=register_id,
        shift_id=request.shift_id,
        number=number,
        cashier_id=cashier_id,
        customer_id=request.customer_id,
        subtotal=receipt.subtotal,
        discount_total=receipt.discount_total,
        receipt_discount=receipt.receipt_discount,
        receipt_discount_percent=receipt.receipt_discount_percent,
        total=receipt.total,
        tendered_cash=settlement.tendered_cash,
        change=settlement.change,
        bonus_accrued=bonus_accrued,
        created_at=utcnow(),
        receipt_status="pending",  # the column's default, set here for rows written in SQL
    )


def sale_line(
    sale_id: uuid.UUID,
    position: int,
    product: Product,
    price: Decimal,
    quantity: Decimal,
    priced: PricedLine,
) -> SaleLine:
    """A sale's line: the product as it is sold (name, unit, VAT, cost), at `price`,
    with what the pricing gave the line."""
    return SaleLine(
        id=new_id(),
        sale_id=sale_id,
        position=position,
        product_id=product.id,
        name=product.name,
        unit=product.unit,
        vat_rate=product.vat_rate,
        price=price,
        quantity=quantity,
        amount=priced.amount,
        line_discount=priced.line_discount,
        receipt_discount=priced.receipt_discount,
        total=priced.total,
        cost=product.cost,
    )


def sale_payments(sale_id: uuid.UUID, settlement: Settlement) -> list[SalePayment]:
    """What each method took, by method."""
    return [
        SalePayment(sale_id=sale_id, method=method.value, amount=amount)
        for method, amount in sorted(settlement.taken.items())
    ]


def announce_sale(uow: UnitOfWork, view: SaleView) -> None:
    """`sale.completed` on the shop's sales channel, with what a dashboard shows."""
    sale = view.sale
    uow.emit(
        channels.sales(uow.tenant_id, sale.shop_id),
        SALE_COMPLETED,
        {
            "sale": str(sale.id),
            "number": sale.number,
            "register": str(sale.register_id),
            "shift": str(sale.shift_id),
            "cashier": str(sale.cashier_id),
            "customer": str(sale.customer_id) if sale.customer_id else None,
            "total": str(sale.total),
            "discount_total": str(sale.discount_total),
            "payments": {p.method: str(p.amount) for p in view.payments},
            "lines": len(view.lines),
            "created_at": sale.created_at.isoformat(),
        },
    )

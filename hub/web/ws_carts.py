"""The websocket door to live carts: each `cart.*` request is one call of
`hub.services.carts` in its own unit of work, or, on PostgreSQL, `cart.open`, the line
changes and `cart.pay` go first to the group writer (`hub.services.cart_groups`), which
makes them with other tills' in one transaction or hands them back to be made here one
at a time; the reply carries the cart."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from typing import Any

from hub.adapters.db.uow import UnitOfWork
from hub.domain.errors import ValidationFailed
from hub.domain.pricing import Discount, Tender
from hub.domain.shifts import PaymentMethod
from hub.services import carts
from hub.services.cart_groups import LineChange
from hub.services.carts import CartView, ProductRef
from hub.services.deps import Deps
from hub.services.principal import Principal
from hub.services.sale_groups import PayChange
from hub.services.sales import SaleView
from protocol import messages as m


def _ref(request: m.CartAdd | m.CartSetQuantity | m.CartRemove | m.CartDiscountLine) -> ProductRef:
    return ProductRef(product_id=request.product, barcode=request.barcode)


def sale_summary(view: SaleView) -> dict[str, Any]:
    sale = view.sale
    return {
        "id": str(sale.id),
        "number": sale.number,
        "total": str(sale.total),
        "tendered_cash": str(sale.tendered_cash),
        "change": str(sale.change),
        "bonus_accrued": str(sale.bonus_accrued),
        "payments": {p.method: str(p.amount) for p in view.payments},
        "created_at": sale.created_at.isoformat(),
        "replayed": view.replayed,
    }


_SENT_AS = {"discount_amount": "amount", "discount_percent": "percent"}


@contextmanager
def _discount_fields_as_sent() -> Iterator[None]:
    """The pricing rule names a refused discount as REST sends it (`discount_amount`,
    `items.2.discount_amount`); a cart request said `amount` or `percent`."""
    try:
        yield
    except ValidationFailed as refused:
        refused.fields = {
            _SENT_AS.get(name.rsplit(".", 1)[-1], name): problem
            for name, problem in refused.fields.items()
        }
        raise


async def _change(uow: UnitOfWork, who: Principal, request: m.Message) -> CartView:
    match request:
        case m.CartAdd(cart=cart, version=version, quantity=quantity):
            return await carts.add_item(uow, who, cart, version, _ref(request), quantity)
        case m.CartSetQuantity(cart=cart, version=version, quantity=quantity):
            return await carts.set_quantity(uow, who, cart, version, _ref(request), quantity)
        case m.CartRemove(cart=cart, version=version):
            return await carts.remove_item(uow, who, cart, version, _ref(request))
        case m.CartDiscountLine(cart=cart, version=version, percent=percent, amount=amount):
            with _discount_fields_as_sent():
                discount = Discount(percent=percent, amount=amount)
                return await carts.discount_item(uow, who, cart, version, _ref(request), discount)
        case m.CartDiscount(cart=cart, version=version, percent=percent, amount=amount):
            with _discount_fields_as_sent():
                discount = Discount(percent=percent, amount=amount)
                return await carts.discount_cart(uow, who, cart, version, discount)
        case m.CartCustomer(cart=cart, version=version, customer=customer):
            return await carts.set_customer(uow, who, cart, version, customer)
        case m.CartBonus(cart=cart, version=version, amount=amount):
            return await carts.redeem_bonus(uow, who, cart, version, amount)
        case m.CartCancel(cart=cart, version=version):
            return await carts.cancel_cart(uow, who, cart, version)
    raise AssertionError(type(request).__name__)


async def _grouped(deps: Deps, principal: Principal, request: m.Message) -> CartView | None:
    """A line change, through the group writer when there is one; None: the change goes
    one at a time (`hub.services.cart_groups` hands back what it does not decide)."""
    groups = deps.cart_groups
    if groups is None or not isinstance(request, m.CartAdd | m.CartSetQuantity | m.CartRemove):
        return None
    quantity = Decimal(0) if isinstance(request, m.CartRemove) else request.quantity
    absolute = not isinstance(request, m.CartAdd)
    change = LineChange(
        request.cart, request.version, quantity, absolute, request.product, request.barcode
    )
    return await groups.change(principal, change)


async def handle(deps: Deps, principal: Principal, request: m.Message) -> dict[str, Any]:
    """The `ok` data of a cart request; domain errors propagate to the caller's reply."""
    tenant = principal.tenant_id
    match request:
        case m.CartGet(cart=cart):
            async with UnitOfWork(deps.db, tenant) as uow:
                return {"cart": (await carts.get_cart(uow, principal, cart)).document()}
        case m.CartOpen(session=shift):
            opened = (
                None if deps.cart_groups is None else await deps.cart_groups.open(principal, shift)
            )
            if opened is not None:
                return {"cart": opened.document()}
            async with UnitOfWork(deps.db, tenant, write=True) as uow:
                return {"cart": (await carts.open_cart(uow, principal, shift)).document()}
        case m.CartPay(cart=cart, version=version, payments=payments, idempotency_key=key):
            tenders = tuple(Tender(PaymentMethod(p.method), p.amount) for p in payments)
            if deps.cart_groups is not None:
                paid = await deps.cart_groups.pay(principal, PayChange(cart, version, tenders, key))
                if paid is not None:
                    return {"cart": paid.cart.document(), "sale": sale_summary(paid.sale)}
            async with UnitOfWork(deps.db, tenant, write=True) as uow:
                view, sale = await carts.pay_cart(uow, principal, cart, version, tenders, key)
                return {"cart": view.document(), "sale": sale_summary(sale)}
    grouped = await _grouped(deps, principal, request)
    if grouped is not None:
        return {"cart": grouped.document()}
    async with UnitOfWork(deps.db, tenant, write=True) as uow:
        return {"cart": (await _change(uow, principal, request)).document()}

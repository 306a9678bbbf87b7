"""Live carts: the till's receipt as server state, changed line by line and paid.

Every change locks the cart's row, checks the version the till last saw (a stale version
is refused with the cart as it is now), applies the change, bumps the version and emits
`cart.updated` with the whole priced cart on the cart's channel and on the shop's
live-carts channel, in the same transaction. Two tills, two hub processes, a manager and
a cashier: their changes are serialised by the row lock and the version, never lost and
never applied twice.

Goods in a cart are reserved (`stock.reserve`, keyed by the cart): a line's quantity is
held while the cart is open, released when the line goes or the cart closes, and sold
from the reservation when the cart is paid. A cart untouched for the tenant's
`cart_idle_minutes`, or left open on a closed shift, expires (`expire_abandoned`).

Lock order, shared with the sale commit: shift, cart, register, customer, stock levels.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from hub.adapters.db.cart_tables import Cart
from hub.adapters.db.catalogue_tables import Product
from hub.adapters.db.customer_tables import Customer
from hub.adapters.db.repositories import PageRequest
from hub.adapters.db.sales_tables import Shift
from hub.adapters.db.types import utcnow
from hub.adapters.db.uow import UnitOfWork
from hub.domain import carts as rules
from hub.domain.carts import CartLine, CartStatus
from hub.domain.catalogue import QUANTITY_STEP, Unit
from hub.domain.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from hub.domain.ids import new_id
from hub.domain.permissions import Permission
from hub.domain.pricing import ZERO, Discount, LineIn, PricedReceipt, Tender, cents, price_receipt
from hub.domain.shifts import PaymentMethod, ShiftClosed, ShiftStatus
from hub.domain.tenant_settings import TenantSettings
from hub.services import customer_accounts, shifts, stock
from hub.services.principal import Principal
from hub.services.sales import SaleItem, SaleRequest, SaleView, read_sale, record_sale
from hub.services.shifts import ShiftView
from hub.services.shops import check_shop_filter
from protocol import channels
from protocol.errors import ErrorCode

EXPIRY_BATCH = 100


@dataclass(frozen=True)
class ProductRef:
    """A line's product, as the till knows it: its id or a scanned barcode."""

    product_id: uuid.UUID | None = None
    barcode: str | None = None


@dataclass(frozen=True)
class CartView:
    cart: Cart
    lines: tuple[CartLine, ...]
    products: dict[uuid.UUID, Product]
    customer: Customer | None
    group_percent: Decimal
    receipt: PricedReceipt | None  # None while the cart is empty
    # What the customer may redeem on this total now (their points, the tenant's cap);
    # read only while the cart holds points to redeem.
    bonus_limit: Decimal | None = None

    @property
    def total(self) -> Decimal:
        return self.receipt.total if self.receipt else ZERO

    @property
    def bonus(self) -> Decimal:
        """Points to redeem: those chosen, never more than the total nor than the cap on
        it now. A discount given after the points lowers them with the total (and
        taking it back restores them), so `to_pay` is always what the sale accepts."""
        limit = self.total if self.bonus_limit is None else min(self.total, self.bonus_limit)
        return min(self.cart.bonus, limit)

    def document(self) -> dict[str, Any]:
        """The cart as events, replies and the REST snapshot carry it: money and
        quantities as decimal strings."""
        cart, receipt = self.cart, self.receipt
        lines = []
        for index, line in enumerate(self.lines):
            product = self.products[line.product_id]
            priced = receipt.lines[index] if receipt else None
            lines.append(
                {
                    "product": str(line.product_id),
                    "name": product.name,
                    "sku": product.sku,
                    "unit": product.unit,
                    "price": str(_price_of(line, self.products)),
                    "quantity": str(line.quantity.quantize(QUANTITY_STEP)),
                    "discount_percent": _text(line.discount.percent),
                    "discount_amount": _text(line.discount.amount),
                    "amount": str(priced.amount if priced else ZERO),
                    "line_discount": str(priced.line_discount if priced else ZERO),
                    "receipt_discount": str(priced.receipt_discount if priced else ZERO),
                    "total": str(priced.total if priced else ZERO),
                }
            )
        customer = self.customer
        return {
            "id": str(cart.id),
            "shop": str(cart.shop_id),
            "cash_register": str(cart.register_id),
            "session": str(cart.shift_id),
            "cashier": str(cart.cashier_id),
            "status": cart.status,
            "version": cart.version,
            "customer": None
            if customer is None
            else {
                "id": str(customer.id),
                "name": customer.name,
                "phone": customer.phone,
                "group_discount_percent": str(self.group_percent),
            },
            "lines": lines,
            "discount_percent": _text(cart.discount_percent),
            "discount_amount": _text(cart.discount_amount),
            "subtotal": str(receipt.subtotal if receipt else ZERO),
            "discount_total": str(receipt.discount_total if receipt else ZERO),
            "receipt_discount": str(receipt.receipt_discount if receipt else ZERO),
            "total": str(self.total),
            "bonus": str(self.bonus),
            "to_pay": str(self.total - self.bonus),
            "sale": str(cart.sale_id) if cart.sale_id else None,
            "created_at": cart.created_at.isoformat(),
            "updated_at": cart.updated_at.isoformat(),
            "closed_at": cart.closed_at.isoformat() if cart.closed_at else None,
        }


def _text(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def _price_of(line: CartLine, products: dict[uuid.UUID, Product]) -> Decimal:
    return products[line.product_id].price if line.price is None else line.price


# --- reading -------------------------------------------------------------------------


async def render(uow: UnitOfWork, cart: Cart) -> CartView:
    """The cart priced by the rule of `hub.domain.pricing`, each line at its own price
    (the product's when it was scanned)."""
    lines = rules.lines_from_json(cart.lines)
    products = await uow.products.many(line.product_id for line in lines)
    return await view_of(uow, cart, lines, products)


async def view_of(
    uow: UnitOfWork, cart: Cart, lines: tuple[CartLine, ...], products: dict[uuid.UUID, Product]
) -> CartView:
    """`lines` priced as the cart's, with its discounts and what its customer brings
    (their group's discount, the points they may redeem); read only."""
    customer = None
    group_percent = ZERO
    if cart.customer_id is not None:
        customer = await customer_accounts.find_customer(uow, cart.customer_id)
        group_percent = await customer_accounts.group_discount_percent(uow, customer.id)
    receipt = price_lines(cart, lines, products, group_percent)
    bonus_limit = None
    if customer is not None and cart.bonus > 0 and receipt is not None:
        bonus_limit = await customer_accounts.redeemable_bonus(uow, customer.id, receipt.total)
    return CartView(cart, lines, products, customer, group_percent, receipt, bonus_limit)


def price_lines(
    cart: Cart,
    lines: tuple[CartLine, ...],
    products: dict[uuid.UUID, Product],
    group_percent: Decimal = ZERO,
) -> PricedReceipt | None:
    """The cart's lines priced with its discounts (None while it has none); a discount
    larger than its line is refused here."""
    if not lines:
        return None
    return price_receipt(
        [LineIn(_price_of(x, products), x.quantity, x.discount) for x in lines],
        receipt_discount=Discount(percent=cart.discount_percent, amount=cart.discount_amount),
        group_discount_percent=group_percent,
    )


def _may_read(principal: Principal, cart: Cart) -> bool:
    if not principal.sees_shop(cart.shop_id):
        return False
    return principal.has(Permission.SALES_SELL) or principal.has(Permission.LIVE_WATCH)


async def get_cart(uow: UnitOfWork, principal: Principal, cart_id: uuid.UUID) -> CartView:
    cart = await uow.carts.get(cart_id)
    if cart is None or not _may_read(principal, cart):
        raise NotFound("no such cart")
    return await render(uow, cart)


async def list_carts(
    uow: UnitOfWork,
    principal: Principal,
    page: PageRequest,
    *,
    shop: uuid.UUID | None = None,
    status: CartStatus | None = None,
    register: uuid.UUID | None = None,
) -> tuple[list[CartView], int]:
    """Carts of the principal's shops, newest first: a dashboard's live carts."""
    if not (principal.has(Permission.SALES_SELL) or principal.has(Permission.LIVE_WATCH)):
        raise PermissionDenied("your role may not see carts")
    await check_shop_filter(uow, principal, shop)
    await shifts.check_register_filter(uow, principal, register)
    found, total = await uow.carts.find(
        page,
        shops=principal.visible_shops(),
        shop=shop,
        status=status.value if status else None,
        register=register,
    )
    return [await render(uow, cart) for cart in found], total


# --- changing ------------------------------------------------------------------------


def _require_editor(principal: Principal, cart: Cart) -> None:
    principal.require(Permission.SALES_SELL)
    if cart.cashier_id != principal.user_id and not principal.has(Permission.SHIFTS_MANAGE):
        raise PermissionDenied("this is another cashier's cart")


def announce(uow: UnitOfWork, view: CartView, type_: str) -> None:
    document = view.document()
    cart = view.cart
    uow.emit(channels.cart(uow.tenant_id, cart.shop_id, cart.id), type_, document)
    uow.emit(channels.carts(uow.tenant_id, cart.shop_id), type_, document)


async def _check_version(uow: UnitOfWork, cart: Cart, version: int) -> None:
    if version != cart.version:
        raise rules.StaleVersion(version, (await render(uow, cart)).document())


async def _editable(
    uow: UnitOfWork, principal: Principal, cart_id: uuid.UUID, version: int
) -> tuple[Cart, str]:
    """The cart, locked, open, at the version the caller saw, and theirs to change; with
    its shift's status."""
    found = await uow.carts.lock_with_shift_status(cart_id)
    if found is None or not principal.sees_shop(found[0].shop_id):
        raise NotFound("no such cart")
    cart, shift_status = found
    _require_editor(principal, cart)
    rules.check_open(cart.status)
    await _check_version(uow, cart, version)
    return cart, shift_status


async def _edit(uow: UnitOfWork, principal: Principal, cart_id: uuid.UUID, version: int) -> Cart:
    """`_editable`, on an open shift: a cart of a closed shift takes no more lines."""
    cart, shift_status = await _editable(uow, principal, cart_id, version)
    if shift_status != ShiftStatus.OPEN:
        raise ShiftClosed("the cart's shift is closed", fields={"session": "closed"})
    return cart


async def _save(
    uow: UnitOfWork, cart: Cart, lines: tuple[CartLine, ...] | None = None, *, commit: bool = True
) -> CartView:
    if lines is not None:
        cart.lines = rules.lines_to_json(lines)
    cart.version += 1
    cart.updated_at = utcnow()
    view = await render(uow, cart)  # a discount larger than its line is refused here
    announce(uow, view, "cart.updated")
    if commit:
        await uow.commit()
    return view


async def open_cart(uow: UnitOfWork, principal: Principal, shift_id: uuid.UUID) -> CartView:
    """The shift's open cart, or a new one: a till that reloads continues its cart."""
    principal.require(Permission.SALES_SELL)
    shift = await uow.shifts.get(shift_id, for_update=True)  # serialises two opens
    if shift is None or not principal.sees_shop(shift.shop_id):
        raise NotFound("no such shift")
    if shift.cashier_id != principal.user_id and not principal.has(Permission.SHIFTS_MANAGE):
        raise PermissionDenied("this is another cashier's shift")
    if shift.status != ShiftStatus.OPEN:
        raise ShiftClosed("the shift is closed", fields={"session": "closed"})
    existing = await uow.carts.open_of_shift(shift.id)
    if existing is not None:
        return await render(uow, existing)
    cart = await _new_cart(uow, shift)
    view = await render(uow, cart)
    announce(uow, view, "cart.updated")
    await uow.commit()
    return view


def new_cart(
    shop_id: uuid.UUID,
    register_id: uuid.UUID,
    shift_id: uuid.UUID,
    cashier_id: uuid.UUID,
    now: datetime,
) -> Cart:
    """An empty open cart of a shift, not yet stored."""
    return Cart(
        id=new_id(),
        shop_id=shop_id,
        register_id=register_id,
        shift_id=shift_id,
        cashier_id=cashier_id,
        status=CartStatus.OPEN.value,
        version=1,
        lines=[],
        bonus=ZERO,
        created_at=now,
        updated_at=now,
    )


async def _new_cart(uow: UnitOfWork, shift: Shift) -> Cart:
    cart = new_cart(shift.shop_id, shift.register_id, shift.id, shift.cashier_id, utcnow())
    uow.carts.add(cart)
    await uow.session.flush()
    return cart


async def add_scanned(
    uow: UnitOfWork, principal: Principal, register_id: uuid.UUID, barcode: str
) -> CartView:
    """A code read by a scanner bound to a till (an edge agent's device): one more of
    the product in the till's cart, at whatever version it is — the scanner cannot know
    it. The cart is opened if the till has none; the till sees the line arrive as
    `cart.updated`. The caller commits (with its record of the scan)."""
    register = await uow.registers.get(register_id)
    if register is None or not principal.sees_shop(register.shop_id):
        raise NotFound("no such cash register", fields={"register": "not in this shop"})
    shift = await uow.shifts.open_on(register.id)
    if shift is None:
        raise ShiftClosed("no open shift on this till", fields={"register": "no open shift"})
    await uow.shifts.get(shift.id, for_update=True)  # the order of locks: shift, cart
    found = await uow.carts.open_of_shift(shift.id)
    cart = await _new_cart(uow, shift) if found is None else found
    cart = await uow.carts.get(cart.id, for_update=True) or cart
    product = await _product(uow, ProductRef(barcode=barcode))
    if not product.is_active:
        raise ValidationFailed("product not sold", fields={"barcode": "inactive"})
    lines = rules.add(rules.lines_from_json(cart.lines), product.id, Decimal(1), product.price)
    await _reserve(uow, cart, lines, product.id)
    return await _save(uow, cart, lines, commit=False)


async def announce_refusal(
    uow: UnitOfWork, register_id: uuid.UUID, code: str, reason: str, error: str
) -> None:
    """Tell the till a scan did not make it into its cart (on the cart's channel); the
    caller commits."""
    shift = await uow.shifts.open_on(register_id)
    cart = None if shift is None else await uow.carts.open_of_shift(shift.id)
    if cart is not None:
        uow.emit(
            channels.cart(uow.tenant_id, cart.shop_id, cart.id),
            "cart.scan_refused",
            {"cart": str(cart.id), "barcode": code, "code": error, "message": reason},
        )


async def _product(uow: UnitOfWork, ref: ProductRef, lines: tuple[CartLine, ...] = ()) -> Product:
    """The product a change names; with `lines`, their products are read in the same
    statement (the cart is priced with them after the change)."""
    if ref.product_id is not None:
        if lines:
            await uow.products.many([ref.product_id, *(x.product_id for x in lines)])
        product = await uow.products.get(ref.product_id)  # loaded just now: no statement
        field = "product"
    elif ref.barcode is not None:
        product = await uow.products.by_barcode(ref.barcode.strip())
        field = "barcode"
    else:
        raise ValidationFailed("name a product", fields={"product": "a product id or a barcode"})
    if product is None:
        raise NotFound("no such product", fields={field: "no such product"})
    return product


async def _reserve(
    uow: UnitOfWork, cart: Cart, lines: tuple[CartLine, ...], product_id: uuid.UUID
) -> None:
    held = rules.quantity_of(lines, product_id)
    await stock.reserve(uow, cart.id, cart.shop_id, product_id, held)


async def add_item(
    uow: UnitOfWork,
    principal: Principal,
    cart_id: uuid.UUID,
    version: int,
    ref: ProductRef,
    quantity: Decimal = Decimal(1),
) -> CartView:
    """A scanned or picked product: onto its line, or a new line; its goods reserved."""
    cart = await _edit(uow, principal, cart_id, version)
    lines = rules.lines_from_json(cart.lines)
    product = await _product(uow, ref, lines)
    if not product.is_active:
        raise ValidationFailed("product not sold", fields={"product": "inactive"})
    quantity = Unit(product.unit).quantity(quantity)
    lines = rules.add(lines, product.id, quantity, product.price)
    await _reserve(uow, cart, lines, product.id)
    return await _save(uow, cart, lines)


async def set_quantity(
    uow: UnitOfWork,
    principal: Principal,
    cart_id: uuid.UUID,
    version: int,
    ref: ProductRef,
    quantity: Decimal,
) -> CartView:
    """A line's quantity (zero removes the line); the reservation follows."""
    cart = await _edit(uow, principal, cart_id, version)
    lines = rules.lines_from_json(cart.lines)
    product = await _product(uow, ref, lines)
    quantity = Unit(product.unit).quantity(quantity)
    if quantity < 0:
        raise ValidationFailed("bad quantity", fields={"quantity": "0 or more"})
    lines = rules.set_quantity(lines, product.id, quantity)
    await _reserve(uow, cart, lines, product.id)
    return await _save(uow, cart, lines)


async def remove_item(
    uow: UnitOfWork, principal: Principal, cart_id: uuid.UUID, version: int, ref: ProductRef
) -> CartView:
    return await set_quantity(uow, principal, cart_id, version, ref, Decimal(0))


async def discount_item(
    uow: UnitOfWork,
    principal: Principal,
    cart_id: uuid.UUID,
    version: int,
    ref: ProductRef,
    discount: Discount,
) -> CartView:
    """A line's own discount (percent or amount; no discount clears it)."""
    cart = await _edit(uow, principal, cart_id, version)
    lines = rules.lines_from_json(cart.lines)
    product = await _product(uow, ref, lines)
    lines = rules.discount_line(lines, product.id, discount)
    return await _save(uow, cart, lines)


async def discount_cart(
    uow: UnitOfWork, principal: Principal, cart_id: uuid.UUID, version: int, discount: Discount
) -> CartView:
    """The receipt's discount; the customer's group discount wins when it is larger."""
    cart = await _edit(uow, principal, cart_id, version)
    cart.discount_percent = discount.percent
    cart.discount_amount = discount.amount
    return await _save(uow, cart)


async def set_customer(
    uow: UnitOfWork,
    principal: Principal,
    cart_id: uuid.UUID,
    version: int,
    customer_id: uuid.UUID | None,
) -> CartView:
    """Attach a customer (their group's discount applies), or detach (None); points to
    redeem are dropped with the customer they belonged to."""
    cart = await _edit(uow, principal, cart_id, version)
    if customer_id is not None:
        customer = await customer_accounts.find_customer(uow, customer_id)
        if not customer.is_active:
            raise ValidationFailed("customer deactivated", fields={"customer": "inactive"})
    if customer_id != cart.customer_id:
        cart.bonus = ZERO
    cart.customer_id = customer_id
    return await _save(uow, cart)


async def redeem_bonus(
    uow: UnitOfWork, principal: Principal, cart_id: uuid.UUID, version: int, amount: Decimal
) -> CartView:
    """Points the customer spends on this receipt (1 point = 1 currency unit), within
    their unexpired points and the tenant's cap; zero cancels."""
    cart = await _edit(uow, principal, cart_id, version)
    if amount < 0 or amount != cents(amount):
        raise ValidationFailed("bad amount", fields={"amount": "0 or more, in cents"})
    if amount > 0:
        if cart.customer_id is None:
            raise ValidationFailed("attach a customer first", fields={"customer": "required"})
        total = (await render(uow, cart)).total
        allowed = await customer_accounts.redeemable_bonus(uow, cart.customer_id, total)
        if amount > allowed:
            raise Conflict(
                f"at most {allowed} points on this receipt",
                fields={"amount": f"at most {allowed}"},
                code=ErrorCode.BONUS_CAP_EXCEEDED,
            )
    cart.bonus = amount
    return await _save(uow, cart)


async def _close(uow: UnitOfWork, cart: Cart, status: CartStatus) -> CartView:
    if status != CartStatus.PAID:  # a paid cart's goods were sold, and the rest released
        await stock.release(uow, cart.id)
    now = utcnow()
    cart.status = status.value
    cart.version += 1
    cart.updated_at = cart.closed_at = now
    view = await render(uow, cart)
    announce(uow, view, "cart.closed")
    return view


async def cancel_cart(
    uow: UnitOfWork, principal: Principal, cart_id: uuid.UUID, version: int
) -> CartView:
    """Abandon the cart at the till (on a closed shift too): its goods go back on sale."""
    cart, _ = await _editable(uow, principal, cart_id, version)
    view = await _close(uow, cart, CartStatus.CANCELLED)
    await uow.commit()
    return view


async def pay_cart(
    uow: UnitOfWork,
    principal: Principal,
    cart_id: uuid.UUID,
    version: int,
    payments: tuple[Tender, ...],
    idempotency_key: str,
) -> tuple[CartView, SaleView]:
    """Commit the cart as a sale (`sales.record_sale`), in one transaction with closing
    the cart. Points to redeem come from the cart, not from `payments`. A retry with the
    same key returns the sale the first attempt committed."""
    principal.require(Permission.SALES_SELL)
    shift = await uow.shifts.lock_of_cart(cart_id)  # the sale's first lock
    cart = None if shift is None else await uow.carts.get(cart_id, for_update=True)
    if cart is None or not principal.sees_shop(cart.shop_id):
        raise NotFound("no such cart")
    _require_editor(principal, cart)
    if cart.status == CartStatus.PAID:
        earlier = await uow.sales.by_key(idempotency_key)
        if earlier is not None and earlier.id == cart.sale_id:
            view = await render(uow, cart)
            if not sale_request(view, payments).matches(earlier.request_digest):
                raise Conflict(
                    "this idempotency key paid the cart with other payments",
                    code=ErrorCode.IDEMPOTENCY_KEY_REUSED,
                )
            return view, await read_sale(uow, earlier, replayed=True)
    rules.check_open(cart.status)
    await _check_version(uow, cart, version)
    if any(t.method == PaymentMethod.BONUS for t in payments):
        raise ValidationFailed(
            "points are redeemed on the cart", fields={"payments": "no bonus here; cart.bonus"}
        )
    if not cart.lines:
        raise ValidationFailed("an empty cart", fields={"lines": "at least one line"})
    request = sale_request(await render(uow, cart), payments)
    sale = await record_sale(uow, principal, request, idempotency_key, cart_id=cart.id)
    if sale.replayed:  # the key committed an identical sale through another door
        raise Conflict(
            "this idempotency key was used for another sale",
            code=ErrorCode.IDEMPOTENCY_KEY_REUSED,
        )
    cart.sale_id = sale.sale.id
    closed = await _close(uow, cart, CartStatus.PAID)
    await uow.commit()
    return closed, sale


def sale_request(view: CartView, payments: tuple[Tender, ...]) -> SaleRequest:
    """The sale a paid cart makes: its lines at their prices, its discounts and customer,
    the payments given and the points the cart redeems."""
    cart = view.cart
    bonus = (Tender(PaymentMethod.BONUS, view.bonus),) if view.bonus > 0 else ()
    return SaleRequest(
        shift_id=cart.shift_id,
        items=tuple(
            SaleItem(
                x.product_id,
                x.quantity,
                x.discount.percent,
                x.discount.amount,
                price=_price_of(x, view.products),
            )
            for x in view.lines
        ),
        payments=(*payments, *bonus),
        customer_id=cart.customer_id,
        discount_percent=cart.discount_percent,
        discount_amount=cart.discount_amount,
    )


async def close_shift(
    uow: UnitOfWork, principal: Principal, shift_id: uuid.UUID, closing_cash: Decimal
) -> ShiftView:
    """Close the shift (`shifts.record_close`) and, in the same transaction, expire the
    cart left open on it: its goods go back on sale at once (not at the next sweep), and
    the till and the live-carts feed hear `cart.closed`."""
    closed = await shifts.record_close(uow, principal, shift_id, closing_cash)
    cart = await uow.carts.open_of_shift(shift_id, for_update=True)  # after the shift's lock
    if cart is not None:
        await _close(uow, cart, CartStatus.EXPIRED)
    await uow.commit()
    return closed


async def expire_abandoned(uow: UnitOfWork, now: datetime | None = None) -> int:
    """Expire open carts idle longer than the tenant's `cart_idle_minutes`, or left on a
    closed shift; their reservations are released. Returns how many expired."""
    settings = TenantSettings.from_json(await uow.tenants.settings())
    idle_before = (now or utcnow()) - timedelta(minutes=settings.cart_idle_minutes)
    found = await uow.carts.abandoned(idle_before, EXPIRY_BATCH)
    for cart in found:
        await _close(uow, cart, CartStatus.EXPIRED)
    await uow.commit()
    return len(found)

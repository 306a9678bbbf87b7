"""Sales and returns: `POST /api/sales/sales/` and `/api/sales/returns/`, each under an
`Idempotency-Key`."""

from __future__ import annotations

import uuid
from decimal import Decimal

from starlette.responses import JSONResponse, Response

from hub.adapters.tabular import Cell
from hub.domain.errors import ValidationFailed
from hub.domain.permissions import Permission
from hub.domain.pricing import Tender
from hub.domain.shifts import PaymentMethod
from hub.services import pins, returns, sales, shifts, shops
from hub.web.api import Api, Ctx
from hub.web.export import table_response
from hub.web.idempotency import header_key
from hub.web.schemas.common import Page
from hub.web.schemas.sales import ReturnCreateIn, ReturnOut, SaleCreateIn, SaleOut, SaleQuery

api = Api()
TAG = "sales"


def idempotency_key(ctx: Ctx) -> str:
    """The client's key for this commit, or a fresh one (then a retry is a new sale)."""
    key = header_key(ctx)
    return f"auto:{uuid.uuid4()}" if key is None else key  # random: never a client's key


@api.post("/api/sales/sales/", tag=TAG, permission=Permission.SALES_SELL, status=201)
async def create_sale(ctx: Ctx, body: SaleCreateIn) -> SaleOut | JSONResponse:
    """Commit a sale in an open shift: lines, discounts, payments (cash with change, card,
    credit, bonus, balance, or a mix), stock, the customer's ledger and the shift's totals,
    at once. A retry with the same `Idempotency-Key` returns the same sale."""
    request = sales.SaleRequest(
        shift_id=body.session,
        items=tuple(
            sales.SaleItem(i.product, i.quantity, i.discount_percent, i.discount_amount)
            for i in body.items
        ),
        payments=tuple(Tender(p.method, p.amount) for p in body.payments),
        customer_id=body.customer,
        discount_percent=body.discount_percent,
        discount_amount=body.discount_amount,
    )
    found = await sales.commit_sale(ctx.uow, ctx.principal, request, idempotency_key(ctx))
    if found.replayed:
        return JSONResponse(
            SaleOut.of(found).model_dump(mode="json"),
            status_code=201,
            headers={"Idempotent-Replayed": "true"},
        )
    return SaleOut.of(found)


SALE_HEADERS = (
    "number", "created_at", "id", "shop", "cash_register", "session", "cashier", "customer",
    "subtotal", "discount_total", "total", "change", *(m.value for m in PaymentMethod),
)  # fmt: skip


@api.get("/api/sales/sales/", tag=TAG, permission=Permission.SALES_VIEW)
async def list_sales(ctx: Ctx, query: SaleQuery) -> Page[SaleOut] | Response:
    """Sales, newest first, by shop, register, shift, cashier, customer, payment method
    and period; `format=csv|xlsx` downloads every match with its payments by method."""
    await shops.check_shop_filter(ctx.uow, ctx.principal, query.shop)
    await shifts.check_register_filter(ctx.uow, ctx.principal, query.cash_register)
    found, count = await ctx.uow.sales.find(
        None if query.table_format else query.page_request(),
        shops=ctx.principal.visible_shops(),
        shop=query.shop,
        register=query.cash_register,
        shift=query.session,
        cashier=query.cashier,
        customer=query.customer,
        payment_method=query.payment_method.value if query.payment_method else None,
        number=query.number,
        since=query.date_from,
        until=query.date_to,
    )
    if query.table_format is not None:
        payments = await ctx.uow.sales.payments_of_many([s.id for s in found])
        rows: list[list[Cell]] = []
        for sale in found:
            paid = {p.method: p.amount for p in payments[sale.id]}
            rows.append(
                [
                    sale.number,
                    sale.created_at,
                    str(sale.id),
                    str(sale.shop_id),
                    str(sale.register_id),
                    str(sale.shift_id),
                    str(sale.cashier_id),
                    str(sale.customer_id or ""),
                    sale.subtotal,
                    sale.discount_total,
                    sale.total,
                    sale.change,
                    *(paid.get(m.value, Decimal("0.00")) for m in PaymentMethod),
                ]
            )
        return table_response(query.table_format, "sales", SALE_HEADERS, rows)
    results = [SaleOut.of(await sales.read_sale(ctx.uow, s)) for s in found]
    return Page[SaleOut].build(ctx.request, query, results, count)


@api.get("/api/sales/sales/{sale_id}/", tag=TAG, permission=Permission.SALES_VIEW)
async def get_sale(ctx: Ctx, sale_id: uuid.UUID) -> SaleOut:
    """One sale with its lines and payments."""
    return SaleOut.of(await sales.get_sale(ctx.uow, ctx.principal, sale_id))


# The endpoint lets `sales.sell` in; the service then wants `sales.return` or a manager's PIN.
@api.post("/api/sales/returns/", tag=TAG, permission=Permission.SALES_SELL, status=201)
async def create_return(ctx: Ctx, body: ReturnCreateIn) -> ReturnOut | JSONResponse:
    """Return goods of a sale, in full or in part: refunded to the sale's own tenders from
    an open shift, stock back to its batches. Managers and owners (`sales.return`), or a
    cashier with a manager's PIN (`manager_pin`, optionally `manager`). A retry with the
    same `Idempotency-Key` returns the same return."""
    request = returns.ReturnRequest(
        sale_id=body.sale,
        items=tuple(returns.ReturnItem(i.product, i.quantity) for i in body.items),
        shift_id=body.session,
    )
    approval = None
    if body.manager is not None and body.manager_pin is None:
        raise ValidationFailed("whose PIN?", fields={"manager_pin": "required with manager"})
    if body.manager_pin is not None:
        approval = pins.PinApproval(body.manager_pin.get_secret_value(), body.manager)
    found = await returns.make_return(
        ctx.deps, ctx.uow, ctx.principal, request, idempotency_key(ctx), approval=approval
    )
    if found.replayed:
        return JSONResponse(
            ReturnOut.of(found).model_dump(mode="json"),
            status_code=201,
            headers={"Idempotent-Replayed": "true"},
        )
    return ReturnOut.of(found)

from __future__ import annotations

import uuid
from collections.abc import Sequence
from zoneinfo import ZoneInfo

from starlette.responses import Response

from hub.adapters.db.customer_tables import Customer
from hub.adapters.tabular import Cell
from hub.domain.permissions import Permission
from hub.services import customers
from hub.services.customers import (
    KEEP,
    CustomerFields,
    CustomerFilters,
    GroupFields,
    LedgerFilters,
    Payment,
    Statement,
)
from hub.web.api import Api, Ctx
from hub.web.export import table_response
from hub.web.idempotency import header_key
from hub.web.schemas.common import Page
from hub.web.schemas.customers import (
    CustomerCreateIn,
    CustomerOut,
    CustomerQuery,
    CustomerUpdateIn,
    GroupCreateIn,
    GroupOut,
    GroupQuery,
    GroupUpdateIn,
    LedgerEntryOut,
    LedgerQuery,
    MovementOut,
    PaymentIn,
    StatementOut,
    StatementQuery,
)

api = Api()
TAG = "customers"
GROUPS = "/api/customers/groups/"
CUSTOMERS = "/api/customers/customers/"
ONE = CUSTOMERS + "{customer_id}/"


# --- groups ---------------------------------------------------------------------------


@api.get(GROUPS, tag=TAG, permission=Permission.CUSTOMERS_VIEW)
async def list_customer_groups(ctx: Ctx, query: GroupQuery) -> Page[GroupOut]:
    """Customer groups (Retail, VIP, Wholesale…) with their automatic discounts."""
    found, count = await customers.list_groups(
        ctx.uow, ctx.principal, query.page_request(), search=query.search
    )
    return Page[GroupOut].build(ctx.request, query, [GroupOut.of(g) for g in found], count)


@api.post(GROUPS, tag=TAG, permission=Permission.CUSTOMERS_CREDIT, status=201)
async def create_customer_group(ctx: Ctx, body: GroupCreateIn) -> GroupOut:
    """Create a group: a unique name, a discount percent, optionally its own bonus rate."""
    group = await customers.create_group(
        ctx.uow,
        ctx.principal,
        GroupFields(
            name=body.name, discount_percent=body.discount_percent, bonus_rate=body.bonus_rate
        ),
    )
    return GroupOut.of(group)


@api.get(GROUPS + "{group_id}/", tag=TAG, permission=Permission.CUSTOMERS_VIEW)
async def get_customer_group(ctx: Ctx, group_id: uuid.UUID) -> GroupOut:
    """One customer group."""
    return GroupOut.of(await customers.get_group(ctx.uow, ctx.principal, group_id))


@api.patch(GROUPS + "{group_id}/", tag=TAG, permission=Permission.CUSTOMERS_CREDIT)
async def update_customer_group(ctx: Ctx, group_id: uuid.UUID, body: GroupUpdateIn) -> GroupOut:
    """Rename a group or change its discount or bonus rate (null: the tenant's rate)."""
    fields = GroupFields(
        name=body.name,
        discount_percent=body.discount_percent,
        bonus_rate=body.bonus_rate if "bonus_rate" in body.model_fields_set else KEEP,
    )
    return GroupOut.of(await customers.update_group(ctx.uow, ctx.principal, group_id, fields))


@api.delete(GROUPS + "{group_id}/", tag=TAG, permission=Permission.CUSTOMERS_CREDIT)
async def delete_customer_group(ctx: Ctx, group_id: uuid.UUID) -> None:
    """Delete an empty group (409 while customers are in it)."""
    await customers.delete_group(ctx.uow, ctx.principal, group_id)


# --- customers ------------------------------------------------------------------------


CUSTOMER_COLUMNS = (
    "id",
    "name",
    "phone",
    "kind",
    "tax_id",
    "group",
    "credit_limit",
    "debt",
    "balance",
    "bonus",
    "is_active",
)


def _customer_row(c: Customer) -> list[Cell]:
    return [
        str(c.id),
        c.name,
        c.phone,
        c.kind,
        c.tax_id,
        str(c.group_id) if c.group_id else None,
        c.credit_limit,
        c.debt,
        c.balance,
        c.bonus,
        c.is_active,
    ]


# Customer reads are write units of work: they write off expired bonus points (lazily,
# with a ledger row) before showing the accounts.
@api.get(CUSTOMERS, tag=TAG, permission=Permission.CUSTOMERS_VIEW, write=True)
async def list_customers(ctx: Ctx, query: CustomerQuery) -> Page[CustomerOut] | Response:
    """Find customers: `search` matches any part of the name (any case) or of the
    phone's digits (for RU, a leading 8 also matches +7); filters by group, kind,
    activity, debt. `?format=csv|xlsx` downloads the page's rows (e.g. who owes)."""
    found, count = await customers.list_customers(
        ctx.uow,
        ctx.principal,
        query.page_request(),
        CustomerFilters(
            search=query.search,
            group=query.group,
            kind=query.kind,
            is_active=query.is_active,
            has_debt=query.has_debt,
        ),
    )
    if query.table_format is not None:
        return table_response(
            query.table_format, "customers", CUSTOMER_COLUMNS, map(_customer_row, found)
        )
    return Page[CustomerOut].build(ctx.request, query, [CustomerOut.of(c) for c in found], count)


@api.post(CUSTOMERS, tag=TAG, permission=Permission.CUSTOMERS_CREATE, status=201)
async def create_customer(ctx: Ctx, body: CustomerCreateIn) -> CustomerOut:
    """Register a customer (a group or a credit limit needs `customers.credit`)."""
    customer = await customers.create_customer(
        ctx.uow,
        ctx.principal,
        CustomerFields(
            kind=body.kind,
            name=body.name,
            legal_name=body.legal_name,
            tax_id=body.tax_id,
            phone=body.phone,
            email=body.email,
            notes=body.notes,
            group=body.group,
            credit_limit=body.credit_limit,
        ),
    )
    return CustomerOut.of(customer)


@api.get(ONE, tag=TAG, permission=Permission.CUSTOMERS_VIEW, write=True)
async def get_customer(ctx: Ctx, customer_id: uuid.UUID) -> CustomerOut:
    """One customer with balance, debt and bonus."""
    return CustomerOut.of(await customers.get_customer(ctx.uow, ctx.principal, customer_id))


@api.patch(ONE, tag=TAG, permission=Permission.CUSTOMERS_CREATE)
async def update_customer(ctx: Ctx, customer_id: uuid.UUID, body: CustomerUpdateIn) -> CustomerOut:
    """Edit a customer; group, credit limit and activity need `customers.credit`."""
    fields = CustomerFields(
        kind=body.kind,
        name=body.name,
        legal_name=body.legal_name,
        tax_id=body.tax_id,
        phone=body.phone,
        email=body.email,
        notes=body.notes,
        group=body.group if "group" in body.model_fields_set else KEEP,
        credit_limit=body.credit_limit,
        is_active=body.is_active,
    )
    customer = await customers.update_customer(ctx.uow, ctx.principal, customer_id, fields)
    return CustomerOut.of(customer)


@api.delete(ONE, tag=TAG, permission=Permission.CUSTOMERS_CREDIT)
async def deactivate_customer(ctx: Ctx, customer_id: uuid.UUID) -> None:
    """Deactivate a customer (never deleted: the ledger keeps pointing at them)."""
    await customers.deactivate_customer(ctx.uow, ctx.principal, customer_id)


# --- accounts -------------------------------------------------------------------------


def _payment(ctx: Ctx, body: PaymentIn) -> Payment:
    return Payment(
        amount=body.amount,
        idempotency_key=header_key(ctx),
        reference=body.reference,
        note=body.note,
        session=body.session,
    )


@api.post(ONE + "top-up/", tag=TAG, permission=Permission.CUSTOMERS_CREATE)
async def top_up_customer(ctx: Ctx, customer_id: uuid.UUID, body: PaymentIn) -> MovementOut:
    """Money paid in to the prepaid balance. With an Idempotency-Key header a retry
    returns the first result and changes nothing."""
    entry = await customers.top_up(ctx.uow, ctx.principal, customer_id, _payment(ctx, body))
    return MovementOut.of(entry)


@api.post(ONE + "refund/", tag=TAG, permission=Permission.CUSTOMERS_CREDIT)
async def refund_customer_balance(ctx: Ctx, customer_id: uuid.UUID, body: PaymentIn) -> MovementOut:
    """Pay prepaid balance back out (at most the balance; honours Idempotency-Key)."""
    entry = await customers.refund_balance(ctx.uow, ctx.principal, customer_id, _payment(ctx, body))
    return MovementOut.of(entry)


@api.post(ONE + "repay/", tag=TAG, permission=Permission.CUSTOMERS_CREATE)
async def repay_customer_debt(ctx: Ctx, customer_id: uuid.UUID, body: PaymentIn) -> MovementOut:
    """The customer pays off debt (at most the debt; honours Idempotency-Key)."""
    entry = await customers.repay(ctx.uow, ctx.principal, customer_id, _payment(ctx, body))
    return MovementOut.of(entry)


@api.get(ONE + "ledger/", tag=TAG, permission=Permission.CUSTOMERS_VIEW, write=True)
async def customer_ledger(
    ctx: Ctx, customer_id: uuid.UUID, query: LedgerQuery
) -> Page[LedgerEntryOut]:
    """Every change of the customer's balance, debt and bonus, newest first."""
    found, count = await customers.ledger(
        ctx.uow,
        ctx.principal,
        customer_id,
        query.page_request(),
        LedgerFilters(
            kind=query.kind,
            account=query.account,
            date_from=query.date_from,
            date_to=query.date_to,
        ),
    )
    results = [LedgerEntryOut.of(e) for e in found]
    return Page[LedgerEntryOut].build(ctx.request, query, results, count)


STATEMENT_HEADERS = (
    "time",
    "kind",
    "account",
    "amount",
    "balance",
    "debt",
    "bonus",
    "sale",
    "return",
    "reference",
    "note",
)


def statement_rows(statement: Statement) -> list[Sequence[Cell]]:
    """Opening line, one line per movement (local time of the tenant), closing line."""
    zone = ZoneInfo(statement.timezone)
    o, c = statement.opening, statement.closing
    rows: list[Sequence[Cell]] = [
        (statement.date_from, "opening", "", None, o.balance, o.debt, o.bonus, *[None] * 4)
    ]
    for e in statement.movements:
        rows.append(
            (
                e.created_at.astimezone(zone).replace(tzinfo=None),
                e.kind,
                e.account,
                e.amount,
                e.balance_after,
                e.debt_after,
                e.bonus_after,
                str(e.sale_id) if e.sale_id else None,
                str(e.return_id) if e.return_id else None,
                e.reference,
                e.note,
            )
        )
    rows.append((statement.date_to, "closing", "", None, c.balance, c.debt, c.bonus, *[None] * 4))
    return rows


@api.get(ONE + "statement/", tag=TAG, permission=Permission.CUSTOMERS_VIEW, write=True)
async def customer_statement(
    ctx: Ctx, customer_id: uuid.UUID, query: StatementQuery
) -> StatementOut | Response:
    """Opening balances, movements and closing balances for a period of whole days in
    the tenant's zone; `?format=csv|xlsx` downloads it."""
    statement = await customers.statement(
        ctx.uow, ctx.principal, customer_id, query.date_from, query.date_to
    )
    fmt = query.table_format
    if fmt is None:
        return StatementOut.of(statement)
    name = f"statement-{statement.date_from}-{statement.date_to}"
    return table_response(fmt, name, STATEMENT_HEADERS, statement_rows(statement))

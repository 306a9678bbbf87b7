"""Cash registers and shifts: `/api/sales/cash-registers/` and `/api/sales/sessions/`.

The shift list and a shift's report also download as CSV or XLSX (`format=`): the list one
row per shift, a report one row per figure (`field`, `value`), under the same names."""

from __future__ import annotations

import uuid

from starlette.responses import Response

from hub.adapters.db.uow import UnitOfWork
from hub.adapters.tabular import Cell, TableFormat
from hub.domain.permissions import Permission
from hub.domain.shifts import MethodTotals, PaymentMethod
from hub.services import carts, shifts, shops
from hub.services.shifts import ShiftView
from hub.web.api import Api, Ctx
from hub.web.export import ExportQuery, table_response
from hub.web.schemas.common import Page
from hub.web.schemas.shifts import (
    CashMovementIn,
    CashMovementOut,
    CashMovementsOut,
    RegisterCreateIn,
    RegisterOut,
    RegisterQuery,
    RegisterUpdateIn,
    ShiftCloseIn,
    ShiftOpenIn,
    ShiftOut,
    ShiftQuery,
)

api = Api()
TAG = "shifts"


@api.get("/api/sales/cash-registers/", tag=TAG, permission=Permission.SHOPS_VIEW)
async def list_registers(ctx: Ctx, query: RegisterQuery) -> Page[RegisterOut]:
    """Cash registers in the shops one sees."""
    await shops.check_shop_filter(ctx.uow, ctx.principal, query.shop)
    found, count = await ctx.uow.registers.find(
        query.page_request(),
        shops=ctx.principal.visible_shops(),
        shop=query.shop,
        is_active=query.is_active,
    )
    return Page[RegisterOut].build(ctx.request, query, [RegisterOut.of(r) for r in found], count)


@api.post("/api/sales/cash-registers/", tag=TAG, permission=Permission.REGISTERS_MANAGE, status=201)
async def create_register(ctx: Ctx, body: RegisterCreateIn) -> RegisterOut:
    """Add a cash register (a till) to a shop."""
    register = await shifts.create_register(ctx.uow, ctx.principal, body.shop, body.name)
    return RegisterOut.of(register)


@api.get("/api/sales/cash-registers/{register_id}/", tag=TAG, permission=Permission.SHOPS_VIEW)
async def get_register(ctx: Ctx, register_id: uuid.UUID) -> RegisterOut:
    """One cash register."""
    return RegisterOut.of(await shifts.get_register(ctx.uow, ctx.principal, register_id))


@api.patch(
    "/api/sales/cash-registers/{register_id}/", tag=TAG, permission=Permission.REGISTERS_MANAGE
)
async def update_register(ctx: Ctx, register_id: uuid.UUID, body: RegisterUpdateIn) -> RegisterOut:
    """Rename a register or disable it (not while a shift is open on it)."""
    register = await shifts.update_register(
        ctx.uow, ctx.principal, register_id, name=body.name, is_active=body.is_active
    )
    return RegisterOut.of(register)


REPORT_FIELDS = (
    "number", "id", "shop", "cash_register", "cash_register_name", "cashier",
    "cashier_username", "status", "report", "opened_at", "closed_at", "opening_cash",
    "cash_in", "cash_out", "expected_cash", "closing_cash", "difference", "receipts",
    "returns", "sales_total", "returns_total", "discounts_total", "net_total",
    "first_receipt", "last_receipt",
    *(f"{m.value}_{part}" for m in PaymentMethod for part in ("sales", "refunds", "net", "count")),
)  # fmt: skip


class _Names:
    """Register names and cashiers' usernames for a download, each looked up once."""

    def __init__(self, uow: UnitOfWork) -> None:
        self._uow = uow
        self._registers: dict[uuid.UUID, str] = {}
        self._users: dict[uuid.UUID, str] = {}

    async def register(self, register_id: uuid.UUID) -> str:
        if register_id not in self._registers:
            register = await self._uow.registers.get(register_id)
            self._registers[register_id] = register.name if register else ""
        return self._registers[register_id]

    async def user(self, user_id: uuid.UUID) -> str:
        if user_id not in self._users:
            user = await self._uow.users.get(user_id)
            self._users[user_id] = user.username if user else ""
        return self._users[user_id]


async def _report_cells(found: ShiftView, names: _Names) -> list[Cell]:
    """A shift and its report, in the order of REPORT_FIELDS."""
    shift, report = found.shift, found.report
    totals = report.totals
    by_method: list[Cell] = []
    for method in PaymentMethod:
        line = totals.by_method.get(method, MethodTotals())
        by_method += [line.sales, line.refunds, line.net, line.count]
    return [
        shift.number,
        str(shift.id),
        str(shift.shop_id),
        str(shift.register_id),
        await names.register(shift.register_id),
        str(shift.cashier_id),
        await names.user(shift.cashier_id),
        shift.status,
        report.kind,
        shift.opened_at,
        shift.closed_at,
        shift.opening_cash,
        totals.cash_in,
        totals.cash_out,
        report.expected_cash,
        report.closing_cash,
        report.difference,
        totals.receipts,
        totals.returns,
        totals.sales_total,
        totals.returns_total,
        totals.discounts_total,
        report.net_total,
        totals.first_receipt,
        totals.last_receipt,
        *by_method,
    ]


async def _report_file(uow: UnitOfWork, fmt: TableFormat, found: ShiftView) -> Response:
    cells = await _report_cells(found, _Names(uow))
    name = f"shift-{found.shift.number}-{found.report.kind}-report"
    return table_response(fmt, name, ("field", "value"), zip(REPORT_FIELDS, cells, strict=True))


@api.get("/api/sales/sessions/", tag=TAG, permission=Permission.SHIFTS_OPERATE)
async def list_shifts(ctx: Ctx, query: ShiftQuery) -> Page[ShiftOut] | Response:
    """Shifts, newest first, by shop, register, cashier, status and period; `format=csv|xlsx`
    downloads every match, one row per shift with its report's figures."""
    found, count = await shifts.list_shifts(
        ctx.uow,
        ctx.principal,
        None if query.table_format else query.page_request(),
        shop=query.shop,
        register=query.cash_register,
        cashier=query.cashier,
        status=query.status,
        since=query.date_from,
        until=query.date_to,
    )
    if query.table_format is not None:
        names = _Names(ctx.uow)
        rows = [await _report_cells(s, names) for s in found]
        return table_response(query.table_format, "shifts", REPORT_FIELDS, rows)
    return Page[ShiftOut].build(ctx.request, query, [ShiftOut.of(s) for s in found], count)


@api.post("/api/sales/sessions/", tag=TAG, permission=Permission.SHIFTS_OPERATE, status=201)
async def open_shift(ctx: Ctx, body: ShiftOpenIn) -> ShiftOut:
    """Open a shift on a register with the float in the drawer; one open shift per
    register."""
    found = await shifts.open_shift(ctx.uow, ctx.principal, body.cash_register, body.opening_cash)
    return ShiftOut.of(found)


@api.get("/api/sales/sessions/{shift_id}/", tag=TAG, permission=Permission.SHIFTS_OPERATE)
async def get_shift(ctx: Ctx, shift_id: uuid.UUID, query: ExportQuery) -> ShiftOut | Response:
    """A shift with its report so far (X) or final (Z); `format=csv|xlsx` downloads the
    report, one row per figure."""
    found = await shifts.x_report(ctx.uow, ctx.principal, shift_id)
    if query.table_format is not None:
        return await _report_file(ctx.uow, query.table_format, found)
    return ShiftOut.of(found)


@api.post("/api/sales/sessions/{shift_id}/cash/", tag=TAG, permission=Permission.SHIFTS_OPERATE)
async def move_cash(ctx: Ctx, shift_id: uuid.UUID, body: CashMovementIn) -> ShiftOut:
    """Cash into (`in`) or out of (`out`) the drawer, with the reason."""
    found = await shifts.move_cash(
        ctx.uow, ctx.principal, shift_id, body.kind, body.amount, body.reason
    )
    return ShiftOut.of(found)


@api.get("/api/sales/sessions/{shift_id}/cash/", tag=TAG, permission=Permission.SHIFTS_OPERATE)
async def list_cash_movements(ctx: Ctx, shift_id: uuid.UUID) -> CashMovementsOut:
    """The cash brought into and taken out of the shift's drawer other than by sales and
    returns, in order, with each reason: what the report's `cash_in` and `cash_out` add."""
    found = await shifts.cash_movements(ctx.uow, ctx.principal, shift_id)
    return CashMovementsOut(results=[CashMovementOut.of(m) for m in found])


@api.get("/api/sales/sessions/{shift_id}/x-report/", tag=TAG, permission=Permission.SHIFTS_OPERATE)
async def x_report(ctx: Ctx, shift_id: uuid.UUID, query: ExportQuery) -> ShiftOut | Response:
    """The X-report: the shift's totals now, without closing it (the Z-report once it is
    closed); `format=csv|xlsx` downloads it, one row per figure."""
    found = await shifts.x_report(ctx.uow, ctx.principal, shift_id)
    if query.table_format is not None:
        return await _report_file(ctx.uow, query.table_format, found)
    return ShiftOut.of(found)


@api.post("/api/sales/sessions/{shift_id}/close/", tag=TAG, permission=Permission.SHIFTS_OPERATE)
async def close_shift(ctx: Ctx, shift_id: uuid.UUID, body: ShiftCloseIn) -> ShiftOut:
    """Close with the counted cash: `status: "closed"`, `expected_cash`, `difference` and
    the Z-report totals. A cart left open on the shift expires with it: its goods go
    back on sale."""
    found = await carts.close_shift(ctx.uow, ctx.principal, shift_id, body.closing_cash)
    return ShiftOut.of(found)

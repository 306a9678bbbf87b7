"""Cash registers and shifts: `/api/sales/cash-registers/` and `/api/sales/sessions/`."""

from __future__ import annotations

import uuid

from hub.domain.permissions import Permission
from hub.services import shifts
from hub.web.api import Api, Ctx
from hub.web.schemas.common import Page
from hub.web.schemas.shifts import (
    CashMovementIn,
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


@api.get("/api/sales/sessions/", tag=TAG, permission=Permission.SHIFTS_OPERATE)
async def list_shifts(ctx: Ctx, query: ShiftQuery) -> Page[ShiftOut]:
    """Shifts, newest first, by shop, register, cashier, status and period."""
    found, count = await shifts.list_shifts(
        ctx.uow,
        ctx.principal,
        query.page_request(),
        shop=query.shop,
        register=query.cash_register,
        cashier=query.cashier,
        status=query.status,
        since=query.date_from,
        until=query.date_to,
    )
    return Page[ShiftOut].build(ctx.request, query, [ShiftOut.of(s) for s in found], count)


@api.post("/api/sales/sessions/", tag=TAG, permission=Permission.SHIFTS_OPERATE, status=201)
async def open_shift(ctx: Ctx, body: ShiftOpenIn) -> ShiftOut:
    """Open a shift on a register with the float in the drawer; one open shift per
    register."""
    found = await shifts.open_shift(ctx.uow, ctx.principal, body.cash_register, body.opening_cash)
    return ShiftOut.of(found)


@api.get("/api/sales/sessions/{shift_id}/", tag=TAG, permission=Permission.SHIFTS_OPERATE)
async def get_shift(ctx: Ctx, shift_id: uuid.UUID) -> ShiftOut:
    """A shift with its report so far (X) or final (Z)."""
    shift = await shifts.get_shift(ctx.uow, ctx.principal, shift_id)
    return ShiftOut.of(await shifts.view(ctx.uow, shift))


@api.post("/api/sales/sessions/{shift_id}/cash/", tag=TAG, permission=Permission.SHIFTS_OPERATE)
async def move_cash(ctx: Ctx, shift_id: uuid.UUID, body: CashMovementIn) -> ShiftOut:
    """Cash into (`in`) or out of (`out`) the drawer, with the reason."""
    found = await shifts.move_cash(
        ctx.uow, ctx.principal, shift_id, body.kind, body.amount, body.reason
    )
    return ShiftOut.of(found)


@api.get("/api/sales/sessions/{shift_id}/x-report/", tag=TAG, permission=Permission.SHIFTS_OPERATE)
async def x_report(ctx: Ctx, shift_id: uuid.UUID) -> ShiftOut:
    """The X-report: the shift's totals now, without closing it."""
    return ShiftOut.of(await shifts.x_report(ctx.uow, ctx.principal, shift_id))


@api.post("/api/sales/sessions/{shift_id}/close/", tag=TAG, permission=Permission.SHIFTS_OPERATE)
async def close_shift(ctx: Ctx, shift_id: uuid.UUID, body: ShiftCloseIn) -> ShiftOut:
    """Close with the counted cash: `status: "closed"`, `expected_cash`, `difference` and
    the Z-report totals."""
    found = await shifts.close_shift(ctx.uow, ctx.principal, shift_id, body.closing_cash)
    return ShiftOut.of(found)

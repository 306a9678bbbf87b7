"""Queries over cash registers and shifts."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import cast

from sqlalchemy import Table, exists, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from hub.adapters.db.cart_tables import Cart
from hub.adapters.db.repositories import PageRequest, _page
from hub.adapters.db.sales_tables import (
    CashMovement,
    CashRegister,
    ReturnLine,
    ReturnPayment,
    Sale,
    SaleLine,
    SalePayment,
    SaleReturn,
    Shift,
    ShiftMethodTotal,
)


class Registers:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    def add(self, register: CashRegister) -> None:
        self._session.add(register)

    async def get(self, register_id: uuid.UUID, *, for_update: bool = False) -> CashRegister | None:
        return await self._session.get(
            CashRegister, register_id, with_for_update=for_update, populate_existing=for_update
        )

    async def by_name(self, shop_id: uuid.UUID, name: str) -> CashRegister | None:
        return await self._session.scalar(
            select(CashRegister).where(CashRegister.shop_id == shop_id, CashRegister.name == name)
        )

    async def find(
        self,
        page: PageRequest,
        *,
        shops: frozenset[uuid.UUID] | None,
        shop: uuid.UUID | None,
        is_active: bool | None,
    ) -> tuple[list[CashRegister], int]:
        query = select(CashRegister).order_by(CashRegister.name, CashRegister.id)
        if shops is not None:
            query = query.where(CashRegister.shop_id.in_(shops))
        if shop is not None:
            query = query.where(CashRegister.shop_id == shop)
        if is_active is not None:
            query = query.where(CashRegister.is_active == is_active)
        return await _page(self._session, query, page)


class Shifts:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session
        # Shifts this transaction has locked: locking one again needs no statement.
        self.locked: set[uuid.UUID] = set()

    def add(self, *rows: Shift | ShiftMethodTotal | CashMovement) -> None:
        self._session.add_all(rows)

    async def get(self, shift_id: uuid.UUID, *, for_update: bool = False) -> Shift | None:
        if shift_id in self.locked:
            for_update = False  # held, and the loaded row is the one locked
        shift = await self._session.get(
            Shift, shift_id, with_for_update=for_update, populate_existing=for_update
        )
        if for_update and shift is not None:
            self.locked.add(shift_id)
        return shift

    async def lock_of_cart(self, cart_id: uuid.UUID) -> Shift | None:
        """The shift of a cart, locked (a sale's first lock), without reading the cart."""
        shift = await self._session.scalar(
            select(Shift)
            .where(Shift.id == select(Cart.shift_id).where(Cart.id == cart_id).scalar_subquery())
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        if shift is not None:
            self.locked.add(shift.id)
        return shift

    async def open_on(self, register_id: uuid.UUID) -> Shift | None:
        return await self._session.scalar(
            select(Shift).where(Shift.register_id == register_id, Shift.status == "open")
        )

    async def method_totals(self, shift_id: uuid.UUID) -> list[ShiftMethodTotal]:
        return list(
            await self._session.scalars(
                select(ShiftMethodTotal)
                .where(ShiftMethodTotal.shift_id == shift_id)
                .order_by(ShiftMethodTotal.method)
                # `add_to_method_totals` writes them around the session
                .execution_options(populate_existing=True)
            )
        )

    async def add_to_method_totals(
        self, shift_id: uuid.UUID, amounts: dict[str, Decimal], *, refund: bool
    ) -> None:
        """Add to the shift's per-method sales (or refunds) and counts, one statement for
        all methods: each row made when the method is new to the shift."""
        if not amounts:
            return
        column = "refunds" if refund else "sales"
        zero = Decimal("0.00")
        table = cast(Table, ShiftMethodTotal.__table__)
        conn = await self._session.connection()
        upsert = (pg_insert if conn.dialect.name == "postgresql" else sqlite_insert)(table)
        await conn.execute(
            upsert.values(
                [
                    {"shift_id": shift_id, "method": method, "sales": zero, "refunds": zero}
                    | {column: amount, "count": 1}
                    for method, amount in sorted(amounts.items())
                ]
            ).on_conflict_do_update(
                index_elements=[table.c.shift_id, table.c.method],
                set_={
                    column: table.c[column] + upsert.excluded[column],
                    "count": table.c.count + 1,
                },
            )
        )

    async def cash_movements(self, shift_id: uuid.UUID) -> list[CashMovement]:
        return list(
            await self._session.scalars(
                select(CashMovement)
                .where(CashMovement.shift_id == shift_id)
                .order_by(CashMovement.created_at, CashMovement.id)
            )
        )

    async def find(
        self,
        page: PageRequest | None,
        *,
        shops: frozenset[uuid.UUID] | None,
        shop: uuid.UUID | None,
        register: uuid.UUID | None,
        cashier: uuid.UUID | None,
        status: str | None,
        since: datetime | None,
        until: datetime | None,
    ) -> tuple[list[Shift], int]:
        query = select(Shift).order_by(Shift.opened_at.desc(), Shift.id.desc())
        if shops is not None:
            query = query.where(Shift.shop_id.in_(shops))
        for column, value in (
            (Shift.shop_id, shop),
            (Shift.register_id, register),
            (Shift.cashier_id, cashier),
            (Shift.status, status),
        ):
            if value is not None:
                query = query.where(column == value)
        if since is not None:
            query = query.where(Shift.opened_at >= since)
        if until is not None:
            query = query.where(Shift.opened_at < until)
        if page is None:  # every match, for an export
            rows = list(await self._session.scalars(query))
            return rows, len(rows)
        return await _page(self._session, query, page)


class Sales:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    def add(
        self, *rows: Sale | SaleLine | SalePayment | SaleReturn | ReturnLine | ReturnPayment
    ) -> None:
        self._session.add_all(rows)

    async def get(self, sale_id: uuid.UUID, *, for_update: bool = False) -> Sale | None:
        return await self._session.get(
            Sale, sale_id, with_for_update=for_update, populate_existing=for_update
        )

    async def return_by_id(self, return_id: uuid.UUID) -> SaleReturn | None:
        return await self._session.get(SaleReturn, return_id)

    async def return_by_key(self, key: str) -> SaleReturn | None:
        return await self._session.scalar(
            select(SaleReturn).where(SaleReturn.idempotency_key == key)
        )

    async def returned_lines(self, sale_id: uuid.UUID) -> list[ReturnLine]:
        return list(
            await self._session.scalars(
                select(ReturnLine)
                .join(SaleReturn, SaleReturn.id == ReturnLine.return_id)
                .where(SaleReturn.sale_id == sale_id)
            )
        )

    async def refunded_payments(self, sale_id: uuid.UUID) -> list[ReturnPayment]:
        return list(
            await self._session.scalars(
                select(ReturnPayment)
                .join(SaleReturn, SaleReturn.id == ReturnPayment.return_id)
                .where(SaleReturn.sale_id == sale_id)
            )
        )

    async def return_lines_of(self, return_id: uuid.UUID) -> list[ReturnLine]:
        return list(
            await self._session.scalars(select(ReturnLine).where(ReturnLine.return_id == return_id))
        )

    async def return_payments_of(self, return_id: uuid.UUID) -> list[ReturnPayment]:
        return list(
            await self._session.scalars(
                select(ReturnPayment).where(ReturnPayment.return_id == return_id)
            )
        )

    async def by_key(self, key: str) -> Sale | None:
        return await self._session.scalar(select(Sale).where(Sale.idempotency_key == key))

    async def lines_of(self, sale_id: uuid.UUID) -> list[SaleLine]:
        return list(
            await self._session.scalars(
                select(SaleLine).where(SaleLine.sale_id == sale_id).order_by(SaleLine.position)
            )
        )

    async def payments_of_many(
        self, sale_ids: list[uuid.UUID]
    ) -> dict[uuid.UUID, list[SalePayment]]:
        found: dict[uuid.UUID, list[SalePayment]] = {sale_id: [] for sale_id in sale_ids}
        for start in range(0, len(sale_ids), 500):
            rows = await self._session.scalars(
                select(SalePayment).where(SalePayment.sale_id.in_(sale_ids[start : start + 500]))
            )
            for payment in rows:
                found[payment.sale_id].append(payment)
        return found

    async def payments_of(self, sale_id: uuid.UUID) -> list[SalePayment]:
        return list(
            await self._session.scalars(
                select(SalePayment)
                .where(SalePayment.sale_id == sale_id)
                .order_by(SalePayment.method)
            )
        )

    async def find(
        self,
        page: PageRequest | None,
        *,
        shops: frozenset[uuid.UUID] | None,
        shop: uuid.UUID | None,
        shift: uuid.UUID | None,
        cashier: uuid.UUID | None,
        customer: uuid.UUID | None,
        since: datetime | None,
        until: datetime | None,
        register: uuid.UUID | None = None,
        payment_method: str | None = None,
        number: int | None = None,
    ) -> tuple[list[Sale], int]:
        query = select(Sale).order_by(Sale.created_at.desc(), Sale.id.desc())
        if number is not None:
            query = query.where(Sale.number == number)
        if shops is not None:
            query = query.where(Sale.shop_id.in_(shops))
        for column, value in (
            (Sale.shop_id, shop),
            (Sale.register_id, register),
            (Sale.shift_id, shift),
            (Sale.cashier_id, cashier),
            (Sale.customer_id, customer),
        ):
            if value is not None:
                query = query.where(column == value)
        if payment_method is not None:
            # The payment's primary key (sale, method) answers this for each sale.
            query = query.where(
                exists().where(SalePayment.sale_id == Sale.id, SalePayment.method == payment_method)
            )
        if since is not None:
            query = query.where(Sale.created_at >= since)
        if until is not None:
            query = query.where(Sale.created_at < until)
        if page is None:  # every match, for an export
            rows = list(await self._session.scalars(query))
            return rows, len(rows)
        return await _page(self._session, query, page)

"""Queries over live carts."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from hub.adapters.db.cart_tables import Cart
from hub.adapters.db.repositories import PageRequest, _page
from hub.adapters.db.sales_tables import Shift


class Carts:
    def __init__(self, session: AsyncSession, *, skip_locked: bool) -> None:
        self._session = session
        self._skip_locked = skip_locked

    def add(self, cart: Cart) -> None:
        self._session.add(cart)

    async def get(self, cart_id: uuid.UUID, *, for_update: bool = False) -> Cart | None:
        return await self._session.get(
            Cart, cart_id, with_for_update=for_update, populate_existing=for_update
        )

    async def lock_with_shift_status(self, cart_id: uuid.UUID) -> tuple[Cart, str] | None:
        """The cart, locked, and the status of its shift, in one statement."""
        row = (
            await self._session.execute(
                select(Cart, Shift.status)
                .join(Shift, Shift.id == Cart.shift_id)
                .where(Cart.id == cart_id)
                .with_for_update(of=Cart)
                .execution_options(populate_existing=True)
            )
        ).first()
        return None if row is None else (row[0], row[1])

    async def open_of_shift(self, shift_id: uuid.UUID, *, for_update: bool = False) -> Cart | None:
        query = select(Cart).where(Cart.shift_id == shift_id, Cart.status == "open")
        if for_update:
            query = query.with_for_update().execution_options(populate_existing=True)
        return await self._session.scalar(query)

    async def abandoned(self, idle_before: datetime, limit: int) -> list[Cart]:
        """Open carts untouched since `idle_before` or left on a closed shift, locked;
        carts another transaction holds are skipped (it is using them)."""
        query = (
            select(Cart)
            .join(Shift, Shift.id == Cart.shift_id)
            .where(Cart.status == "open")
            .where(or_(Cart.updated_at < idle_before, Shift.status != "open"))
            .order_by(Cart.updated_at)
            .limit(limit)
            .with_for_update(skip_locked=self._skip_locked, of=Cart)
        )
        return list(await self._session.scalars(query))

    async def find(
        self,
        page: PageRequest,
        *,
        shops: frozenset[uuid.UUID] | None,
        shop: uuid.UUID | None,
        status: str | None,
        register: uuid.UUID | None,
    ) -> tuple[list[Cart], int]:
        query = select(Cart).order_by(Cart.created_at.desc(), Cart.id)
        if shops is not None:
            query = query.where(Cart.shop_id.in_(shops))
        if shop is not None:
            query = query.where(Cart.shop_id == shop)
        if status is not None:
            query = query.where(Cart.status == status)
        if register is not None:
            query = query.where(Cart.register_id == register)
        return await _page(self._session, query, page)

"""Queries on the customer tables (tenant tables: the connection sees one tenant only)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from hub.adapters.db.customer_tables import (
    Customer,
    CustomerBonusLot,
    CustomerGroup,
    CustomerLedgerEntry,
    CustomerOperation,
)
from hub.adapters.db.repositories import PageRequest, _like, _page


class CustomerGroups:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    def add(self, group: CustomerGroup) -> None:
        self._session.add(group)

    async def get(self, group_id: uuid.UUID) -> CustomerGroup | None:
        return await self._session.get(CustomerGroup, group_id)

    async def by_name_key(self, name_key: str) -> CustomerGroup | None:
        return await self._session.scalar(
            select(CustomerGroup).where(CustomerGroup.name_key == name_key)
        )

    async def find(
        self, page: PageRequest, *, search: str | None = None
    ) -> tuple[list[CustomerGroup], int]:
        query = select(CustomerGroup)
        if search:
            query = query.where(CustomerGroup.name_key.like(_like(search), escape="\\"))
        return await _page(self._session, query.order_by(CustomerGroup.name_key), page)

    async def member_count(self, group_id: uuid.UUID) -> int:
        count = await self._session.scalar(
            select(func.count()).select_from(Customer).where(Customer.group_id == group_id)
        )
        return int(count or 0)

    async def delete(self, group: CustomerGroup) -> None:
        await self._session.delete(group)


class Customers:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    def add(self, customer: Customer) -> None:
        self._session.add(customer)

    async def get(self, customer_id: uuid.UUID, *, for_update: bool = False) -> Customer | None:
        """With for_update, the row is locked until the transaction ends (SELECT … FOR
        UPDATE on PostgreSQL; SQLite write transactions hold the database lock already)
        and re-read, so the values are the committed ones."""
        query = select(Customer).where(Customer.id == customer_id)
        if for_update:
            query = query.with_for_update().execution_options(populate_existing=True)
        return await self._session.scalar(query)

    async def by_phone(self, phone: str) -> Customer | None:
        return await self._session.scalar(select(Customer).where(Customer.phone == phone))

    async def find(
        self,
        page: PageRequest,
        *,
        name_fragment: str | None = None,
        phone_fragments: Sequence[str] = (),
        group: uuid.UUID | None = None,
        kind: str | None = None,
        is_active: bool | None = None,
        has_debt: bool | None = None,
    ) -> tuple[list[Customer], int]:
        """`name_fragment` (already folded) and `phone_fragments` (digits) are OR-ed:
        a search term matches a name or a phone. Both use trigram indexes on PostgreSQL."""
        query = select(Customer)
        matches = []
        if name_fragment:
            matches.append(Customer.search_name.like(_like(name_fragment), escape="\\"))
        for digits in phone_fragments:
            matches.append(Customer.phone_digits.like(_like(digits), escape="\\"))
        if matches:
            query = query.where(or_(*matches))
        if group is not None:
            query = query.where(Customer.group_id == group)
        if kind is not None:
            query = query.where(Customer.kind == kind)
        if is_active is not None:
            query = query.where(Customer.is_active == is_active)
        if has_debt is True:
            query = query.where(Customer.debt > 0)
        elif has_debt is False:
            query = query.where(Customer.debt <= 0)
        # When searching, sort the matches rather than walk the name index in order and
        # filter (a plan that reads most of the table); `|| ''` hides the index from
        # the ORDER BY only.
        order = Customer.search_name + "" if matches else Customer.search_name
        return await _page(self._session, query.order_by(order, Customer.id), page)


class CustomerLedger:
    """The ledger, bonus lots and applied sales operations of customers."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    def add(self, entry: CustomerLedgerEntry) -> None:
        self._session.add(entry)

    def add_lot(self, lot: CustomerBonusLot) -> None:
        self._session.add(lot)

    def add_operation(self, operation: CustomerOperation) -> None:
        self._session.add(operation)

    async def operation(self, key: str) -> CustomerOperation | None:
        return await self._session.get(CustomerOperation, key)

    async def of_operation(self, key: str) -> list[CustomerLedgerEntry]:
        rows = await self._session.scalars(
            select(CustomerLedgerEntry)
            .where(CustomerLedgerEntry.operation == key)
            .order_by(CustomerLedgerEntry.seq)
        )
        return list(rows)

    async def by_idempotency_key(self, key: str) -> CustomerLedgerEntry | None:
        return await self._session.scalar(
            select(CustomerLedgerEntry).where(CustomerLedgerEntry.idempotency_key == key)
        )

    async def of_sale(
        self, customer_id: uuid.UUID, sale_id: uuid.UUID
    ) -> list[CustomerLedgerEntry]:
        rows = await self._session.scalars(
            select(CustomerLedgerEntry)
            .where(
                CustomerLedgerEntry.sale_id == sale_id,
                CustomerLedgerEntry.customer_id == customer_id,
            )
            .order_by(CustomerLedgerEntry.seq)
        )
        return list(rows)

    async def find(
        self,
        customer_id: uuid.UUID,
        page: PageRequest,
        *,
        kind: str | None = None,
        account: str | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> tuple[list[CustomerLedgerEntry], int]:
        """Newest first."""
        query = select(CustomerLedgerEntry).where(CustomerLedgerEntry.customer_id == customer_id)
        if kind is not None:
            query = query.where(CustomerLedgerEntry.kind == kind)
        if account is not None:
            query = query.where(CustomerLedgerEntry.account == account)
        if start is not None:
            query = query.where(CustomerLedgerEntry.created_at >= start)
        if end is not None:
            query = query.where(CustomerLedgerEntry.created_at < end)
        return await _page(self._session, query.order_by(CustomerLedgerEntry.seq.desc()), page)

    async def last_before(
        self, customer_id: uuid.UUID, instant: datetime | None
    ) -> CustomerLedgerEntry | None:
        """The last row before `instant` (None: the last row of all)."""
        query = select(CustomerLedgerEntry).where(CustomerLedgerEntry.customer_id == customer_id)
        if instant is not None:
            query = query.where(CustomerLedgerEntry.created_at < instant)
        return await self._session.scalar(query.order_by(CustomerLedgerEntry.seq.desc()).limit(1))

    async def between(
        self, customer_id: uuid.UUID, start: datetime | None, end: datetime | None
    ) -> list[CustomerLedgerEntry]:
        query = select(CustomerLedgerEntry).where(CustomerLedgerEntry.customer_id == customer_id)
        if start is not None:
            query = query.where(CustomerLedgerEntry.created_at >= start)
        if end is not None:
            query = query.where(CustomerLedgerEntry.created_at < end)
        return list(await self._session.scalars(query.order_by(CustomerLedgerEntry.seq)))

    async def open_lots(self, customer_id: uuid.UUID) -> list[CustomerBonusLot]:
        """Lots with points left, in the order redemptions take them: first to expire
        first, never-expiring last, older before newer."""
        rows = await self._session.scalars(
            select(CustomerBonusLot)
            .where(CustomerBonusLot.customer_id == customer_id, CustomerBonusLot.remaining > 0)
            .order_by(
                CustomerBonusLot.expires_at.is_(None),
                CustomerBonusLot.expires_at,
                CustomerBonusLot.created_at,
                CustomerBonusLot.id,
            )
        )
        return list(rows)

    async def customers_with_expired_lots(
        self, customer_ids: Iterable[uuid.UUID], now: datetime
    ) -> set[uuid.UUID]:
        ids = list(customer_ids)
        if not ids:
            return set()
        rows = await self._session.scalars(
            select(CustomerBonusLot.customer_id)
            .where(
                CustomerBonusLot.customer_id.in_(ids),
                CustomerBonusLot.remaining > 0,
                CustomerBonusLot.expires_at <= now,
            )
            .distinct()
        )
        return set(rows)

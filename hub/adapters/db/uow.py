"""The unit of work: one transaction bound to one tenant, or to the shared schema only."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator
from types import TracebackType
from typing import Any, Self, cast

from sqlalchemy import Row, Table, insert, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlalchemy.sql.expression import Executable

from hub.adapters import metrics
from hub.adapters.broker.base import Outgoing
from hub.adapters.db.analytics_repositories import Analytics
from hub.adapters.db.cart_repositories import Carts
from hub.adapters.db.catalogue_repositories import Categories, Products, Stock, Suppliers
from hub.adapters.db.customer_repositories import CustomerGroups, CustomerLedger, Customers
from hub.adapters.db.database import (
    WRITE_GATE_CLASS,
    WRITE_OPTION,
    Database,
    TenantRelocated,
    schema_missing,
    value_out_of_range,
    write_gate_key,
)
from hub.adapters.db.job_repositories import DeviceJobs
from hub.adapters.db.mail_repositories import Mailbox
from hub.adapters.db.repositories import (
    AuthSessions,
    Devices,
    Logins,
    Shops,
    Tenants,
    Users,
)
from hub.adapters.db.sales_repositories import Registers, Sales, Shifts
from hub.adapters.db.tables import OutboxEvent
from hub.adapters.db.task_repositories import Tasks, TaskTemplates
from hub.adapters.db.types import utcnow
from hub.domain.errors import Conflict
from hub.domain.ids import new_id
from hub.settings import MAIN_CLUSTER
from protocol.channels import Channel
from protocol.errors import ErrorCode

OUTBOX = cast(Table, OutboxEvent.__table__)
_INSERT_OUTBOX = insert(OUTBOX)
SALE_COMPLETED = "sale.completed"  # one per sale committed, whichever door it came by
_PASS_WRITE_GATE = text("SELECT pg_advisory_xact_lock_shared(:gate, :key)")


class SharedUnitOfWork:
    """Before the tenant is known (login, refresh, device auth): shared tables only."""

    def __init__(self, db: Database, *, write: bool = False) -> None:
        self._db = db
        self._write = write

    def _engine(self) -> object:
        return self._db.shared_engine

    async def __aenter__(self) -> Self:
        self.session = AsyncSession(self._engine(), expire_on_commit=False)  # type: ignore[arg-type]
        if self._write:
            await self.session.connection(execution_options={WRITE_OPTION: True})
        elif not self._db.is_sqlite:
            # A reading unit of work needs no transaction on PostgreSQL: each statement
            # sees committed data, and BEGIN/ROLLBACK would cost two round trips.
            await self.session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})
        self.logins = Logins(self.session)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        # Closing rolls back what was not committed; unlike rollback() it leaves loaded
        # objects readable (detached), so results can outlive the unit of work.
        await self.session.close()
        if exc is not None and value_out_of_range(exc):
            # A balance or a total that would outgrow what the books can hold: the
            # request is refused whole, with a code, rather than failing as a 500.
            raise Conflict(
                "an amount or a total would exceed what can be recorded",
                code=ErrorCode.VALUE_OUT_OF_RANGE,
            ) from exc

    async def commit(self) -> None:
        await self.session.commit()

    async def connection(self) -> AsyncConnection:
        return await self.session.connection()


class UnitOfWork(SharedUnitOfWork):
    """Everything a use case touches, for one tenant, in one transaction."""

    def __init__(
        self, db: Database, tenant_id: uuid.UUID, *, write: bool = False, on_main: bool = False
    ) -> None:
        """`on_main`: on the main cluster whatever the tenant's, for the tenant's shared
        rows only (registration writes them there apart from the tenant's store)."""
        super().__init__(db, write=write)
        self.tenant_id = tenant_id
        self._on_main = on_main
        self._emitted: list[dict[str, Any]] = []
        self._written = 0  # how many of them a caller wrote to the outbox itself

    def emit(self, channel: Channel, type_: str, payload: dict[str, Any]) -> None:
        """Publish an event if, and only if, this unit of work commits.

        It is written to the outbox in this transaction (at commit, all of them in one
        statement); after commit the relay sends it to the broker (and a sweep resends
        what a crash left behind)."""
        if channel.tenant != self.tenant_id:
            raise ValueError("an event goes to a channel of its own tenant")
        self._emitted.append(
            {
                "id": new_id(),
                "channel": channel.name,
                "type": type_,
                "payload": payload,
                "created_at": utcnow(),
            }
        )

    def outbox_rows(self) -> list[dict[str, Any]]:
        """The events emitted since the last call, for a caller that writes them to the
        outbox itself, in this transaction, within a statement of its own (one round
        trip fewer); `commit` then relays them without writing them again. Each: id,
        channel, type, payload and created_at."""
        rows = self._emitted[self._written :]
        self._written = len(self._emitted)
        return rows

    @contextlib.asynccontextmanager
    async def savepoint(self) -> AsyncIterator[None]:
        """A part of the transaction that can fail alone: on an exception its writes and
        the events it emitted are undone, and the exception goes on."""
        emitted = len(self._emitted)
        try:
            async with self.session.begin_nested():
                yield
        except BaseException:
            del self._emitted[emitted:]
            self._written = min(self._written, emitted)
            self.shifts.locked.clear()  # a lock taken inside is released with it
            raise

    async def commit(self, *, wait_for_relay: bool = True) -> None:
        """Commit, then relay the events emitted. `wait_for_relay` False: return once
        committed, and let them go out in the background (a writer that answers many
        requests per transaction does not wait on the broker between transactions).
        They go out in commit order either way: the relay drains the outbox oldest
        first."""
        emitted, self._emitted = self._emitted, []
        unwritten, self._written = emitted[self._written :], 0
        if unwritten:  # on the session's connection: a Core statement needs no ORM session
            await (await self.session.connection()).execute(_INSERT_OUTBOX, unwritten)
        await super().commit()
        sold = sum(1 for e in emitted if e["type"] == SALE_COMPLETED)
        if sold:
            metrics.SALES.inc(sold)
        if not emitted:
            return
        committed = [Outgoing(e["channel"], e["type"], e["payload"], str(e["id"])) for e in emitted]
        if not wait_for_relay and self._db.relay_soon is not None:
            self._db.relay_soon(self.tenant_id, committed)
        elif self._db.after_commit is not None:
            await self._db.after_commit(self.tenant_id, committed)

    def _engine(self) -> object:
        if self._on_main:
            return self._db.shared_engine
        return self._db.tenant_engine(self.tenant_id)

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await super().__aexit__(exc_type, exc, tb)
        if exc is not None and self._db.clustered and schema_missing(exc):
            # With several clusters, a tenant's tables missing where they were means a
            # move of the tenant (`pos-hub serve` does not start with a schema behind):
            # the source is gone, and the placement says the target now or in a moment.
            self._db.forget(self.tenant_id, self.cluster)
            raise TenantRelocated(f"tenant {self.tenant_id} is moving to another cluster") from exc

    async def _read_shared(self, statement: Executable, params: dict[str, Any]) -> Row[Any] | None:
        """A read of shared tables only (the session check of every request): on the
        tenant's connection when it is on the main cluster, else straight on the main
        cluster, without the extra hop through the tenant's cluster's foreign tables."""
        if self.cluster == MAIN_CLUSTER:
            return (await self.session.execute(statement, params)).first()
        async with self._db.shared_engine.connect() as conn:
            reading = await conn.execution_options(isolation_level="AUTOCOMMIT")
            return (await reading.execute(statement, params)).first()

    @property
    def mail_enabled(self) -> bool:
        """Whether e-mail is configured: without it no mail is queued."""
        return bool(self._db.settings.smtp_url)

    async def __aenter__(self) -> Self:
        # Asked once per process.
        self.cluster = MAIN_CLUSTER if self._on_main else await self._db.locate(self.tenant_id)
        await super().__aenter__()
        if self._write and self._db.clustered:
            # Through the tenant's write gate: a move of the tenant to another cluster
            # waits for this transaction, and this one waits for a move under way.
            await self.session.execute(
                _PASS_WRITE_GATE, {"gate": WRITE_GATE_CLASS, "key": write_gate_key(self.tenant_id)}
            )
        self.tenants = Tenants(self.session, self.tenant_id)
        self.users = Users(self.session, self.tenant_id)
        self.shops = Shops(self.session)
        self.auth_sessions = AuthSessions(self.session, self.tenant_id, self._read_shared)
        self.devices = Devices(self.session, self.tenant_id)
        self.categories = Categories(self.session)
        self.suppliers = Suppliers(self.session)
        self.products = Products(self.session)
        self.stock = Stock(self.session)
        self.customers = Customers(self.session)
        self.customer_groups = CustomerGroups(self.session)
        self.customer_ledger = CustomerLedger(self.session)
        self.registers = Registers(self.session)
        self.shifts = Shifts(self.session)
        self.sales = Sales(self.session)
        self.carts = Carts(self.session, skip_locked=not self._db.is_sqlite)
        self.device_jobs = DeviceJobs(self.session, skip_locked=not self._db.is_sqlite)
        self.tasks = Tasks(self.session)
        self.analytics = Analytics(self.session, postgres=not self._db.is_sqlite)
        self.mailbox = Mailbox(self.session, skip_locked=not self._db.is_sqlite)
        self.task_templates = TaskTemplates(self.session, skip_locked=not self._db.is_sqlite)
        return self

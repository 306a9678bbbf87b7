"""The outbox relay: events reach the broker only after their transaction commits, in
commit order, and a crash or a broker outage loses none.

After a commit that wrote events, `drain(tenant)` publishes the tenant's whole outbox in
order and deletes what it published. It takes the rows with `FOR UPDATE` (PostgreSQL; a
write transaction serialises it on SQLite), so relays of one tenant, in one process or
several, take turns: an event that could not be published (the broker was down) goes out
before any newer one, never after it. A sweep every few seconds drains what a crashed
process or an outage left behind. The outbox id travels with each event and the broker
drops a repeat, so a relay that published but died before deleting never duplicates.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncConnection

from hub.adapters import metrics
from hub.adapters.broker.base import Broker, Outgoing
from hub.adapters.db.database import WRITE_OPTION, Database, tenant_schema_name
from hub.adapters.db.migrate import tenant_ids
from hub.adapters.db.tables import OutboxEvent
from hub.adapters.db.uow import OUTBOX, UnitOfWork

log = logging.getLogger("hub.outbox")

DRAIN_BATCH = 500
KNOWN_EVENTS = 20_000  # per tenant, held for drains (`OutboxRelay._known`)


def _take_sql(schema: str) -> str:
    """The oldest rows of a tenant's outbox, locked in order and deleted, with their
    payloads unless their ids are in $1 (the relay holds those)."""
    return (
        f'DELETE FROM "{schema}".outbox WHERE id IN (SELECT id FROM "{schema}".outbox'
        f" ORDER BY created_at, id LIMIT {DRAIN_BATCH} FOR UPDATE) RETURNING id, channel,"
        " type, CASE WHEN id = ANY($1::uuid[]) THEN NULL ELSE payload END, created_at"
    )


def _age(row: Any) -> tuple[Any, Any]:
    """A taken row's place in the outbox (DELETE … RETURNING keeps no order)."""
    return row[4], row[0]


@dataclass
class _Drain:
    finished: asyncio.Future[None]
    again: bool = True


class OutboxRelay:
    def __init__(self, db: Database, broker: Broker, *, sweep_seconds: float) -> None:
        self._running: dict[uuid.UUID, _Drain] = {}
        self._db = db
        self._broker = broker
        self._sweep_seconds = sweep_seconds
        self._task: asyncio.Task[None] | None = None
        self._soon: set[asyncio.Task[None]] = set()  # relays nobody waits for
        oldest = select(OUTBOX.c.id).order_by(OUTBOX.c.created_at, OUTBOX.c.id).limit(DRAIN_BATCH)
        self._take = (  # SQLite; PostgreSQL takes its batches on the driver (`_take_sql`)
            delete(OUTBOX)
            .where(OUTBOX.c.id.in_(oldest.scalar_subquery()))
            .returning(
                OUTBOX.c.id, OUTBOX.c.channel, OUTBOX.c.type, OUTBOX.c.payload, OUTBOX.c.created_at
            )
        )
        # Committed events of group commits (`relay_soon`), by tenant and id: a drain
        # that takes them does not read their payloads back (PostgreSQL; its JSON
        # decoding was a relay's biggest cost). Only a shortcut: what is not here is read.
        self._known: dict[uuid.UUID, dict[uuid.UUID, Outgoing]] = {}

    async def start(self) -> None:
        self._db.after_commit = self.relay
        self._db.relay_soon = self.relay_soon
        self._task = asyncio.create_task(self._run(), name="outbox-sweep")

    async def stop(self, wait: float = 5.0) -> None:
        """No more relays; those under way get `wait` seconds to finish (what they
        leave stays in the outbox for the next sweep)."""
        self._db.after_commit = None
        self._db.relay_soon = None
        if self._soon:
            await asyncio.wait(set(self._soon), timeout=wait)
        for task in [*self._soon, self._task]:
            if task is not None:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)

    @property
    def under_way(self) -> int:
        """Relays started by `relay_soon` that have not finished."""
        return len(self._soon)

    def relay_soon(self, tenant_id: uuid.UUID, events: list[Outgoing]) -> None:
        """`relay` without waiting for it: one more pass of the tenant's drain under
        way, or a drain started. So a broker that hangs holds one task per tenant, not
        one per commit. The events are held for the drain (`_known`): the group commits
        that call this emit only what the hub made (strings, integers, lists, maps with
        string keys), which JSONB gives back unchanged."""
        known = self._known.setdefault(tenant_id, {})
        if not self._db.is_sqlite and len(known) < KNOWN_EVENTS:
            known.update((uuid.UUID(e.id), e) for e in events if e.id)  # else: read back
        running = self._running.get(tenant_id)
        if running is not None:
            running.again = True
            return
        task = asyncio.create_task(self.relay(tenant_id, events), name="outbox-relay")
        self._soon.add(task)
        task.add_done_callback(self._soon.discard)

    async def relay(self, tenant_id: uuid.UUID, _events: list[Outgoing]) -> None:
        """After commit; returns once the committed events went out (or were deferred).

        One drain per tenant at a time in this process: a commit that finds one running
        asks it for one more pass and waits for it, instead of queueing on the rows'
        locks behind it — under load many commits share one drain. A failure leaves
        the rows, in order, for the next drain."""
        running = self._running.get(tenant_id)
        if running is not None:
            running.again = True
            await asyncio.shield(running.finished)
            return
        drain = _Drain(asyncio.get_running_loop().create_future())
        self._running[tenant_id] = drain
        try:
            while drain.again:
                drain.again = False
                await self.drain(tenant_id)
        except Exception as exc:
            log.warning("outbox relay for tenant %s deferred: %s", tenant_id, exc)
        finally:
            del self._running[tenant_id]
            drain.finished.set_result(None)

    async def drain(self, tenant_id: uuid.UUID) -> int:
        """Publish the tenant's outbox, oldest first; returns how many went out.

        One statement takes a batch: it locks the oldest rows in order and deletes them,
        returning what they held; they are gone only if the publish succeeds and the
        transaction commits."""
        relayed = 0
        await self._db.locate(tenant_id)
        # A bare connection, not a unit of work: one statement needs no session.
        engine = self._db.tenant_engine(tenant_id).execution_options(**{WRITE_OPTION: True})
        while True:
            if self._db.is_sqlite:
                async with engine.begin() as conn:
                    events = await self._take_rows(conn)
                    if events:
                        await self._broker.publish_many(events)
            else:
                async with engine.connect() as conn:
                    # Straight on asyncpg, in a transaction of its own: SQLAlchemy's
                    # execution context and result rows cost as much as the statement.
                    driver: Any = (await conn.get_raw_connection()).driver_connection
                    async with driver.transaction():
                        events = await self._take_on_driver(driver, tenant_id)
                        if events:
                            await self._broker.publish_many(events)
            if not events:
                return relayed
            relayed += len(events)
            metrics.EVENTS_RELAYED.inc(len(events))
            if len(events) < DRAIN_BATCH:
                return relayed

    async def _take_rows(self, conn: AsyncConnection) -> list[Outgoing]:
        """The events of the oldest rows, deleted (until commit), in order (SQLite)."""
        rows = (await conn.execute(self._take)).all()
        return [Outgoing(r[1], r[2], r[3], str(r[0])) for r in sorted(rows, key=_age)]

    async def _take_on_driver(self, driver: Any, tenant_id: uuid.UUID) -> list[Outgoing]:
        """The events of the oldest rows, locked in order and deleted (until commit), in
        order; payloads the relay holds are not read back."""
        known = self._known.get(tenant_id, {})
        held = dict(known)  # a sweep may drain the same tenant meanwhile
        rows = await driver.fetch(_take_sql(tenant_schema_name(tenant_id)), list(held))
        # Fewer than a batch: every row committed before this drain began is in it or
        # gone (another process's drain), so every event held then is done with.
        for event_id in held if len(rows) < DRAIN_BATCH else (r[0] for r in rows):
            known.pop(event_id, None)
        events = []
        for event_id, channel, type_, payload, _ in sorted(rows, key=_age):
            if event_id in held:
                payload = held[event_id].payload
            elif isinstance(payload, str):  # a connection without SQLAlchemy's JSON codec
                payload = json.loads(payload)
            events.append(Outgoing(channel, type_, payload, str(event_id)))
        return events

    async def _pending(self, tenant_id: uuid.UUID) -> bool:
        async with UnitOfWork(self._db, tenant_id) as uow:
            found = await uow.session.scalar(select(OutboxEvent.id).limit(1))
            return found is not None

    async def sweep(self) -> int:
        """Drain every tenant that has something waiting."""
        relayed = 0
        for tenant_id in await tenant_ids(self._db):
            try:
                if await self._pending(tenant_id):
                    relayed += await self.drain(tenant_id)
            except Exception as exc:
                log.warning("outbox sweep of tenant %s failed: %s", tenant_id, exc)
        if relayed:
            log.info("outbox sweep relayed %d events", relayed)
        return relayed

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._sweep_seconds)
            await self.sweep()

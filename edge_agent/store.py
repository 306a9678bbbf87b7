"""The agent's disk: an outbox of events for the hub and the jobs the hub gave it.

SQLite in WAL mode with `synchronous=FULL`: a row is on disk when a call returns. Every
change of a job and the event that reports it are written in one transaction, so after a
crash the agent finds either both or neither — a job it finished is never reported
twice with different outcomes, and never silently forgotten.

Outbox rows carry a sequence (`seq`, increasing, never reused) and an event id. They are
sent in order and deleted only when the hub acknowledges a sequence; the hub
de-duplicates by event id, so a resend after a lost acknowledgement is harmless.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import aiosqlite

SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id TEXT NOT NULL UNIQUE,
    type TEXT NOT NULL,
    payload TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    payload TEXT NOT NULL,
    status TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT '{}',
    result TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    announced INTEGER NOT NULL DEFAULT 0,
    received_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS jobs_open ON jobs (status, received_at);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS seen_events (key TEXT PRIMARY KEY, seen_at TEXT NOT NULL);
"""


class JobStatus(StrEnum):
    RECEIVED = "received"  # persisted; nothing done yet
    FISCALISING = "fiscalising"  # the register may hold a receipt of this job
    FISCALISED = "fiscalised"  # the register confirmed the document
    PRINTING = "printing"  # held here while the printer cannot print
    DONE = "done"
    FAILED = "failed"
    TAKEN = "taken"  # another agent of the shop claimed it first: not ours to report


FINISHED = (JobStatus.DONE, JobStatus.FAILED, JobStatus.TAKEN)
# Kept in a failed job's state: the step it had reached, where a retry takes it up.
FAILED_AT = "failed_at"
# Kept in a job's state while it is given to no agent and not yet claimed by this one.
UNCLAIMED = "unclaimed"
# Kept in a job's state once the hub knows the agent is fiscalising it (`start`).
STARTED = "started"
# Kept in a `taken` job's state when it was left because no device here could do it:
# forgotten at the next start (the configuration may have been put right since).
NO_DEVICE = "no_device"


@dataclass(frozen=True)
class OutboxEvent:
    seq: int
    event_id: str
    type: str
    payload: dict[str, Any]
    created_at: str

    def frame(self) -> dict[str, Any]:
        return {"seq": self.seq, "id": self.event_id, "type": self.type, "payload": self.payload}


@dataclass(frozen=True)
class Job:
    id: str
    kind: str
    payload: dict[str, Any]
    status: JobStatus
    state: dict[str, Any]
    result: dict[str, Any] | None
    attempts: int  # fiscalisations begun here
    announced: int = 0  # the hub's `attempts` when it last announced the job


def _now() -> str:
    return datetime.now(UTC).isoformat()


def _job(row: aiosqlite.Row) -> Job:
    return Job(
        id=row["id"],
        kind=row["kind"],
        payload=json.loads(row["payload"]),
        status=JobStatus(row["status"]),
        state=json.loads(row["state"]),
        result=None if row["result"] is None else json.loads(row["result"]),
        attempts=row["attempts"],
        announced=row["announced"],
    )


class AgentStore:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._db: aiosqlite.Connection | None = None
        # One connection for every part of the agent (link, job runner, scanners): one
        # transaction at a time, or a second BEGIN lands inside the first.
        self._lock = asyncio.Lock()

    async def open(self) -> Self:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = await aiosqlite.connect(self.path, isolation_level=None)
        self._db.row_factory = aiosqlite.Row
        await self._db.execute("PRAGMA journal_mode=WAL")
        await self._db.execute("PRAGMA synchronous=FULL")
        await self._db.executescript(SCHEMA)
        columns = {row[1] for row in await self._db.execute_fetchall("PRAGMA table_info(jobs)")}
        if "announced" not in columns:  # a store made before retries were told apart
            await self._db.execute(
                "ALTER TABLE jobs ADD COLUMN announced INTEGER NOT NULL DEFAULT 0"
            )
        return self

    async def close(self) -> None:
        if self._db is not None:
            await self._db.close()
            self._db = None

    async def __aenter__(self) -> Self:
        return await self.open()

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    @property
    def db(self) -> aiosqlite.Connection:
        if self._db is None:
            raise RuntimeError("the store is not open")
        return self._db

    @contextlib.asynccontextmanager
    async def _transaction(self) -> AsyncIterator[None]:
        async with self._lock:
            await self.db.execute("BEGIN IMMEDIATE")
            try:
                yield
            except BaseException:
                await self.db.execute("ROLLBACK")
                raise
            await self.db.execute("COMMIT")

    async def _insert_event(self, type_: str, payload: dict[str, Any]) -> str:
        event_id = uuid.uuid4().hex
        await self.db.execute(
            "INSERT INTO outbox (event_id, type, payload, created_at) VALUES (?, ?, ?, ?)",
            (event_id, type_, json.dumps(payload, ensure_ascii=False), _now()),
        )
        return event_id

    # --- events --------------------------------------------------------------------

    async def record(self, type_: str, payload: dict[str, Any]) -> str:
        """An event for the hub (a scan, a device status); its id."""
        async with self._transaction():
            return await self._insert_event(type_, payload)

    async def record_once(
        self, key: str, type_: str, payload: dict[str, Any], *, keep: int = 10_000
    ) -> str | None:
        """Like `record`, unless an event under `key` (a device's own event id) was
        recorded before: then nothing is written and None returned. The key and the event
        are written in one transaction, so a device's redelivery after a crash is never
        recorded twice nor lost; only the newest `keep` keys are remembered."""
        async with self._transaction():
            cursor = await self.db.execute(
                "INSERT OR IGNORE INTO seen_events (key, seen_at) VALUES (?, ?)", (key, _now())
            )
            event_id = None
            if cursor.rowcount == 1:
                event_id = await self._insert_event(type_, payload)
                # rowids grow with each new key: everything below the newest `keep` goes.
                await self.db.execute(
                    "DELETE FROM seen_events"
                    " WHERE rowid <= (SELECT MAX(rowid) FROM seen_events) - ?",
                    (keep,),
                )
        return event_id

    async def pending(self, limit: int = 100) -> list[OutboxEvent]:
        """Unacknowledged events, oldest first."""
        cursor = await self.db.execute(
            "SELECT seq, event_id, type, payload, created_at FROM outbox ORDER BY seq LIMIT ?",
            (limit,),
        )
        rows = await cursor.fetchall()
        return [
            OutboxEvent(
                r["seq"], r["event_id"], r["type"], json.loads(r["payload"]), r["created_at"]
            )
            for r in rows
        ]

    async def acknowledge(self, seq: int) -> int:
        """The hub has applied every event up to `seq`: forget them. Returns how many."""
        async with self._lock:
            cursor = await self.db.execute("DELETE FROM outbox WHERE seq <= ?", (seq,))
        return cursor.rowcount

    # --- jobs ----------------------------------------------------------------------

    async def accept(
        self,
        job_id: str,
        kind: str,
        payload: dict[str, Any],
        *,
        state: dict[str, Any] | None = None,
        attempts: int = 0,
        claimed: bool = True,
    ) -> bool:
        """Persist a job from the hub before acknowledging it (with the `state` it starts
        with); True when it is (back) in the queue.

        The hub announces a manager's retry with the same id and more `attempts` (the
        outcomes it has recorded). A retry of a job that failed here puts it back where
        it failed: what it did stays done (a receipt registered is never registered
        again, one the agent may have registered is reconciled first). A retry of a job
        done here reports its result again (the hub missed it), and one another agent
        had claimed is queued afresh. Any other announcement, a repeat or an older one,
        changes nothing. `claimed`: the hub gave the job to this agent (no claim needed)."""
        now = _now()
        async with self._transaction():
            current = await self.job(job_id)
            if current is None:
                await self.db.execute(
                    "INSERT INTO jobs (id, kind, payload, status, state, announced,"
                    " received_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        job_id,
                        kind,
                        json.dumps(payload, ensure_ascii=False),
                        JobStatus.RECEIVED,
                        json.dumps({**(state or {}), **({} if claimed else {UNCLAIMED: True})}),
                        attempts,
                        now,
                        now,
                    ),
                )
                queued = True
            else:
                queued = await self._retried(current, attempts, now, claimed)
        return queued

    async def _retried(self, job: Job, attempts: int, now: str, claimed: bool) -> bool:
        """`accept` of a known job (in its transaction); True when it is requeued."""
        # Left to another agent and now given to this one (that agent's token was
        # revoked): announced with the same attempts, and ours to do.
        given_back = job.status is JobStatus.TAKEN and claimed
        if attempts <= job.announced and not given_back:
            return False
        attempts = max(attempts, job.announced)
        status, requeued, state = job.status, False, dict(job.state)
        if job.status is JobStatus.FAILED:
            status, requeued = JobStatus(job.state.get(FAILED_AT, JobStatus.RECEIVED)), True
        elif job.status is JobStatus.TAKEN:
            status, requeued = JobStatus.RECEIVED, True
        if requeued:  # a retry is routed anew: ours, or to be claimed again
            state.pop(UNCLAIMED, None)
            state.pop(STARTED, None)  # the hub forgot it: told again before fiscalising
            state.pop(NO_DEVICE, None)
            state.update({} if claimed else {UNCLAIMED: True})
        elif job.status is JobStatus.DONE:
            report = {"job": job.id, "status": "done", "result": job.result or {}}
            await self._insert_event("job.result", report)
        await self.db.execute(
            "UPDATE jobs SET status = ?, state = ?, announced = ?, result = CASE WHEN ?"
            " THEN NULL ELSE result END, updated_at = ? WHERE id = ?",
            (status, json.dumps(state, ensure_ascii=False), attempts, requeued, now, job.id),
        )
        return requeued

    async def requeue_unserved(self) -> list[str]:
        """Jobs left to others only because no device here could do them (`taken` with
        `no_device`) go back in the queue, to be claimed again if a device here can do
        them now (the configuration was put right and the agent restarted); the hub
        settles whose they are. Their ids."""
        async with self._transaction():
            cursor = await self.db.execute(
                "SELECT * FROM jobs WHERE status = ? ORDER BY received_at, id", (JobStatus.TAKEN,)
            )
            taken = map(_job, await cursor.fetchall())
            left = [job for job in taken if job.state.get(NO_DEVICE)]
            for job in left:
                state = {**job.state, UNCLAIMED: True}
                state.pop(NO_DEVICE, None)
                await self.db.execute(
                    "UPDATE jobs SET status = ?, state = ?, updated_at = ? WHERE id = ?",
                    (JobStatus.RECEIVED, json.dumps(state, ensure_ascii=False), _now(), job.id),
                )
        return [job.id for job in left]

    async def job(self, job_id: str) -> Job | None:
        cursor = await self.db.execute("SELECT * FROM jobs WHERE id = ?", (job_id,))
        row = await cursor.fetchone()
        return None if row is None else _job(row)

    async def open_jobs(self) -> list[Job]:
        """Jobs not finished, in the order they came."""
        cursor = await self.db.execute(
            "SELECT * FROM jobs WHERE status NOT IN (?, ?, ?) ORDER BY received_at, id",
            FINISHED,
        )
        return [_job(row) for row in await cursor.fetchall()]

    async def advance(
        self,
        job_id: str,
        status: JobStatus | None,
        *,
        state: dict[str, Any] | None = None,
        result: dict[str, Any] | None = None,
        event: tuple[str, dict[str, Any]] | None = None,
        attempt: bool = False,
    ) -> Job:
        """Move a job on (`status` None: it stays where it is); `state` is merged into
        what the job keeps between steps, and `event`, if given, is queued for the hub in
        the same transaction."""
        async with self._transaction():
            current = await self.job(job_id)
            if current is None:
                raise KeyError(job_id)
            merged = {**current.state, **(state or {})}
            if status is JobStatus.FAILED:
                merged[FAILED_AT] = current.status  # where a retry takes it up again
            await self.db.execute(
                "UPDATE jobs SET status = ?, state = ?, result = COALESCE(?, result),"
                " attempts = attempts + ?, updated_at = ? WHERE id = ?",
                (
                    current.status if status is None else status,
                    json.dumps(merged, ensure_ascii=False),
                    None if result is None else json.dumps(result, ensure_ascii=False),
                    1 if attempt else 0,
                    _now(),
                    job_id,
                ),
            )
            if event is not None:
                await self._insert_event(*event)
        updated = await self.job(job_id)
        assert updated is not None
        return updated

    # --- small settings ------------------------------------------------------------

    async def get_meta(self, key: str) -> str | None:
        cursor = await self.db.execute("SELECT value FROM meta WHERE key = ?", (key,))
        row = await cursor.fetchone()
        return None if row is None else str(row["value"])

    async def set_meta(self, key: str, value: str) -> None:
        async with self._lock:
            await self.db.execute(
                "INSERT INTO meta (key, value) VALUES (?, ?)"
                " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (key, value),
            )

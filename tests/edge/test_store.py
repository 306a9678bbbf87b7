"""The agent's disk: events in order until acknowledged, jobs and their reports written
together, all of it still there after the process is gone."""

from __future__ import annotations

import multiprocessing
import os
import signal
import sqlite3
from pathlib import Path

import pytest

from edge_agent.store import UNCLAIMED, AgentStore, JobStatus


async def test_events_keep_their_order_until_acknowledged(tmp_path: Path) -> None:
    async with AgentStore(tmp_path / "agent.db") as store:
        ids = [await store.record("scan", {"code": f"46{n:011d}"}) for n in range(5)]
        pending = await store.pending()
        assert [e.event_id for e in pending] == ids
        assert [e.seq for e in pending] == sorted(e.seq for e in pending)
        assert pending[0].frame() == {
            "seq": pending[0].seq,
            "id": ids[0],
            "type": "scan",
            "payload": {"code": "4600000000000"},
        }
        assert await store.acknowledge(pending[2].seq) == 3
        assert [e.event_id for e in await store.pending()] == ids[3:]
    async with AgentStore(tmp_path / "agent.db") as reopened:
        assert [e.event_id for e in await reopened.pending()] == ids[3:]
        newer = await reopened.record("scan", {"code": "x"})
        # sequences are never reused, even after the older rows are gone
        assert (await reopened.pending())[-1].seq > pending[-1].seq
        assert (await reopened.pending())[-1].event_id == newer


async def test_a_job_is_accepted_once_and_reported_with_its_change(tmp_path: Path) -> None:
    async with AgentStore(tmp_path / "agent.db") as store:
        assert await store.accept("j1", "receipt", {"number": 7})
        assert not await store.accept("j1", "receipt", {"number": 8})  # a redelivery
        job = await store.job("j1")
        assert job is not None
        assert (job.status, job.payload) == (JobStatus.RECEIVED, {"number": 7})
        await store.advance("j1", JobStatus.FISCALISING, state={"before": 41}, attempt=True)
        done = await store.advance(
            "j1",
            JobStatus.DONE,
            state={"document": 42},
            result={"fiscal": {"document": 42}},
            event=("job.result", {"job": "j1", "status": "done"}),
        )
        assert done.state == {"before": 41, "document": 42}
        assert (done.attempts, done.result) == (1, {"fiscal": {"document": 42}})
        assert [e.type for e in await store.pending()] == ["job.result"]
        assert await store.open_jobs() == []
        with pytest.raises(KeyError):
            await store.advance("nope", JobStatus.DONE)


async def test_a_failed_step_leaves_neither_the_change_nor_the_event(tmp_path: Path) -> None:
    async with AgentStore(tmp_path / "agent.db") as store:
        await store.accept("j1", "receipt", {})
        with pytest.raises(TypeError):
            await store.advance("j1", JobStatus.DONE, event=("job.result", {"not json": object()}))
        job = await store.job("j1")
        assert job is not None
        assert job.status == JobStatus.RECEIVED
        assert await store.pending() == []


async def test_a_retry_puts_a_failed_job_back_where_it_failed(tmp_path: Path) -> None:
    """The hub tells a manager's retry from a repeat by (id, attempts): a retry takes the
    failed job up where it stopped; a repeat or an older announcement changes nothing."""
    async with AgentStore(tmp_path / "agent.db") as store:
        assert await store.accept("j1", "receipt", {"number": 7})
        await store.advance("j1", JobStatus.FISCALISING, state={"before": 41}, attempt=True)
        report = ("job.result", {"job": "j1", "status": "failed"})
        await store.advance("j1", JobStatus.FAILED, result={"error": "x"}, event=report)
        assert not await store.accept("j1", "receipt", {"number": 7})  # a repeat
        assert await store.open_jobs() == []
        assert await store.accept("j1", "receipt", {"number": 7}, attempts=1)  # the retry
        (retried,) = await store.open_jobs()
        assert not await store.accept("j1", "receipt", {"number": 7}, attempts=1)
        assert not await store.accept("j1", "receipt", {"number": 7}, attempts=0)
        again = await store.job("j1")
    assert (retried.status, retried.result, retried.announced) == (
        JobStatus.FISCALISING,  # the register is asked before anything is registered
        None,
        1,
    )
    assert retried.state["before"] == 41
    assert again == retried


async def test_a_retry_of_a_job_done_here_reports_it_again(tmp_path: Path) -> None:
    async with AgentStore(tmp_path / "agent.db") as store:
        await store.accept("j1", "open_drawer", {})
        done = {"job": "j1", "status": "done", "result": {"opened": True}}
        await store.advance(
            "j1", JobStatus.DONE, result={"opened": True}, event=("job.result", done)
        )
        await store.acknowledge((await store.pending())[-1].seq)
        assert not await store.accept("j1", "open_drawer", {}, attempts=1)  # not redone
        events = [(e.type, e.payload) for e in await store.pending()]
        job = await store.job("j1")
    assert events == [("job.result", done)]
    assert job is not None
    assert job.status is JobStatus.DONE


async def test_a_job_left_to_another_agent_and_given_back_is_queued(tmp_path: Path) -> None:
    """The job was claimed by another agent (`taken` here); that agent's token was
    revoked and the hub gives the job to this one, announced with the same attempts: it
    is ours to do now, not a repeat to ignore. A retry after it fails here still counts."""
    async with AgentStore(tmp_path / "agent.db") as store:
        assert await store.accept("j1", "receipt", {}, claimed=False)
        await store.advance("j1", JobStatus.TAKEN)
        assert not await store.accept("j1", "receipt", {}, claimed=False)  # a repeat
        assert await store.accept("j1", "receipt", {}, claimed=True)  # given to us
        queued = await store.job("j1")
        await store.advance("j1", JobStatus.FAILED, result={"error": "paper"})
        assert await store.accept("j1", "receipt", {}, attempts=1)  # a manager's retry
        again = await store.job("j1")
    assert queued is not None
    assert (queued.status, queued.state.get(UNCLAIMED)) == (JobStatus.RECEIVED, None)
    assert again is not None
    assert again.status is JobStatus.RECEIVED


async def test_a_store_from_before_retries_is_upgraded(tmp_path: Path) -> None:
    path = tmp_path / "agent.db"
    with sqlite3.connect(path) as old:
        old.execute(
            "CREATE TABLE jobs (id TEXT PRIMARY KEY, kind TEXT NOT NULL, payload TEXT NOT NULL,"
            " status TEXT NOT NULL, state TEXT NOT NULL DEFAULT '{}', result TEXT,"
            " attempts INTEGER NOT NULL DEFAULT 0, received_at TEXT NOT NULL,"
            " updated_at TEXT NOT NULL)"
        )
        old.execute(
            "INSERT INTO jobs (id, kind, payload, status, received_at, updated_at)"
            " VALUES ('j1', 'receipt', '{}', 'failed', 'now', 'now')"
        )
    async with AgentStore(path) as store:
        assert await store.accept("j1", "receipt", {}, attempts=1)
        job = await store.job("j1")
    assert job is not None
    assert (job.status, job.announced) == (JobStatus.RECEIVED, 1)


def _write_then_die(path: str, ready: multiprocessing.synchronize.Event) -> None:
    import asyncio

    async def run() -> None:
        store = await AgentStore(Path(path)).open()
        await store.accept("j1", "receipt", {"n": 1})
        await store.advance("j1", JobStatus.FISCALISED, state={"document": 9}, event=("e", {}))
        ready.set()
        await asyncio.sleep(60)

    asyncio.run(run())


async def test_what_returned_is_on_disk_when_the_process_is_killed(tmp_path: Path) -> None:
    path = tmp_path / "agent.db"
    ctx = multiprocessing.get_context("spawn")
    ready = ctx.Event()
    child = ctx.Process(target=_write_then_die, args=(str(path), ready))
    child.start()
    assert ready.wait(30)
    assert child.pid is not None
    os.kill(child.pid, signal.SIGKILL)
    child.join(10)
    async with AgentStore(path) as store:
        job = await store.job("j1")
        assert job is not None
        assert (job.status, job.state) == (JobStatus.FISCALISED, {"document": 9})
        assert [e.type for e in await store.pending()] == ["e"]

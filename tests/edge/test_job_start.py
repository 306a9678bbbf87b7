"""The agent tells the hub it is starting a receipt before the register registers
anything (so a revocation holds the job instead of giving it to another agent, whose
register would make it again): the job runner with the real register driver against the
simulated Shtrih-M register on a pty. The hub saying the job is not this agent's leaves
it unregistered; the hub not settling it holds it; the hub unreachable lets it be made
offline; a revoked token stops the runner, nothing registered. A job left for want of a
device is looked at again after a restart (the configuration may have been put right)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from edge_agent.devices import FiscalDevice
from edge_agent.jobs import JobRunner
from edge_agent.link import TokenRefused
from edge_agent.store import STARTED, AgentStore, JobStatus
from tests.edge.test_job_faults import receipt, register_on_a_pty, results

Start = Callable[[str], Awaitable[bool | None]]


def runner(store: AgentStore, fiscal: FiscalDevice | None, start: Start) -> JobRunner:
    async def claim(_job: str) -> bool:
        return True

    return JobRunner(
        store, fiscal=fiscal, printer=None, drawer=False, on_event=lambda: None,
        retry_seconds=0.01, claim=claim, start=start,
    )  # fmt: skip


async def test_the_hub_hears_of_a_receipt_before_the_register_makes_it(tmp_path: Path) -> None:
    async with register_on_a_pty() as bench, AgentStore(tmp_path / "a.db") as store:
        made_when_told: list[int] = []

        async def start(job: str) -> bool:
            made_when_told.append(len(bench.simulator.register.receipts))
            return True

        jobs = runner(store, bench.device(), start)
        await jobs.accept({"id": "j1", "kind": "receipt", "payload": receipt(1, "22"),
                           "device": "me"})  # fmt: skip
        await jobs.work_once()
        job = await store.job("j1")
        outcomes = dict(await results(store))
    assert made_when_told == [0]  # told once, before anything was registered
    assert job is not None
    assert job.status is JobStatus.DONE
    assert job.state[STARTED] is True
    assert outcomes["j1"]["status"] == "done"
    assert len(bench.simulator.register.receipts) == 1


async def test_what_the_hub_says_decides_whether_the_register_makes_it(tmp_path: Path) -> None:
    """Not ours (another agent's, or over): left, nothing registered, nothing reported.
    The hub connected but not settling it: held, asked again. The hub unreachable: made
    offline (the hub cannot be told). The token revoked: the runner stops."""
    answers: dict[str, bool | BaseException | None] = {
        "theirs": False,
        "offline": None,
        "unsettled": ConnectionError("the hub did not settle the claim"),
    }

    async def start(job: str) -> bool | None:
        answer = answers[job]
        if isinstance(answer, BaseException):
            raise answer
        return answer

    async with register_on_a_pty() as bench, AgentStore(tmp_path / "a.db") as store:
        jobs = runner(store, bench.device(), start)
        for number, job_id in enumerate(answers, 1):
            await jobs.accept({"id": job_id, "kind": "receipt", "payload": receipt(number, "22"),
                               "device": "me"})  # fmt: skip
            await jobs.work_once()
        status = {j: (await store.job(j)).status for j in answers}  # type: ignore[union-attr]
        outcomes = dict(await results(store))
        made = len(bench.simulator.register.receipts)
        answers["unsettled"] = TokenRefused("revoked")
        with pytest.raises(TokenRefused):
            await jobs.work_once()
        after = await store.job("unsettled")
        answers["unsettled"] = True
        await jobs.work_once()  # the hub settles it later
        settled = await store.job("unsettled")
    assert status == {
        "theirs": JobStatus.TAKEN,
        "offline": JobStatus.DONE,
        "unsettled": JobStatus.RECEIVED,
    }
    assert list(outcomes) == ["offline"]
    assert made == 1  # the offline one only
    assert after is not None
    assert after.status is JobStatus.RECEIVED
    assert settled is not None
    assert settled.status is JobStatus.DONE
    assert len(bench.simulator.register.receipts) == 2


async def test_a_job_left_for_want_of_a_device_is_looked_at_again_after_a_restart(
    tmp_path: Path,
) -> None:
    """A job given to no agent, which this agent could not do (no register configured
    for the till): left to others. The configuration put right and the agent restarted,
    it claims the job (the hub decides whose it is) and makes it."""
    claimed: list[str] = []

    async def claim(job: str) -> bool:
        claimed.append(job)
        return True

    async def start(_job: str) -> bool:
        return True

    async with register_on_a_pty() as bench, AgentStore(tmp_path / "a.db") as store:
        before = JobRunner(store, fiscal=None, printer=None, drawer=False,
                           on_event=lambda: None, retry_seconds=0.01, claim=claim)  # fmt: skip
        await before.accept({"id": "j1", "kind": "receipt", "payload": receipt(1, "22")})
        await before.work_once()
        left = await store.job("j1")
        after = JobRunner(store, fiscal=bench.device(), printer=None, drawer=False,
                          on_event=lambda: None, retry_seconds=0.01, claim=claim,
                          start=start)  # fmt: skip
        running = asyncio.create_task(after.run())
        try:
            for _ in range(200):
                job = await store.job("j1")
                if job is not None and job.status is JobStatus.DONE:
                    break
                await asyncio.sleep(0.05)
        finally:
            running.cancel()
            await asyncio.gather(running, return_exceptions=True)
        done = await store.job("j1")
    assert left is not None
    assert left.status is JobStatus.TAKEN
    assert claimed == ["j1"]  # not claimed while nothing here could do it
    assert done is not None
    assert done.status is JobStatus.DONE
    assert len(bench.simulator.register.receipts) == 1

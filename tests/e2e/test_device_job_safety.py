"""Fiscal safety of device jobs on the hub: a revocation never races a claim or a report
(the token's row is locked), a revoked agent can neither claim nor report, a job its
agent started is held for a person instead of given to another agent (whose register
would register the receipt again), and a claim follows the hub's routing (an agent with
only a printer cannot take a till's receipt whose register another agent drives)."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
import pytest

from hub.adapters.db.uow import UnitOfWork
from hub.domain.errors import AuthenticationFailed
from hub.domain.jobs import JobStatus
from hub.services import agents, device_jobs
from hub.services.principal import Principal
from protocol.errors import ErrorCode
from tests import services
from tests.e2e.test_device_jobs import FISCAL, JOBS, jobs_of, open_shift, second_device, sell
from tests.helpers import TenantKit, bearer, build_tenant

# Also with the tenant on a second cluster: the token's row is locked through its
# foreign table there.
store = services.stores_with_clusters()

PRINTER = {"name": "p", "kind": "printer", "status": "online"}
FISCAL_DEVICE = {"name": "f", "kind": "fiscal", "status": "online"}


def agent_of(kit: TenantKit, device_id: str) -> Principal:
    """The principal an agent's request carries, authenticated before what follows."""
    return Principal(
        tenant_id=uuid.UUID(kit.tenant_id),
        shop_ids=frozenset({uuid.UUID(kit.shop_id)}),
        device_id=uuid.UUID(device_id),
    )


async def announce(
    client: httpx.AsyncClient, kit: TenantKit, device_id: str, devices: list[dict[str, Any]]
) -> None:
    async with UnitOfWork(client.app.state.deps.db, uuid.UUID(kit.tenant_id), write=True) as uow:  # type: ignore[attr-defined]
        await agents.announce(
            uow, agent_of(kit, device_id), epoch="e1", version="1", devices=devices
        )


async def two_agents(client: httpx.AsyncClient) -> tuple[TenantKit, dict[str, str], str]:
    """A shop with two agents whose printers could both take its receipts (the job goes
    to the first by id), and an open shift: the kit, id → token, the shift."""
    kit = await build_tenant(client)
    spare = await second_device(client, kit, kit.shop_id)
    tokens = {kit.device_id: kit.device_token, spare["id"]: spare["token"]}
    for device in tokens:
        await announce(client, kit, device, [PRINTER, FISCAL_DEVICE])
    return kit, tokens, await open_shift(client, kit)


async def revoke(client: httpx.AsyncClient, kit: TenantKit, device: str) -> None:
    gone = await client.delete(f"/api/users/device-tokens/{device}/", headers=kit.token("owner"))
    assert gone.status_code == 204, gone.text


async def test_a_revoked_agent_can_neither_claim_nor_report(client: httpx.AsyncClient) -> None:
    """A request authenticated just before the token is revoked lands after it: the
    claim, the start, the report (REST and the event stream) are refused with
    `token_revoked`, and the event stream does not acknowledge the event (the agent's
    outbox keeps what its register did)."""
    db = client.app.state.deps.db  # type: ignore[attr-defined]
    kit, tokens, shift = await two_agents(client)
    t = uuid.UUID(kit.tenant_id)
    sold = await sell(client, kit, shift)
    (job,) = await jobs_of(client, kit.token("manager"), ref=sold["id"])
    owner = job["device"]
    late = agent_of(kit, owner)
    await revoke(client, kit, owner)
    job_id = uuid.UUID(job["id"])
    for attempt in (
        lambda uow: device_jobs.claim(uow, late, job_id),
        lambda uow: device_jobs.claim(uow, late, job_id, start=True),
        lambda uow: device_jobs.report(uow, late, job_id, JobStatus.DONE, {"fiscal": FISCAL}),
    ):
        async with UnitOfWork(db, t, write=True) as uow:
            with pytest.raises(AuthenticationFailed) as refused:
                await attempt(uow)
        assert refused.value.code is ErrorCode.TOKEN_REVOKED
    report = {"job": job["id"], "status": "done", "result": {"fiscal": FISCAL}}
    with pytest.raises(AuthenticationFailed) as refused:
        await agents.apply_events(
            db, late, "e1", [agents.IncomingEvent(1, "ev-1", "job.result", report)]
        )
    assert refused.value.code is ErrorCode.TOKEN_REVOKED
    (after,) = await jobs_of(client, kit.token("manager"), ref=sold["id"])
    other = next(d for d in tokens if d != owner)
    assert (after["status"], after["device"]) == ("pending", other)  # given away, untouched


@pytest.mark.parametrize("outcome", ["report", "claim"])
async def test_a_revocation_waits_for_a_report_or_claim_under_way(
    client: httpx.AsyncClient, outcome: str
) -> None:
    """The agent's report (or start) is in a transaction not yet committed when the
    manager revokes its token: the revocation waits for it, then reads the jobs as they
    are. A job reported done is not handed to the other agent; one started is held."""
    db = client.app.state.deps.db  # type: ignore[attr-defined]
    kit, tokens, shift = await two_agents(client)
    t = uuid.UUID(kit.tenant_id)
    sold = await sell(client, kit, shift)
    (job,) = await jobs_of(client, kit.token("manager"), ref=sold["id"])
    owner, job_id = job["device"], uuid.UUID(job["id"])
    other = next(d for d in tokens if d != owner)
    async with UnitOfWork(db, t, write=True) as uow:
        if outcome == "report":
            result = {"fiscal": FISCAL}
            await device_jobs.record_report(
                uow, agent_of(kit, owner), job_id, JobStatus.DONE, result
            )
        else:
            # The claim's own commit, held back: what it wrote is not yet committed.
            uow.commit = _noop  # type: ignore[method-assign]
            await device_jobs.claim(uow, agent_of(kit, owner), job_id, start=True)
        revoking = asyncio.create_task(revoke(client, kit, owner))
        await asyncio.sleep(0.5)  # the revocation has read what it reads unlocked by now
        assert not revoking.done()  # it waits for this transaction
        await type(uow).commit(uow)
    await revoking
    (after,) = await jobs_of(client, kit.token("manager"), ref=sold["id"])
    assert after["device"] == owner  # never given to the other agent
    assert after["status"] == ("done" if outcome == "report" else "failed")
    assert await jobs_of(client, bearer(tokens[other]), status="pending") == []


async def _noop() -> None:
    return None


async def test_a_started_job_of_a_revoked_agent_is_held_for_a_person(
    client: httpx.AsyncClient,
) -> None:
    """The agent said it was about to fiscalise the receipt, then was revoked before
    reporting: the job is not given to the other agent (its register would register the
    receipt again) but failed with `agent_revoked`, and the sale shows it; a job it had
    not started goes to the other agent as before. A manager who checked the register
    retries it: then it goes to the other agent."""
    kit, tokens, shift = await two_agents(client)
    started_sale = await sell(client, kit, shift)
    waiting_sale = await sell(client, kit, shift)
    (started,) = await jobs_of(client, kit.token("manager"), ref=started_sale["id"])
    (waiting,) = await jobs_of(client, kit.token("manager"), ref=waiting_sale["id"])
    owner = started["device"]
    assert waiting["device"] == owner
    other = next(d for d in tokens if d != owner)
    begun = await client.post(f"{JOBS}{started['id']}/start/", headers=bearer(tokens[owner]))
    assert begun.status_code == 200, begun.text
    assert begun.json()["started_at"] is not None
    again = await client.post(f"{JOBS}{started['id']}/start/", headers=bearer(tokens[owner]))
    assert again.json()["started_at"] == begun.json()["started_at"]  # once
    theirs = await client.post(f"{JOBS}{started['id']}/start/", headers=bearer(tokens[other]))
    assert (theirs.status_code, theirs.json()["error"]["code"]) == (409, "job_taken")
    await revoke(client, kit, owner)
    jobs = {j["id"]: j for j in await jobs_of(client, kit.token("manager"))}
    held = jobs[started["id"]]
    assert (held["status"], held["device"]) == ("failed", owner)
    assert held["result"]["code"] == "agent_revoked"
    assert (jobs[waiting["id"]]["status"], jobs[waiting["id"]]["device"]) == ("pending", other)
    pending = await jobs_of(client, bearer(tokens[other]), status="pending")
    assert [j["id"] for j in pending] == [waiting["id"]]
    sale = await client.get(f"/api/sales/sales/{started_sale['id']}/", headers=kit.token("owner"))
    assert sale.json()["receipt_status"] == "failed"
    retried = await client.post(f"{JOBS}{held['id']}/retry/", headers=kit.token("manager"))
    assert retried.status_code == 200, retried.text
    body = retried.json()
    assert (body["status"], body["device"], body["started_at"]) == ("pending", other, None)


async def test_a_claim_follows_the_hubs_routing(client: httpx.AsyncClient) -> None:
    """A receipt made before any agent announced its devices is given to none. Then one
    agent announces a printer and a register bound to the sale's till, another only an
    unbound printer: the printer-only agent's claim is refused (`job_taken`, it would
    print the receipt without fiscalising it), and the job stays for the register's."""
    kit = await build_tenant(client)
    spare = await second_device(client, kit, kit.shop_id)
    shift = await open_shift(client, kit)
    sold = await sell(client, kit, shift)
    (job,) = await jobs_of(client, kit.token("manager"), ref=sold["id"])
    assert job["device"] is None
    till = job["payload"]["register"]["id"]
    bound = [{**d, "cash_register": till} for d in (PRINTER, FISCAL_DEVICE)]
    await announce(client, kit, kit.device_id, bound)
    await announce(client, kit, spare["id"], [PRINTER])
    wrong = await client.post(f"{JOBS}{job['id']}/claim/", headers=bearer(spare["token"]))
    assert (wrong.status_code, wrong.json()["error"]["code"]) == (409, "job_taken")
    (still,) = await jobs_of(client, kit.token("manager"), ref=sold["id"])
    assert (still["device"], still["status"]) == (None, "pending")
    right = await client.post(f"{JOBS}{job['id']}/start/", headers=bearer(kit.device_token))
    assert right.status_code == 200, right.text
    assert right.json()["device"] == kit.device_id
    done = await client.post(
        f"{JOBS}{job['id']}/done/", json={"fiscal": FISCAL}, headers=bearer(kit.device_token)
    )
    assert done.status_code == 200, done.text

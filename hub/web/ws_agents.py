"""The websocket door for edge agents: `agent.announce`, `agent.events`, `agent.jobs`,
`agent.claim`."""

from __future__ import annotations

from typing import Any

from hub.adapters.db.uow import UnitOfWork
from hub.services import agents, device_jobs
from hub.services.deps import Deps
from hub.services.principal import Principal
from protocol import messages as m


async def handle(deps: Deps, principal: Principal, request: m.Message) -> dict[str, Any]:
    tenant = principal.tenant_id
    match request:
        case m.AgentAnnounce(epoch=epoch, version=version, devices=devices):
            async with UnitOfWork(deps.db, tenant, write=True) as uow:
                acked = await agents.announce(
                    uow,
                    principal,
                    epoch=epoch,
                    version=version,
                    devices=[d.model_dump(mode="json", exclude_none=True) for d in devices],
                )
            return {"acked": acked}
        case m.AgentEvents(epoch=epoch, events=events):
            incoming = [agents.IncomingEvent(e.seq, e.id, e.type, e.payload) for e in events]
            return {"acked": await agents.apply_events(deps.db, principal, epoch, incoming)}
        case m.AgentJobs():
            async with UnitOfWork(deps.db, tenant) as uow:
                return {"jobs": await agents.pending_jobs(uow, principal)}
        case m.AgentClaim(job=job_id, start=start):
            async with UnitOfWork(deps.db, tenant, write=True) as uow:
                job = await device_jobs.claim(uow, principal, job_id, start=start)
                return {"job": device_jobs.created_event(job)}
    raise AssertionError(type(request).__name__)

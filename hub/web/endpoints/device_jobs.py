"""Jobs for edge agents: `/api/devices/jobs/`. Agents (device tokens) list their shop's
queue and report outcomes; managers and owners read the queues of their shops and retry
failed jobs. Permissions are checked in `hub/services/device_jobs.py`: a device has no
role, so these endpoints name none."""

from __future__ import annotations

import uuid

from hub.domain.jobs import JobKind, JobStatus
from hub.domain.permissions import Permission
from hub.services import device_jobs
from hub.web.api import Api, Auth, Ctx
from hub.web.schemas.common import Page
from hub.web.schemas.device_jobs import JobDoneIn, JobFailedIn, JobOut, JobQuery, JobRequestIn

api = Api()
TAG = "devices"


@api.get("/api/devices/jobs/", tag=TAG, auth=Auth.ANY)
async def list_device_jobs(ctx: Ctx, query: JobQuery) -> Page[JobOut]:
    """Jobs, oldest first: an agent sees its own shop's, managers and owners those of
    their shops (`devices.manage`). `?status=pending` is an agent's queue."""
    found, count = await device_jobs.list_jobs(
        ctx.uow,
        ctx.principal,
        query.page_request(),
        status=query.status,
        shop=query.shop,
        kind=query.kind,
        ref=query.ref,
    )
    return Page[JobOut].build(ctx.request, query, [JobOut.of(j) for j in found], count)


@api.post("/api/devices/jobs/", tag=TAG, permission=Permission.SALES_SELL, status=201)
async def request_device_job(ctx: Ctx, body: JobRequestIn) -> JobOut:
    """Ask the shop's agent to open the cash drawer (a reason is kept with the job) or to
    show lines on the customer display; the agent reports the outcome like any job."""
    job = await device_jobs.request_job(
        ctx.uow, ctx.principal, body.shop, JobKind(body.kind), body.payload()
    )
    return JobOut.of(job)


@api.post("/api/devices/jobs/{job_id}/done/", tag=TAG, auth=Auth.ANY)
async def report_job_done(ctx: Ctx, job_id: uuid.UUID, body: JobDoneIn) -> JobOut:
    """An agent reports a job done (with the fiscal register's data). Repeating it is
    harmless; a job already failed, or done with another result, is 409 `job_finished`."""
    result = body.model_dump(mode="json", exclude_none=True)
    return JobOut.of(
        await device_jobs.report(ctx.uow, ctx.principal, job_id, JobStatus.DONE, result)
    )


@api.post("/api/devices/jobs/{job_id}/failed/", tag=TAG, auth=Auth.ANY)
async def report_job_failed(ctx: Ctx, job_id: uuid.UUID, body: JobFailedIn) -> JobOut:
    """An agent reports a job failed. Repeating it is harmless; a job already done, or
    failed with another error, is 409 `job_finished`."""
    result = body.model_dump(mode="json", exclude_none=True)
    return JobOut.of(
        await device_jobs.report(ctx.uow, ctx.principal, job_id, JobStatus.FAILED, result)
    )


@api.post("/api/devices/jobs/{job_id}/claim/", tag=TAG, auth=Auth.ANY)
async def claim_device_job(ctx: Ctx, job_id: uuid.UUID) -> JobOut:
    """An agent takes a pending job given to no agent, before working it: of agents
    racing, exactly one gets it (200, `device` is theirs); the others get 409
    `job_taken`. A job already the agent's is returned as it is; one no longer pending is
    409 `job_finished`."""
    return JobOut.of(await device_jobs.claim(ctx.uow, ctx.principal, job_id))


@api.post("/api/devices/jobs/{job_id}/start/", tag=TAG, auth=Auth.ANY)
async def start_device_job(ctx: Ctx, job_id: uuid.UUID) -> JobOut:
    """An agent says it is about to fiscalise a job (its own, or one given to no agent,
    which it claims so): `started_at` is set, and from then on the job is never given
    to another agent, even when this one's token is revoked: it is then held for a
    person (failed, `agent_revoked`). Refused as a claim is (`job_taken`,
    `job_finished`, 401 `token_revoked`)."""
    return JobOut.of(await device_jobs.claim(ctx.uow, ctx.principal, job_id, start=True))


@api.post("/api/devices/jobs/{job_id}/retry/", tag=TAG, permission=Permission.DEVICES_MANAGE)
async def retry_device_job(ctx: Ctx, job_id: uuid.UUID) -> JobOut:
    """Put a failed job back in its shop's queue (managers and owners). A pending job is
    left as it is; a done job is 409 `job_finished`."""
    return JobOut.of(await device_jobs.retry(ctx.uow, ctx.principal, job_id))

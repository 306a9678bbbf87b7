"""Edge agents: their announcements, their event streams and their jobs.

An agent numbers its events (`seq`, per `epoch` — one epoch per agent store) and sends
them in order until acknowledged. The hub applies each event in its own transaction
together with moving the agent's `acked_seq` on by one and recording the event's id, so
an event is applied exactly once: a resend of an applied event (seq at or below
`acked_seq`, or a known id) is skipped, and an event after a gap waits for the missing
one. An event the shop cannot use (an unknown barcode, a till without a shift) is
acknowledged with its refusal recorded, never retried forever.

Event types: `scan` (a code from a scanner bound to a till → the till's live cart),
`device.status` (a device's state → the shop's channel), `job.result` (a job done or
failed → the job, the sale's receipt status and fiscal data → the sales feed and the
cashier).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from hub.adapters.db.database import Database
from hub.adapters.db.job_tables import AgentEvent, AgentLink
from hub.adapters.db.repositories import PageRequest
from hub.adapters.db.types import utcnow
from hub.adapters.db.uow import UnitOfWork
from hub.domain.errors import Conflict, DomainError, PermissionDenied, ValidationFailed
from hub.domain.jobs import JobStatus
from hub.services import carts, device_jobs
from hub.services.principal import Principal
from protocol import channels
from protocol.errors import ErrorCode

log = logging.getLogger("hub.agents")

PENDING_JOBS_LIMIT = 100
JOB_OUTCOMES = ("done", "failed")


@dataclass(frozen=True)
class IncomingEvent:
    seq: int
    id: str
    type: str
    payload: dict[str, Any]


def _agent(principal: Principal) -> tuple[uuid.UUID, uuid.UUID]:
    """The device and its one shop; only an agent's token may speak for an agent."""
    if principal.device_id is None or len(principal.shop_ids) != 1:
        raise PermissionDenied("only an edge agent's device token may do this")
    return principal.device_id, next(iter(principal.shop_ids))


async def announce(
    uow: UnitOfWork,
    principal: Principal,
    *,
    epoch: str,
    version: str,
    devices: Sequence[dict[str, Any]],
) -> int:
    """Record the agent's devices; returns the sequence the hub has applied up to in
    this epoch (0 for a new epoch: a new store starts counting again)."""
    device_id, shop_id = _agent(principal)
    link = await uow.session.get(AgentLink, device_id, with_for_update=True)
    if link is None:
        link = AgentLink(device_id=device_id, shop_id=shop_id, epoch=epoch, acked_seq=0)
        uow.session.add(link)
    elif link.epoch != epoch:
        log.info("agent %s starts epoch %s after %s", device_id, epoch, link.epoch)
        link.epoch, link.acked_seq = epoch, 0
    link.version = version
    link.devices = list(devices)
    link.seen_at = utcnow()
    uow.emit(
        channels.shop(uow.tenant_id, shop_id),
        "agent.status",
        {"agent": str(device_id), "version": version, "devices": list(devices)},
    )
    await uow.commit()
    return link.acked_seq


async def pending_jobs(uow: UnitOfWork, principal: Principal) -> list[dict[str, Any]]:
    """The shop's jobs not done yet, oldest first, as `job.created` carries them."""
    _agent(principal)
    jobs, _ = await device_jobs.list_jobs(
        uow, principal, PageRequest(0, PENDING_JOBS_LIMIT), status=JobStatus.PENDING
    )
    return [device_jobs.created_event(job) for job in jobs]


async def apply_events(
    db: Database, principal: Principal, epoch: str, events: Sequence[IncomingEvent]
) -> int:
    """Apply the batch in order, each event in its own transaction; returns the highest
    sequence applied without a gap."""
    device_id, _ = _agent(principal)
    acked = 0
    for event in sorted(events, key=lambda e: e.seq):
        async with UnitOfWork(db, principal.tenant_id, write=True) as uow:
            link = await _locked_link(uow, device_id, epoch)
            # A revoked agent's events are refused whole, not acknowledged: its outbox
            # keeps what its devices did (a receipt registered) for a person to find.
            await device_jobs.live_agent(uow, principal)
            acked = link.acked_seq
            if event.seq <= acked:
                continue  # applied before: the agent missed our acknowledgement
            if event.seq != acked + 1:
                break  # a gap: the missing event comes first
            duplicate = await uow.session.get(AgentEvent, event.id) is not None
            outcome = "duplicate id" if duplicate else await _apply_or_refuse(uow, principal, event)
            acked = await _record(uow, link, event, outcome, keep=not duplicate)
    return acked


async def _locked_link(uow: UnitOfWork, device_id: uuid.UUID, epoch: str) -> AgentLink:
    link = await uow.session.get(AgentLink, device_id, with_for_update=True)
    if link is None or link.epoch != epoch:
        raise Conflict("announce this epoch first", code=ErrorCode.CONFLICT)
    return link


async def _record(
    uow: UnitOfWork, link: AgentLink, event: IncomingEvent, outcome: str, *, keep: bool
) -> int:
    """The event's sequence on the link (still locked: the event's savepoint came after
    the lock), and the event itself unless its id was recorded before (`keep`)."""
    link.acked_seq = event.seq
    link.seen_at = utcnow()
    if keep:
        uow.session.add(
            AgentEvent(
                id=event.id,
                device_id=link.device_id,
                epoch=link.epoch,
                seq=event.seq,
                type=event.type,
                payload=event.payload,
                outcome=outcome[:200],
            )
        )
    await uow.commit()
    return event.seq


async def _apply_or_refuse(uow: UnitOfWork, principal: Principal, event: IncomingEvent) -> str:
    """Apply one event; a refusal rolls its effects back and is what gets recorded."""
    try:
        async with uow.savepoint():
            await _apply(uow, principal, event)
    except DomainError as exc:
        log.info("agent event %s %s refused: %s", event.type, event.id, exc.message)
        if event.type == "scan":
            await _tell_the_till(uow, event.payload, exc)
        return f"refused: {exc.code.value}: {exc.message}"
    return "applied"


async def _apply(uow: UnitOfWork, principal: Principal, event: IncomingEvent) -> None:
    match event.type:
        case "scan":
            register, code = _scan_fields(event.payload)
            await carts.add_scanned(uow, principal, register, code)
        case "device.status":
            _device_status(uow, principal, event.payload)
        case "job.result":
            await _job_result(uow, principal, event.payload)
        case _:
            raise ValidationFailed("unknown event type", fields={"type": event.type[:32]})


async def _tell_the_till(uow: UnitOfWork, payload: dict[str, Any], exc: DomainError) -> None:
    try:
        register, code = _scan_fields(payload)
    except ValidationFailed:
        return  # not even a scan: nobody to tell
    await carts.announce_refusal(uow, register, code, exc.message, exc.code.value)


def _text(payload: dict[str, Any], key: str, limit: int) -> str:
    value = payload.get(key)
    if not isinstance(value, str) or not 0 < len(value) <= limit:
        raise ValidationFailed("bad event", fields={key: f"text of 1-{limit} characters"})
    return value


def _scan_fields(payload: dict[str, Any]) -> tuple[uuid.UUID, str]:
    try:
        register = uuid.UUID(_text(payload, "register", 36))
    except ValueError as exc:
        raise ValidationFailed("bad event", fields={"register": "a register id"}) from exc
    return register, _text(payload, "code", 64)


def _device_status(uow: UnitOfWork, principal: Principal, payload: dict[str, Any]) -> None:
    device_id, shop_id = _agent(principal)
    status = {
        "name": _text(payload, "name", 64),
        "status": _text(payload, "status", 32),
        "detail": str(payload.get("detail", ""))[:200],
    }
    uow.emit(
        channels.shop(uow.tenant_id, shop_id),
        "device.status",
        {"agent": str(device_id), **status},
    )


async def _job_result(uow: UnitOfWork, principal: Principal, payload: dict[str, Any]) -> None:
    try:
        job_id = uuid.UUID(_text(payload, "job", 36))
    except ValueError as exc:
        raise ValidationFailed("bad event", fields={"job": "a job id"}) from exc
    outcome = _text(payload, "status", 10)
    if outcome not in JOB_OUTCOMES:
        raise ValidationFailed("bad event", fields={"status": "done or failed"})
    result = payload.get("result") or {}
    if not isinstance(result, dict):
        raise ValidationFailed("bad event", fields={"result": "an object"})
    await device_jobs.record_report(uow, principal, job_id, JobStatus(outcome), result)

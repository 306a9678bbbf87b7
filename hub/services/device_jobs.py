"""Jobs for a shop's edge agent: a receipt to print and fiscalise for every sale and
every return.

A job is written in the transaction of the sale that causes it, once per (kind, document),
and announced with `job.created` on the device channel of every active agent of the shop
after commit. An agent that was offline lists the shop's pending jobs over REST. The agent
reports each job `done` (with what the fiscal register registered) or `failed`; either
publishes `job.updated` on the shop's channel so a manager's screen can show a failed
print, and a manager may put a failed job back in the queue.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from hub.adapters.db.job_tables import DeviceJob
from hub.adapters.db.repositories import PageRequest
from hub.adapters.db.sales_tables import Sale, SaleLine
from hub.adapters.db.types import utcnow
from hub.adapters.db.uow import UnitOfWork
from hub.domain.errors import AuthenticationFailed, NotFound, PermissionDenied, ValidationFailed
from hub.domain.ids import new_id
from hub.domain.jobs import (
    REQUESTED_KINDS,
    JobKind,
    JobStatus,
    accepts_report,
    accepts_retry,
    claims,
    revoked_result,
    route,
)
from hub.domain.permissions import Permission
from hub.domain.pricing import CENT, ZERO, cents, included_vat
from hub.domain.shifts import PaymentMethod
from hub.services.principal import Principal
from hub.services.shops import check_shop_filter, get_shop
from protocol import channels
from protocol.errors import ErrorCode
from protocol.jobs import REQUESTED_JOB_TTL, till_of

if TYPE_CHECKING:  # sales.py and returns.py call this module: a runtime import is circular
    from hub.services.returns import ReturnView
    from hub.services.sales import SaleView

RECEIPT_VERSION = 1
_QUANTITY = Decimal("0.001")


def _money(value: Decimal) -> str:
    return str(value.quantize(CENT))


def _quantity(value: Decimal) -> str:
    return str(value.quantize(_QUANTITY))


# --- enqueueing (inside the caller's transaction) -------------------------------------


async def enqueue_receipt(uow: UnitOfWork, view: SaleView, *, new_sale: bool = False) -> DeviceJob:
    """The receipt job of a committed sale, written in the sale's transaction (no commit
    here). Once per sale: a second call returns the job the first one wrote
    (`new_sale`: the sale is being written in this transaction, there is none yet)."""
    sale = view.sale
    existing = None if new_sale else await uow.device_jobs.by_ref(JobKind.RECEIPT, sale.id)
    if existing is not None:
        return existing
    return await _receipt_job(uow, sale.shop_id, sale.id, await receipt_document(uow, view))


Agents = dict[uuid.UUID, list[dict[str, Any]]]  # a shop's active agents and their devices


class NamedBusiness(Protocol):
    """What a receipt's header names of the tenant."""

    name: str


class HeaderShop(Protocol):
    """What a receipt's header says of its shop."""

    id: uuid.UUID
    name: str
    address: str
    timezone: str


class NamedCashier(Protocol):
    """What a receipt's header names of its cashier."""

    username: str
    full_name: str


People = tuple[NamedBusiness, HeaderShop | None, NamedCashier | None]


class NamedRegister(Protocol):
    """What a receipt's header names of its register."""

    id: uuid.UUID
    name: str


class NumberedShift(Protocol):
    """What a receipt's header names of its shift."""

    id: uuid.UUID
    number: int


@dataclass
class ReceiptsTogether:
    """What the receipts of sales written together share, read once by the caller, for
    every sale of the group: each shop's agents, the business, shop and cashier a header
    names (by shop and cashier), and the sales' registers and shifts (the rows their
    sales locked)."""

    registers: Mapping[uuid.UUID, NamedRegister]
    shifts: Mapping[uuid.UUID, NumberedShift]
    agents: Mapping[uuid.UUID, Agents]
    people: Mapping[tuple[uuid.UUID, uuid.UUID], People]


async def new_receipt_job(uow: UnitOfWork, view: SaleView, shared: ReceiptsTogether) -> DeviceJob:
    """The receipt job of a sale being written in this transaction with others (a
    group of paid carts), as `enqueue_receipt` makes it and gives it to its agent. The
    caller writes the job."""
    sale = view.sale
    job = _new_job(sale.shop_id, sale.id, await receipt_document(uow, view, shared))
    _give(uow, job, shared.agents[sale.shop_id])
    return job


async def enqueue_return_receipt(
    uow: UnitOfWork, view: ReturnView, sale: Sale, sale_lines: Sequence[SaleLine]
) -> DeviceJob:
    """The receipt job of a return (`operation: "return"`: the register registers a
    return of income, the printer prints a return receipt), written in the return's
    transaction; the caller makes it once per return, with the sale's lines it read."""
    made = view.sale_return
    document = await return_receipt_document(uow, view, sale, sale_lines)
    return await _receipt_job(uow, made.shop_id, made.id, document)


def _new_job(shop_id: uuid.UUID, ref_id: uuid.UUID, document: dict[str, Any]) -> DeviceJob:
    now = utcnow()
    return DeviceJob(
        id=new_id(),
        shop_id=shop_id,
        kind=JobKind.RECEIPT.value,
        ref_id=ref_id,
        payload=document,
        status=JobStatus.PENDING.value,
        attempts=0,
        created_at=now,
        updated_at=now,
    )


async def _receipt_job(
    uow: UnitOfWork, shop_id: uuid.UUID, ref_id: uuid.UUID, document: dict[str, Any]
) -> DeviceJob:
    job = _new_job(shop_id, ref_id, document)
    await _announce(uow, job)  # first: it gives the job its agent
    uow.device_jobs.add(job)
    await uow.session.flush()
    return job


async def request_job(
    uow: UnitOfWork,
    principal: Principal,
    shop_id: uuid.UUID,
    kind: JobKind,
    payload: dict[str, Any],
) -> DeviceJob:
    """A job a seller asks for at a till: open the drawer (with the reason, kept with the
    job and its outcome) or show lines on the customer display. The caller has checked
    the payload's shape."""
    principal.require(Permission.SALES_SELL)
    if kind not in REQUESTED_KINDS:
        raise ValidationFailed("not a job staff may ask for", fields={"kind": kind.value})
    await get_shop(uow, principal, shop_id)
    if "register" in payload:
        register = await uow.registers.get(uuid.UUID(payload["register"]))
        if register is None or register.shop_id != shop_id:
            raise ValidationFailed("no such till", fields={"cash_register": "not in this shop"})
    job = await _queue_requested(uow, shop_id, kind, payload, principal.user_id)
    await uow.commit()
    return job


async def open_till_drawer(
    uow: UnitOfWork, shop_id: uuid.UUID, register_id: uuid.UUID, reason: str, by: uuid.UUID | None
) -> DeviceJob:
    """Cash goes into or out of a till's drawer: the shop's agent opens it (when asked
    in time: `REQUESTED_JOB_TTL`; see `expire_unclaimed`). The caller commits."""
    payload = {"reason": reason[:200], "register": str(register_id)}
    return await _queue_requested(uow, shop_id, JobKind.OPEN_DRAWER, payload, by)


async def _queue_requested(
    uow: UnitOfWork,
    shop_id: uuid.UUID,
    kind: JobKind,
    payload: dict[str, Any],
    by: uuid.UUID | None,
) -> DeviceJob:
    now = utcnow()
    job = DeviceJob(
        id=new_id(),
        shop_id=shop_id,
        kind=kind.value,
        ref_id=new_id(),  # no document: the job is its own
        payload={**payload, "requested_by": str(by) if by else None},
        status=JobStatus.PENDING.value,
        attempts=0,
        created_at=now,
        updated_at=now,
    )
    await _announce(uow, job)  # first: it gives the job its agent
    uow.device_jobs.add(job)
    await uow.session.flush()
    uow.emit(channels.shop(uow.tenant_id, shop_id), "job.updated", updated_event(job))
    return job


async def _header(
    uow: UnitOfWork,
    *,
    shop_id: uuid.UUID,
    register_id: uuid.UUID,
    shift_id: uuid.UUID,
    cashier_id: uuid.UUID,
    created_at: datetime,
    shared: ReceiptsTogether | None = None,
) -> dict[str, Any]:
    """Who, where and when, as both receipt documents carry it: the time in the shop's
    own zone with its offset. `shared`: what the receipts written together read once."""
    found: People
    if shared is not None:
        found = shared.people[shop_id, cashier_id]
    else:
        found = await uow.tenants.with_shop_and_user(shop_id, cashier_id)
    tenant, shop, cashier = found
    register: NamedRegister | None
    shift: NumberedShift | None
    if shared is not None:
        register, shift = shared.registers.get(register_id), shared.shifts.get(shift_id)
    else:
        register, shift = await uow.registers.get(register_id), await uow.shifts.get(shift_id)
    assert shop is not None, "a receipt's shop exists"
    assert register is not None, "a receipt's register exists"
    assert shift is not None, "a receipt's shift exists"
    try:
        zone = ZoneInfo(shop.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        zone = ZoneInfo("UTC")
    return {
        "version": RECEIPT_VERSION,
        "business": tenant.name,
        "shop": {"id": str(shop.id), "name": shop.name, "address": shop.address},
        "register": {"id": str(register.id), "name": register.name},
        "shift": {"id": str(shift.id), "number": shift.number},
        "cashier": {
            "id": str(cashier_id),
            "name": (cashier.full_name or cashier.username) if cashier else "",
        },
        "created_at": created_at.astimezone(zone).isoformat(),
        "timezone": zone.key,
    }


async def receipt_document(
    uow: UnitOfWork,
    view: SaleView,
    shared: ReceiptsTogether | None = None,
) -> dict[str, Any]:
    """Everything a receipt printer and a fiscal register need, as JSON: money and
    quantities as decimal strings, the time in the shop's own zone with its offset."""
    sale = view.sale
    header = await _header(
        uow,
        shop_id=sale.shop_id,
        register_id=sale.register_id,
        shift_id=sale.shift_id,
        cashier_id=sale.cashier_id,
        created_at=sale.created_at,
        shared=shared,
    )
    return {
        **header,
        "operation": "sale",
        "sale": str(sale.id),
        "number": sale.number,
        "lines": [_receipt_line(line) for line in view.lines],
        "totals": {
            "subtotal": _money(sale.subtotal),
            "discount_total": _money(sale.discount_total),
            "receipt_discount": _money(sale.receipt_discount),
            "receipt_discount_percent": (
                None
                if sale.receipt_discount_percent is None
                else _money(sale.receipt_discount_percent)
            ),
            "total": _money(sale.total),
            "vat": _vat_totals((line.vat_rate, line.total) for line in view.lines),
        },
        "payments": {p.method: _money(p.amount) for p in view.payments},
        "tendered_cash": _money(sale.tendered_cash),
        "change": _money(sale.change),
        "bonus_accrued": _money(sale.bonus_accrued),
        "customer": await _customer(uow, sale.customer_id),
    }


async def return_receipt_document(
    uow: UnitOfWork, view: ReturnView, sale: Sale, sale_lines: Sequence[SaleLine]
) -> dict[str, Any]:
    """A return's receipt, in the sale receipt's shape with `operation: "return"`: each
    line the quantity given back at the sale's price, what the sale's discounts took off
    it as its discount, and the refund as its total; `payments` is the money given back
    per tender (cash from the drawer). `number` is the sale's receipt number, the one
    the return is made against, `return_number` the return receipt's own (per cash
    register); the register gives the return its own fiscal number too."""
    made = view.sale_return
    shift = await uow.shifts.get(made.shift_id)
    assert shift is not None, "a return's shift exists"
    sold = {line.id: line for line in sale_lines}
    header = await _header(
        uow,
        shop_id=made.shop_id,
        register_id=shift.register_id,  # the till that paid the money out
        shift_id=shift.id,
        cashier_id=made.user_id or shift.cashier_id,
        created_at=made.created_at,
    )
    lines = [
        _return_line(position, sold[line.sale_line_id], line.quantity, line.refund)
        for position, line in enumerate(view.lines, 1)
    ]
    refunds = {p.method: p.amount for p in view.payments}
    subtotal = sum((Decimal(line["amount"]) for line in lines), ZERO)
    total = sum((line.refund for line in view.lines), ZERO)
    return {
        **header,
        "operation": "return",
        "sale": str(sale.id),
        "return": str(made.id),
        "number": sale.number,
        "return_number": made.number,
        "lines": lines,
        "totals": {
            "subtotal": _money(subtotal),
            "discount_total": _money(subtotal - total),
            "receipt_discount": _money(subtotal - total),
            "receipt_discount_percent": None,
            "total": _money(total),
            "vat": _vat_totals(
                (sold[line.sale_line_id].vat_rate, line.refund) for line in view.lines
            ),
        },
        "payments": {method: _money(amount) for method, amount in sorted(refunds.items())},
        "tendered_cash": _money(refunds.get(PaymentMethod.CASH.value, ZERO)),
        "change": _money(ZERO),
        "bonus_accrued": _money(ZERO),
        "customer": await _customer(uow, sale.customer_id),
    }


def _return_line(
    position: int, sold: SaleLine, quantity: Decimal, refund: Decimal
) -> dict[str, Any]:
    amount = cents(sold.price * quantity)
    rate = sold.vat_rate
    return {
        "position": position,
        "product": str(sold.product_id),
        "name": sold.name,
        "quantity": _quantity(quantity),
        "unit": sold.unit,
        "price": _money(sold.price),
        "amount": _money(amount),
        "line_discount": _money(ZERO),
        "receipt_discount": _money(amount - refund),
        "discount": _money(amount - refund),
        "total": _money(refund),
        "vat_rate": None if rate is None else _money(rate),
        "vat_amount": None if rate is None else _money(included_vat(refund, rate)),
    }


def _receipt_line(line: SaleLine) -> dict[str, Any]:
    rate = line.vat_rate
    return {
        "position": line.position,
        "product": str(line.product_id),
        "name": line.name,
        "quantity": _quantity(line.quantity),
        "unit": line.unit,
        "price": _money(line.price),
        "amount": _money(line.amount),
        "line_discount": _money(line.line_discount),
        "receipt_discount": _money(line.receipt_discount),
        "discount": _money(line.line_discount + line.receipt_discount),
        "total": _money(line.total),
        "vat_rate": None if rate is None else _money(rate),
        "vat_amount": None if rate is None else _money(included_vat(line.total, rate)),
    }


def _vat_totals(lines: Iterable[tuple[Decimal | None, Decimal]]) -> list[dict[str, str]]:
    """VAT per rate of (rate, total) lines, the sum of the lines' own amounts (lines
    without a rate are left out), ordered by rate."""
    by_rate: dict[Decimal, Decimal] = {}
    for vat_rate, total in lines:
        if vat_rate is not None:
            rate = vat_rate.quantize(CENT)
            by_rate[rate] = by_rate.get(rate, ZERO) + included_vat(total, rate)
    return [{"rate": _money(r), "amount": _money(a)} for r, a in sorted(by_rate.items())]


async def _customer(uow: UnitOfWork, customer_id: uuid.UUID | None) -> dict[str, Any] | None:
    if customer_id is None:
        return None
    customer = await uow.customers.get(customer_id)
    if customer is None:
        return None
    return {
        "id": str(customer.id),
        "kind": customer.kind,
        "name": customer.name,
        "legal_name": customer.legal_name,
        "tax_id": customer.tax_id,
        "phone": customer.phone,
        "email": customer.email,
        "bonus": _money(customer.bonus),
    }


# --- events ---------------------------------------------------------------------------


def created_event(job: DeviceJob) -> dict[str, Any]:
    """`device`: the agent the job is given to (the one told), or null when it is every
    agent's: then an agent claims it (`claim`) before doing anything irreversible."""
    return {
        "id": str(job.id),
        "kind": job.kind,
        "payload": job.payload,
        "attempts": job.attempts,
        "device": str(job.device_id) if job.device_id else None,
        "created_at": job.created_at.isoformat(),
    }


def updated_event(job: DeviceJob) -> dict[str, Any]:
    """A job's state without its document: for the shop's staff and dashboards."""
    return {
        "id": str(job.id),
        "kind": job.kind,
        "ref": str(job.ref_id),
        "shop": str(job.shop_id),
        "status": job.status,
        "attempts": job.attempts,
        "device": str(job.device_id) if job.device_id else None,
        "result": job.result,
        "created_at": job.created_at.isoformat(),
        "updated_at": job.updated_at.isoformat(),
        "done_at": job.done_at.isoformat() if job.done_at else None,
        "started_at": job.started_at.isoformat() if job.started_at else None,
    }


async def _announce(uow: UnitOfWork, job: DeviceJob) -> None:
    """Give the job to the one active agent of the shop whose devices serve its till
    (`hub.domain.jobs.route`) and tell it `job.created`; when no agent announced such a
    device, every active agent hears of it (none: it waits in the queue until an agent
    lists it)."""
    _give(uow, job, await uow.devices.agents_in_shop(job.shop_id))


def _give(uow: UnitOfWork, job: DeviceJob, agents: dict[uuid.UUID, list[dict[str, Any]]]) -> None:
    job.device_id = route(JobKind(job.kind), till_of(job.payload), agents)
    event = created_event(job)
    for agent in agents if job.device_id is None else [job.device_id]:
        uow.emit(channels.device(uow.tenant_id, agent), "job.created", event)


async def give_away_jobs(uow: UnitOfWork, agent_id: uuid.UUID, shop_id: uuid.UUID) -> None:
    """The pending jobs of an agent whose token was revoked (the caller has revoked it,
    holding the token's row locked, and commits): read under that lock, so a report or
    a claim of the agent is either in (the job is no longer pending, or is its own) or
    comes after and is refused. A job the agent never started goes to the shop's other
    agents, as if new; one it said it was starting (`started_at`: its register may hold
    the receipt) is held for a person, failed with `agent_revoked`, never given away."""
    agents = await uow.devices.agents_in_shop(shop_id)  # the revoked one is not among them
    for job in await uow.device_jobs.pending_of(agent_id):
        if job.started_at is not None:  # its register may hold the receipt: a person checks
            job.status = JobStatus.FAILED.value
            job.result = revoked_result()
            job.updated_at = utcnow()
            uow.emit(channels.shop(uow.tenant_id, job.shop_id), "job.updated", updated_event(job))
            if job.kind == JobKind.RECEIPT:
                await _store_receipt(uow, job, JobStatus.FAILED, job.result)
        else:
            _give(uow, job, agents)


async def live_agent(uow: UnitOfWork, principal: Principal) -> uuid.UUID:
    """The agent's device token, locked FOR SHARE until the transaction ends: a
    revocation waits for this claim or report, or this one sees it and is refused
    (`token_revoked`), so none lands between a revocation and its giving jobs away."""
    if principal.device_id is None:
        raise PermissionDenied("only the shop's edge agent may do this")
    device = await uow.devices.get(principal.device_id, share=True)
    if device is None or device.revoked_at is not None:
        raise AuthenticationFailed("device token revoked", code=ErrorCode.TOKEN_REVOKED)
    return device.id


# --- expiry (the hub's sweep) ---------------------------------------------------------

# A till's request still pending this long was never done and never will be: the agent
# refuses it after REQUESTED_JOB_TTL; the minute beyond lets a report on its way arrive.
UNCLAIMED_AFTER = timedelta(seconds=REQUESTED_JOB_TTL + 60)
EXPIRY_BATCH = 100


async def expire_unclaimed(uow: UnitOfWork, now: datetime | None = None) -> int:
    """Fail the till's requests (drawer, display) still pending past `UNCLAIMED_AFTER`:
    in a shop with no agent, or whose agent is offline, they would wait for ever, and the
    shop's staff would see a drawer "opening" that never will. Commits; returns how
    many expired. An agent's late report on one is refused (`job_finished`)."""
    now = now or utcnow()
    found = await uow.device_jobs.pending_asked_before(
        [kind.value for kind in REQUESTED_KINDS], now - UNCLAIMED_AFTER, EXPIRY_BATCH
    )
    for job in found:
        job.status = JobStatus.FAILED.value
        job.result = {"error": f"expired: no agent did it within {UNCLAIMED_AFTER.seconds} s"}
        job.updated_at = now
        uow.emit(channels.shop(uow.tenant_id, job.shop_id), "job.updated", updated_event(job))
    await uow.commit()
    return len(found)


# --- REST: agents and managers --------------------------------------------------------


def _require_reader(principal: Principal) -> None:
    """Agents read their own shop's jobs; managers and owners those of their shops."""
    if not principal.is_device:
        principal.require(Permission.DEVICES_MANAGE)


def _visible_shops(principal: Principal) -> frozenset[uuid.UUID] | None:
    return principal.shop_ids if principal.is_device else principal.visible_shops()


async def list_jobs(
    uow: UnitOfWork,
    principal: Principal,
    page: PageRequest,
    *,
    status: JobStatus | None = None,
    shop: uuid.UUID | None = None,
    kind: JobKind | None = None,
    ref: uuid.UUID | None = None,
) -> tuple[list[DeviceJob], int]:
    _require_reader(principal)
    await check_shop_filter(uow, principal, shop)
    return await uow.device_jobs.find(
        page,
        shops=_visible_shops(principal),
        agent=principal.device_id,  # an agent lists its own jobs and the unassigned
        shop=shop,
        status=status.value if status else None,
        kind=kind.value if kind else None,
        ref=ref,
    )


async def _job(
    uow: UnitOfWork, principal: Principal, job_id: uuid.UUID, *, for_update: bool = False
) -> DeviceJob:
    job = await uow.device_jobs.get(job_id, for_update=for_update)
    if job is None or not principal.sees_shop(job.shop_id):
        raise NotFound("no such job")
    return job


async def report(
    uow: UnitOfWork,
    principal: Principal,
    job_id: uuid.UUID,
    outcome: JobStatus,
    result: dict[str, Any],
) -> DeviceJob:
    """An agent reports a job done or failed (over REST). Repeating the recorded outcome
    changes nothing; contradicting it is `job_finished`."""
    job = await record_report(uow, principal, job_id, outcome, result)
    await uow.commit()
    return job


async def record_report(
    uow: UnitOfWork,
    principal: Principal,
    job_id: uuid.UUID,
    outcome: JobStatus,
    result: dict[str, Any],
) -> DeviceJob:
    """`report` without the commit: for an agent's event stream, which records the
    event with its effect. A receipt job's outcome is written on its sale and told to
    the sales feed and to the cashier's till."""
    _require_reader(principal)
    if not principal.is_device:
        await _job(uow, principal, job_id)  # another shop's job: 404 first
        raise PermissionDenied("only the shop's edge agent reports a job's outcome")
    await live_agent(uow, principal)  # first: the token's row, then the job's
    job = await _job(uow, principal, job_id, for_update=True)
    if job.device_id not in (None, principal.device_id):
        raise PermissionDenied("the job was given to another agent of the shop")
    if accepts_report(JobStatus(job.status), outcome, job.result, result):
        now = utcnow()
        job.status = outcome.value
        job.result = result
        job.device_id = principal.device_id
        job.attempts += 1
        job.updated_at = now
        job.done_at = now if outcome is JobStatus.DONE else None
        uow.emit(channels.shop(uow.tenant_id, job.shop_id), "job.updated", updated_event(job))
        if job.kind == JobKind.RECEIPT:
            await _store_receipt(uow, job, outcome, result)
    return job


async def _store_receipt(
    uow: UnitOfWork, job: DeviceJob, outcome: JobStatus, result: dict[str, Any]
) -> None:
    if job.payload.get("operation") == "return":
        await _store_on_return(uow, job.ref_id, outcome, result)
    else:
        await _store_on_sale(uow, job.ref_id, outcome, result)


def _fiscal_outcome(outcome: JobStatus, result: dict[str, Any]) -> dict[str, Any] | None:
    fiscal = result.get("fiscal") if outcome is JobStatus.DONE else {"error": result.get("error")}
    return fiscal if isinstance(fiscal, dict) else None


async def _store_on_sale(
    uow: UnitOfWork, sale_id: uuid.UUID, outcome: JobStatus, result: dict[str, Any]
) -> None:
    sale = await uow.sales.get(sale_id)
    if sale is None:
        return
    sale.receipt_status = outcome.value
    sale.fiscal = _fiscal_outcome(outcome, result)
    notice = {
        "sale": str(sale.id),
        "number": sale.number,
        "register": str(sale.register_id),
        "receipt_status": sale.receipt_status,
        "fiscal": sale.fiscal,
    }
    _tell(uow, "sale.receipt", notice, sale.shop_id, sale.cashier_id)


async def _store_on_return(
    uow: UnitOfWork, return_id: uuid.UUID, outcome: JobStatus, result: dict[str, Any]
) -> None:
    made = await uow.sales.return_by_id(return_id)
    if made is None:
        return
    made.receipt_status = outcome.value
    made.fiscal = _fiscal_outcome(outcome, result)
    notice = {
        "return": str(made.id),
        "sale": str(made.sale_id),
        "receipt_status": made.receipt_status,
        "fiscal": made.fiscal,
    }
    _tell(uow, "return.receipt", notice, made.shop_id, made.user_id)


def _tell(
    uow: UnitOfWork,
    type_: str,
    notice: dict[str, Any],
    shop_id: uuid.UUID,
    user_id: uuid.UUID | None,
) -> None:
    """A receipt's outcome, to the shop's sales feed and to the till: the own channel
    of the user who sold or paid out, which every connection of theirs hears."""
    uow.emit(channels.sales(uow.tenant_id, shop_id), type_, notice)
    if user_id is not None:
        uow.emit(channels.user(uow.tenant_id, user_id), type_, notice)


async def claim(
    uow: UnitOfWork, principal: Principal, job_id: uuid.UUID, *, start: bool = False
) -> DeviceJob:
    """An agent takes a pending job given to no agent (one made before any agent said
    which devices it drives), before printing or fiscalising it: the row is locked, so
    of two agents racing exactly one gets it; the other gets `job_taken`. So does an
    agent whose devices do not serve the job as `route` would now give it (another
    agent drives the till's register): the job stays for that agent. A job already the
    agent's is simply returned; one no longer pending is `job_finished`; a revoked
    token is `token_revoked`.

    `start`: the agent is about to do something irreversible (fiscalise): the job is
    marked started (`started_at`), and from then on a revocation of the agent holds it
    for a person instead of giving it to another agent. Commits."""
    _require_reader(principal)
    if principal.device_id is None:
        await _job(uow, principal, job_id)  # another shop's job: 404 first
        raise PermissionDenied("only the shop's edge agent claims a job")
    agent = await live_agent(uow, principal)  # first: the token's row, then the job's
    job = await _job(uow, principal, job_id, for_update=True)  # another's job: 404 first
    routed_to = None
    if job.device_id is None and job.status == JobStatus.PENDING.value:
        agents = await uow.devices.agents_in_shop(job.shop_id)
        routed_to = route(JobKind(job.kind), till_of(job.payload), agents)
    changed = claims(JobStatus(job.status), job.device_id, agent, routed_to)
    if changed:
        job.device_id = agent
    if start and job.started_at is None:
        job.started_at = utcnow()
        changed = True
    if changed:
        job.updated_at = utcnow()
        uow.emit(channels.shop(uow.tenant_id, job.shop_id), "job.updated", updated_event(job))
    await uow.commit()
    return job


async def retry(uow: UnitOfWork, principal: Principal, job_id: uuid.UUID) -> DeviceJob:
    """A manager puts a failed job back in the queue (`job.created`, with the attempts so
    far). It goes back to the agent that failed it while that agent's token stands: only
    its register can say whether it registered the receipt after all, so another agent
    must not make it afresh. A pending job stays as it is."""
    principal.require(Permission.DEVICES_MANAGE)
    job = await _job(uow, principal, job_id, for_update=True)
    if accepts_retry(JobStatus(job.status)):
        job.status = JobStatus.PENDING.value
        job.result = None
        job.done_at = None
        job.started_at = None  # its agent says so again before fiscalising it
        job.updated_at = utcnow()
        uow.emit(channels.shop(uow.tenant_id, job.shop_id), "job.updated", updated_event(job))
        agents = await uow.devices.agents_in_shop(job.shop_id)
        if job.device_id in agents:
            uow.emit(
                channels.device(uow.tenant_id, job.device_id), "job.created", created_event(job)
            )
        else:  # its agent was revoked (or it never had one): routed as if new
            _give(uow, job, agents)
    await uow.commit()
    return job

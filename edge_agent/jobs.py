"""Working through the hub's jobs: fiscalise and print a sale's receipt, exactly once.

A job is on disk before anything is done for it (`AgentStore.accept`), and each step
is written down as it completes, so a restart resumes where the agent stopped:

    received ──(register's last document noted)──▶ fiscalising ──▶ fiscalised
        ──▶ printing (held here while the printer cannot print) ──▶ done / failed

Fiscalisation is exactly-once. Before a receipt is opened on the register the agent
writes down the register's last document number. If the answer is lost (a timeout, the
agent killed) the job is found in `fiscalising`; the agent then asks the register what
it did since that number: a completed receipt is taken as this job's (never a second
one), an unfinished one is cancelled and the receipt made again.

An error nobody foresaw (a bug, a device's odd answer) never stops the runner: before
the register may hold the receipt it fails the job with the reason, for a manager to see
and retry; once it may (`fiscalising`), the job is held with the register's status
reported, and the next attempt asks the register first: the receipt found registered is
this job's, and otherwise the job fails with that error.

Printing is at-least-once where a printer cannot say what it printed: a receipt that
printed but whose step was not written down before a crash is printed again on
restart. A printer that is not ready (paper out, cover open, offline) holds the job and
is retried every `retry_seconds`; its status goes to the hub as it changes.

Exactly one agent works a job. One the hub gave to this agent (`device` in its
announcement) is its own; one given to no agent (made before any agent said what it
drives) is claimed on the hub first (`claim`; of agents racing, one gets it), as soon as
it is announced and again before it is worked: a job another agent has is left to it
(`taken`, nothing reported), and one that cannot be claimed (the hub away) waits.

A shop with several tills: a job goes to the devices of its till (the document's
`register`) when the configuration binds some to it (`TillDevices`), else to the shop's
unbound ones. A till's held job holds that till's later jobs only.

A job asked for at a till (open the drawer, show lines on the display) is wanted now or
never: its device not ready (the display off, the printer out of paper) fails it at once
with the reason, and it never waits behind a held receipt nor holds one. One older than
`REQUESTED_JOB_TTL` by the hub's clock when the agent gets to it (the agent was offline)
fails as expired, so a drawer never springs open long after, with nobody at the till.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Protocol

from edge_agent.store import NO_DEVICE, STARTED, UNCLAIMED, AgentStore, Job, JobStatus
from protocol.jobs import REQUESTED_JOB_TTL, till_of

log = logging.getLogger("edge.jobs")

RECEIPT_JOB = "receipt"
DRAWER_JOB = "open_drawer"
DISPLAY_JOB = "display"
REQUESTED_JOBS = (DRAWER_JOB, DISPLAY_JOB)


class DeviceNotReady(Exception):
    """The device cannot work now (paper out, cover open, offline): try again later."""

    def __init__(self, device: str, status: str, detail: str = "") -> None:
        super().__init__(f"{device}: {status} {detail}".strip())
        self.device = device
        self.status = status
        self.detail = detail


class DeviceRefused(Exception):
    """The device refused the job for good (e.g. a receipt it cannot register); nothing
    was registered. `code` is the stable reason the hub is told (`[a-z0-9_.-]`)."""

    def __init__(self, message: str, code: str = "refused") -> None:
        super().__init__(message)
        self.code = code


AGENT_ERROR = "agent_error"  # the code of a failure nobody foresaw


class StopAgent(Exception):
    """The agent must stop at once (the hub refused its token): never taken for one
    job's error, it goes through the runner to the agent."""


class _NotOurs(Exception):
    """The hub says the job is not this agent's to do (another's, or over)."""


class FiscalPort(Protocol):
    """What the runner needs of a fiscal register (see edge_agent.devices)."""

    @property
    def name(self) -> str: ...

    async def last_document_number(self) -> int: ...

    async def fiscalise(self, receipt: dict[str, Any]) -> dict[str, Any]: ...

    async def completed_since(self, before: int, receipt: dict[str, Any]) -> dict[str, Any] | None:
        """The fiscal data of `receipt` if the register completed it after document
        `before`, or None — having cancelled any receipt left open."""
        ...


class PrinterPort(Protocol):
    @property
    def name(self) -> str: ...

    async def print_receipt(
        self, receipt: dict[str, Any], fiscal: dict[str, Any] | None, *, copy: bool = False
    ) -> None:
        """Print and cut (`copy`: marked as a copy); DeviceNotReady to hold the job."""
        ...

    async def open_drawer(self) -> None: ...


class DisplayPort(Protocol):
    async def show(self, lines: list[str], device: str | None) -> None:
        """Show the lines; DeviceNotReady when the display cannot now, DeviceRefused
        when it answered no."""
        ...


@dataclass(frozen=True)
class TillDevices:
    """The devices that take one till's jobs (or, unbound, the shop's other jobs)."""

    fiscal: FiscalPort | None = None
    printer: PrinterPort | None = None
    drawer: bool = False  # kick the drawer after a cash sale or a cash refund


def _paid_in_cash(receipt: dict[str, Any]) -> bool:
    payments = receipt.get("payments") or {}
    try:
        return Decimal(str(payments.get("cash", "0"))) > 0
    except ArithmeticError:
        return False


def _nothing_to_pay(receipt: dict[str, Any]) -> bool:
    """A receipt whose total is zero (a gift: a 100 % discount). No money changed hands,
    so there is no settlement to register (54-FZ registers payments), and the register
    refuses a receipt whose total is not positive: it is printed, not fiscalised."""
    totals = receipt.get("totals")
    if not isinstance(totals, dict):
        return False
    try:
        return Decimal(str(totals.get("total", "1"))) == 0
    except ArithmeticError:
        return False


class JobRunner:
    def __init__(
        self,
        store: AgentStore,
        *,
        fiscal: FiscalPort | None,
        printer: PrinterPort | None,
        drawer: bool,
        display: DisplayPort | None = None,
        tills: Mapping[str, TillDevices] | None = None,
        on_event: Callable[[], None],
        retry_seconds: float,
        claim: Callable[[str], Awaitable[bool]] | None = None,
        start: Callable[[str], Awaitable[bool | None]] | None = None,
    ) -> None:
        """`fiscal`, `printer` and `drawer` take the jobs of every till not in `tills`
        (register id → the devices bound to it). `claim` takes a job given to no agent
        on the hub (True: it is ours; OSError: the hub cannot say now); None: every job
        is this agent's (one agent and no hub, as in tests). `start` tells the hub the
        agent is about to fiscalise a job (True: the hub knows; False: not ours; None:
        the hub is unreachable, and the job is worked offline; OSError: ask again
        later); None: nobody to tell."""
        self._store = store
        self._unbound = TillDevices(fiscal, printer, drawer)
        self._tills = dict(tills or {})
        self._display = display
        self._on_event = on_event
        self._retry_seconds = retry_seconds
        self._wake = asyncio.Event()
        self._claim = claim
        self._start = start
        self._held: dict[str, str] = {}  # device → the status it last reported
        self._hub_clock_offset = 0.0

    def set_hub_clock(self, offset: float) -> None:
        """How far the hub's clock is ahead of this machine's, in seconds."""
        self._hub_clock_offset = offset

    async def accept(self, job: dict[str, Any]) -> None:
        """A job from the hub: on disk first, then worked on."""
        job_id, kind, payload = job.get("id"), job.get("kind"), job.get("payload")
        if (
            not isinstance(job_id, str)
            or not isinstance(kind, str)
            or not isinstance(payload, dict)
        ):
            log.warning("a malformed job from the hub was skipped: %r", job)
            return
        state = {}
        if kind in REQUESTED_JOBS and isinstance(job.get("created_at"), str):
            with contextlib.suppress(ValueError):  # unreadable: treated as just asked
                state["asked_at"] = datetime.fromisoformat(job["created_at"]).timestamp()
        attempts = job.get("attempts")
        attempts = attempts if isinstance(attempts, int) and attempts >= 0 else 0
        mine = self._claim is None or isinstance(job.get("device"), str)
        if await self._store.accept(
            job_id, kind, payload, state=state, attempts=attempts, claimed=mine
        ):
            log.info("job %s (%s) accepted, attempts %d", job_id, kind, attempts)
            stored = await self._store.job(job_id)
            if stored is not None and stored.state.get(UNCLAIMED):
                # Now, while the hub is there: a job claimed now is worked even if the
                # hub is away when its turn comes.
                await self._settle_claim(stored)
            self._wake.set()

    async def run(self) -> None:
        for job_id in await self._store.requeue_unserved():
            log.info("job %s, left for want of a device, is looked at again", job_id)
        while True:
            await self.work_once()
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._retry_seconds)

    def devices_for(self, job: Job) -> TillDevices:
        till = till_of(job.payload)
        return self._tills.get(till, self._unbound) if till else self._unbound

    async def work_once(self) -> None:
        """One pass over the open jobs, oldest first; a held receipt holds the ones after
        it on the same devices (each till's receipts come out in the order of its
        sales). A till's request (drawer, display) is done or failed at once: it neither
        waits behind a held receipt nor holds anything."""
        held: set[int] = set()
        for job in await self._store.open_jobs():
            devices = self.devices_for(job)
            if id(devices) in held and job.kind not in REQUESTED_JOBS:
                continue
            if not await self._work(job, devices):
                held.add(id(devices))

    async def _work(self, job: Job, devices: TillDevices) -> bool:
        """True when the job is finished (done or failed)."""
        steps = {
            RECEIPT_JOB: self._receipt,
            DRAWER_JOB: self._open_drawer,
            DISPLAY_JOB: self._show_on_display,
        }
        if job.state.get(UNCLAIMED):
            mine = await self._settle_claim(job)
            if mine is None:
                return False  # wait until the hub can say whose it is
            if not mine:
                return True
        step = steps.get(job.kind)
        if step is None:
            await self._fail(job, f"unknown job kind {job.kind!r}", "unknown_kind")
            return True
        try:
            result = await step(job, devices)
        except DeviceNotReady as exc:
            await self._device_not_ready(exc)
            return False
        except DeviceRefused as exc:
            await self._fail(job, str(exc), exc.code)
            return True
        except _NotOurs:
            await self._store.advance(job.id, JobStatus.TAKEN)
            return True
        except StopAgent:
            raise
        except (OSError, TimeoutError) as exc:
            log.warning("job %s interrupted, will retry: %s", job.id, exc)
            return False
        except sqlite3.Error:
            raise  # the agent's own disk, not the job: the runner restarts, the job stays
        except Exception as exc:  # one job's surprise must not stop the queue
            return await self._unforeseen(job, devices, exc)
        await self._finish(job, "done", result)
        return True

    async def _unforeseen(self, job: Job, devices: TillDevices, exc: Exception) -> bool:
        """An error nobody foresaw. Once the register may hold the receipt only asking it
        can say what happened: the job is held (the register's status reported) and the
        next attempt reconciles; before that, nothing was registered and the job fails."""
        log.exception("job %s: unforeseen error", job.id)
        reason = f"{type(exc).__name__}: {exc}"[:400]
        current = await self._store.job(job.id)
        if current is not None and current.status is JobStatus.FISCALISING:
            await self._store.advance(job.id, None, state={"unforeseen": reason})
            name = devices.fiscal.name if devices.fiscal is not None else "fiscal"
            await self._device_not_ready(DeviceNotReady(name, "error", reason[:200]))
            return False
        await self._fail(job, reason, AGENT_ERROR)
        return True

    async def _settle_claim(self, job: Job) -> bool | None:
        """Claim a job given to no agent: True when it is ours now, False when it is
        another agent's (or none of our devices can do it), None when the hub cannot
        say now."""
        if self._claim is None:
            return True
        if not self._serves(job):
            log.info("job %s (%s): no device here for it; left to others", job.id, job.kind)
            # Until the next start: a configuration put right may serve it then.
            await self._store.advance(job.id, JobStatus.TAKEN, state={NO_DEVICE: True})
            return False
        try:
            mine = await self._claim(job.id)
        except (OSError, TimeoutError) as exc:
            log.info("job %s waits to be claimed: %s", job.id, exc)
            return None
        await self._store.advance(
            job.id, None if mine else JobStatus.TAKEN, state={UNCLAIMED: False}
        )
        return mine

    def _serves(self, job: Job) -> bool:
        devices = self.devices_for(job)
        if job.kind == RECEIPT_JOB:
            return devices.fiscal is not None or devices.printer is not None
        if job.kind == DRAWER_JOB:
            return devices.printer is not None
        return job.kind == DISPLAY_JOB and self._display is not None

    async def _receipt(self, job: Job, devices: TillDevices) -> dict[str, Any]:
        """Fiscalise, then print (each step on disk as it completes); the result."""
        worked: list[str] = []  # the devices that did their part now: they are fine
        fiscal = job.state.get("fiscal")
        unpaid = _nothing_to_pay(job.payload)
        if devices.fiscal is not None and fiscal is None and not unpaid:
            fiscal = await self._fiscalise(job, devices.fiscal)
            worked.append(devices.fiscal.name)
        printed = bool(job.state.get("printed"))
        if devices.printer is not None and not printed:
            # Noted before printing: a print the agent died in may have come out, so the
            # next one says it is a copy. A printer that refused printed nothing.
            copy = bool(job.state.get("printing"))
            job = await self._store.advance(job.id, None, state={"printing": True})
            try:
                await devices.printer.print_receipt(job.payload, fiscal, copy=copy)
            except DeviceNotReady:
                await self._store.advance(job.id, None, state={"printing": copy})
                raise
            job = await self._store.advance(job.id, JobStatus.PRINTING, state={"printed": True})
            printed = True
            worked.append(devices.printer.name)
            if devices.drawer and _paid_in_cash(job.payload):
                with contextlib.suppress(DeviceNotReady, OSError, TimeoutError):
                    await devices.printer.open_drawer()
        await self._device_ok(worked)
        if unpaid:
            return {"printed": printed, "fiscal": None, "not_fiscalised": "nothing to pay"}
        return {"printed": printed, "fiscal": fiscal}

    def _still_wanted(self, job: Job) -> None:
        asked_at = job.state.get("asked_at")
        if not isinstance(asked_at, int | float):
            return
        age = time.time() + self._hub_clock_offset - asked_at
        if age > REQUESTED_JOB_TTL:
            raise DeviceRefused(
                f"expired: asked for {age:.0f} s ago, nobody waits for it now", "expired"
            )

    async def _open_drawer(self, job: Job, devices: TillDevices) -> dict[str, Any]:
        """Kick the drawer of the till's printer."""
        self._still_wanted(job)
        if devices.printer is None:
            raise DeviceRefused("no printer with a drawer here", "no_device")
        try:
            await devices.printer.open_drawer()
        except DeviceNotReady as exc:
            await self._report_status(exc)  # the receipts' printer: they will hold on it
            raise _not_now(exc) from exc
        await self._device_ok([devices.printer.name])
        return {"opened": True}

    async def _show_on_display(self, job: Job, _devices: TillDevices) -> dict[str, Any]:
        """Show the job's lines on the customer display."""
        self._still_wanted(job)
        if self._display is None:
            raise DeviceRefused("no customer display here", "no_device")
        lines = [str(line) for line in job.payload.get("lines") or []]
        device = job.payload.get("device")
        try:
            await self._display.show(lines, device if isinstance(device, str) else None)
        except DeviceNotReady as exc:
            # The display's own status reaches the hub through the broker (its will).
            raise _not_now(exc) from exc
        return {"shown": len(lines)}

    async def _fiscalise(self, job: Job, register: FiscalPort) -> dict[str, Any]:
        if job.status == JobStatus.FISCALISING:
            # An earlier attempt may have registered the receipt: ask before redoing it.
            done = await register.completed_since(int(job.state["before"]), job.payload)
            if done is not None:
                await self._store.advance(job.id, JobStatus.FISCALISED, state={"fiscal": done})
                return done
            unforeseen = job.state.get("unforeseen")
            if unforeseen:
                # The register holds nothing of it: the error that stopped it stands.
                await self._store.advance(
                    job.id, JobStatus.RECEIVED, state={"before": None, "unforeseen": None}
                )
                raise DeviceRefused(str(unforeseen), AGENT_ERROR)
        before = await register.last_document_number()  # the register answers
        job = await self._tell_start(job)
        await self._store.advance(
            job.id, JobStatus.FISCALISING, state={"before": before}, attempt=True
        )
        try:
            fiscal = await register.fiscalise(job.payload)
        except DeviceRefused:
            # Refused: nothing registered, nothing left open. A retry starts afresh, not
            # from `before` (receipts registered meanwhile would look like a conflict).
            await self._store.advance(job.id, JobStatus.RECEIVED, state={"before": None})
            raise
        await self._store.advance(job.id, JobStatus.FISCALISED, state={"fiscal": fiscal})
        return fiscal

    async def _tell_start(self, job: Job) -> Job:
        """Before anything is registered: the hub hears that this agent is fiscalising
        the job, so it never gives it to another agent (a revocation holds it for a
        person instead). The hub unreachable: the job is worked offline all the same
        (the shop keeps selling); the hub then cannot know, which docs/edge-agent.md
        weighs. The hub not settling it now (OSError) holds the job; the hub saying it
        is not ours (another agent's, or over) leaves it."""
        if self._start is None or job.state.get(STARTED):
            return job
        told = await self._start(job.id)
        if told is False:
            raise _NotOurs(job.id)
        if told is None:
            log.warning("job %s is fiscalised with the hub away: it cannot be told", job.id)
            return job
        return await self._store.advance(job.id, None, state={STARTED: True})

    async def _fail(self, job: Job, error: str, code: str) -> None:
        await self._finish(job, "failed", {"error": error[:500], "code": code[:64]})

    async def _finish(self, job: Job, outcome: str, result: dict[str, Any]) -> None:
        status = JobStatus.DONE if outcome == "done" else JobStatus.FAILED
        report = {"job": job.id, "status": outcome, "result": result}
        await self._store.advance(job.id, status, result=result, event=("job.result", report))
        log.info("job %s %s", job.id, outcome)
        self._on_event()

    async def _device_not_ready(self, exc: DeviceNotReady) -> None:
        await self._report_status(exc)
        log.info("holding receipts: %s", exc)

    async def _report_status(self, exc: DeviceNotReady) -> None:
        """The device's status to the hub, once per change."""
        if self._held.get(exc.device) != exc.status:
            self._held[exc.device] = exc.status
            status = {"name": exc.device, "status": exc.status, "detail": exc.detail}
            await self._store.record("device.status", status)
            self._on_event()

    async def _device_ok(self, worked: list[str]) -> None:
        """The devices that just did their part are back, if they were reported not
        ready; the others are as they were reported."""
        for device in worked:
            if self._held.pop(device, None) is not None:
                await self._store.record("device.status", {"name": device, "status": "online"})
                self._on_event()


def _not_now(exc: DeviceNotReady) -> DeviceRefused:
    """A till's request is wanted now or never: a device not ready fails it at once,
    with the device's status as its code, instead of holding the till's receipts."""
    return DeviceRefused(f"{exc.device} is not ready ({exc.status}): {exc.detail}", exc.status)

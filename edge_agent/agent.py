"""The agent: its store, its link to the hub, the job runner and the scanners, run
together until stopped. Any part failing is logged and restarted; none takes the others
down. A refused device token (revoked, unknown) stops them all at once: `run` raises
`TokenRefused`, and the store remembers it, so a restart with the same token stops
before working any job."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from edge_agent.jobs import DisplayPort, FiscalPort, JobRunner, PrinterPort, TillDevices
from edge_agent.link import HubLink, TokenRefused
from edge_agent.store import AgentStore

log = logging.getLogger("edge.agent")

RESTART_DELAY = 1.0
FIRST_CONTACT_WAIT = 15.0  # seconds jobs wait for the hub's word on the token at start
REFUSED_KEY = "refused_token"  # the store's note of a token the hub refused


def _fingerprint(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass
class ScannerFeed:
    """A source of scanned codes bound to a till (cash register)."""

    name: str
    register: str
    codes: Callable[[], AsyncIterator[str]]


@dataclass
class Devices:
    fiscal: FiscalPort | None = None
    printer: PrinterPort | None = None
    drawer: bool = False
    display: DisplayPort | None = None
    # Register id → the devices bound to that till; the ones above take the rest.
    tills: dict[str, TillDevices] = field(default_factory=dict)
    scanners: list[ScannerFeed] = field(default_factory=list)
    # What the agent announces: one entry per device (see protocol AgentDevice).
    describe: Callable[[], list[dict[str, Any]]] = list
    extra: list[Callable[[AgentStore, Callable[[], None]], Awaitable[None]]] = field(
        default_factory=list
    )

    async def close(self) -> None:
        """Close the links to the registers and printers that keep one open: a stopped
        agent holds no port (another started in the same process would otherwise have
        the old link read the device's answers)."""
        ports: list[object] = [self.fiscal, self.printer]
        for till in self.tills.values():
            ports += [till.fiscal, till.printer]
        closed: set[int] = set()
        for port in ports:
            close = getattr(port, "close", None)
            if close is None or id(port) in closed:
                continue
            closed.add(id(port))
            with contextlib.suppress(Exception):
                await close()


class Agent:
    def __init__(
        self,
        *,
        hub_url: str,
        token: str,
        store: AgentStore,
        devices: Devices,
        retry_seconds: float = 5.0,
        max_backoff: float = 30.0,
    ) -> None:
        self.store = store
        self.devices = devices
        self._token = _fingerprint(token)
        self.runner = JobRunner(
            store,
            fiscal=devices.fiscal,
            printer=devices.printer,
            drawer=devices.drawer,
            display=devices.display,
            tills=devices.tills,
            on_event=self._outbox_changed,
            retry_seconds=retry_seconds,
            claim=self._claim,
            start=self._start,
        )
        self.link = HubLink(
            hub_url,
            token,
            store,
            devices=devices.describe,
            on_job=self.runner.accept,
            max_backoff=max_backoff,
            on_clock=self.runner.set_hub_clock,
        )

    async def _claim(self, job_id: str) -> bool:
        return await self.link.claim(job_id)

    async def _start(self, job_id: str) -> bool | None:
        return await self.link.start(job_id)

    def _outbox_changed(self) -> None:
        self.link.outbox_changed()

    async def run(self) -> None:
        """Until cancelled; TokenRefused when the hub refuses the device token."""
        refused = await self.store.get_meta(REFUSED_KEY)
        if refused is not None and refused.startswith(self._token + " "):
            raise TokenRefused(refused.split(" ", 1)[1] + " (remembered from an earlier run)")
        parts: list[tuple[str, Callable[[], Awaitable[None]]]] = [
            ("hub link", self.link.run),
            ("jobs", self._jobs),
        ]
        for scanner in self.devices.scanners:
            parts.append((f"scanner {scanner.name}", self._scanner_loop(scanner)))
        for index, extra in enumerate(self.devices.extra):
            parts.append((f"extra {index}", self._bind(extra)))
        tasks = [asyncio.create_task(self._keep_running(name, part)) for name, part in parts]
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
            for task in done:
                task.result()  # only TokenRefused gets out of _keep_running
        except TokenRefused as exc:
            log.error("stopping: %s", exc)
            await self.store.set_meta(REFUSED_KEY, f"{self._token} {exc}")
            raise
        finally:
            # Every part stops now, the job runner first of all: not one more receipt.
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await self.devices.close()

    async def _jobs(self) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.link.first_contact.wait(), FIRST_CONTACT_WAIT)
        await self.runner.run()

    def _bind(
        self, extra: Callable[[AgentStore, Callable[[], None]], Awaitable[None]]
    ) -> Callable[[], Awaitable[None]]:
        async def run() -> None:
            await extra(self.store, self._outbox_changed)

        return run

    def _scanner_loop(self, scanner: ScannerFeed) -> Callable[[], Awaitable[None]]:
        async def run() -> None:
            async for code in scanner.codes():
                # On disk before anything else: a scan made while the hub is away is
                # delivered, in order, when it is back.
                await self.store.record(
                    "scan", {"scanner": scanner.name, "register": scanner.register, "code": code}
                )
                self._outbox_changed()

        return run

    async def _keep_running(self, name: str, part: Callable[[], Awaitable[None]]) -> None:
        while True:
            try:
                await part()
                log.warning("%s stopped; restarting", name)
            except (asyncio.CancelledError, TokenRefused):
                raise
            except SystemExit:
                raise
            except Exception:
                log.exception("%s failed; restarting", name)
            await asyncio.sleep(RESTART_DELAY)

"""The agent's link to the hub: one websocket (msgpack), kept up with jittered backoff.

On every connection the agent announces itself and its devices (`agent.announce`); the
reply says up to which sequence of this agent's outbox the hub has applied, and those
events are forgotten. Then the sender replays the outbox in order (`agent.events`,
batches of at most BATCH) and the hub's `acked` answers advance it. Jobs come as
`job.created` events on the device's own channel and, after a reconnect, from
`agent.jobs` (the shop's pending jobs), so none is missed; each is written to disk before
the agent works on it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import websockets

from edge_agent import __version__
from edge_agent.jobs import StopAgent
from edge_agent.store import AgentStore
from protocol.client import HubClient, RequestFailed, backoff_delays
from protocol.codec import MSGPACK
from protocol.messages import CLOSE_REVOKED

log = logging.getLogger("edge.link")

BATCH = 100
EPOCH_KEY = "epoch"


class TokenRefused(StopAgent):
    """The hub refused this agent's device token (revoked, or unknown to it). Unlike a
    network error this never heals by reconnecting: the agent must stop."""


JobHandler = Callable[[dict[str, Any]], Awaitable[None]]
Announcement = Callable[[], list[dict[str, Any]]]


async def agent_epoch(store: AgentStore) -> str:
    """This store's identity: a new store (a reinstalled agent) starts a new sequence,
    and the hub must not take its seq 1 for one it already applied."""
    epoch = await store.get_meta(EPOCH_KEY)
    if epoch is None:
        epoch = uuid.uuid4().hex
        await store.set_meta(EPOCH_KEY, epoch)
    return epoch


class HubLink:
    def __init__(
        self,
        url: str,
        token: str,
        store: AgentStore,
        *,
        devices: Announcement,
        on_job: JobHandler,
        max_backoff: float = 30.0,
        on_clock: Callable[[float], None] | None = None,
    ) -> None:
        """`on_clock` hears, at each connection, how far the hub's clock is ahead of
        this machine's (seconds; negative: behind)."""
        self._url = url
        self._token = token
        self._store = store
        self._devices = devices
        self._on_job = on_job
        self._on_clock = on_clock
        self._max_backoff = max_backoff
        self._client: HubClient | None = None
        self._outbox_changed = asyncio.Event()
        self.connected = asyncio.Event()
        # Set once the first connection succeeded or failed for a reason that may heal:
        # jobs are not worked before, so a token revoked while the agent was down never
        # gets one more receipt made.
        self.first_contact = asyncio.Event()
        self.epoch = ""

    def outbox_changed(self) -> None:
        """Something was written to the outbox: send it now rather than at the next poll."""
        self._outbox_changed.set()

    async def run(self) -> None:
        self.epoch = await agent_epoch(self._store)
        delays = backoff_delays(cap=self._max_backoff)
        while True:
            try:
                await self._session()
                delays = backoff_delays(cap=self._max_backoff)
            except (OSError, websockets.WebSocketException, RequestFailed, TimeoutError) as exc:
                log.warning("hub link down: %s", exc)
                self.first_contact.set()
            finally:
                self.connected.clear()
                if self._client is not None:
                    await self._client.close()
                    self._client = None
            await asyncio.sleep(next(delays))

    async def _session(self) -> None:
        client = HubClient(self._url, self._token, codec=MSGPACK)
        self._client = client
        try:
            hello = await client.connect()
        except RequestFailed as exc:
            # Only a refused token gets an error instead of `hello` (and close 4001).
            raise TokenRefused(f"the hub refused this agent's device token: {exc}") from exc
        server_time = hello.get("server_time")
        if self._on_clock is not None and isinstance(server_time, int | float):
            self._on_clock(float(server_time) - time.time())
        data = await client.request(
            "agent.announce",
            {"version": __version__, "epoch": self.epoch, "devices": self._devices()},
        )
        await self._store.acknowledge(int(data.get("acked", 0)))
        self.connected.set()
        self.first_contact.set()
        log.info("connected to the hub; it has applied up to %s", data.get("acked"))
        jobs = await client.request("agent.jobs", {})
        for job in jobs.get("jobs", []):
            await self._on_job(job)
        sender = asyncio.create_task(self._send_loop(client))
        try:
            while client.connected:
                try:
                    event = await asyncio.wait_for(client.events.get(), 1.0)
                except TimeoutError:
                    if sender.done():
                        sender.result()  # raises what stopped it
                    continue
                await self._dispatch(event)
        finally:
            sender.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await sender
        if client.close_code == CLOSE_REVOKED:
            raise TokenRefused("the hub revoked this agent's device token (close 4004)")
        raise ConnectionError(f"the hub closed the connection ({client.close_code})")

    async def _dispatch(self, event: dict[str, Any]) -> None:
        kind = event.get("type")
        if kind == "job.created":
            await self._on_job(event.get("payload") or {})
        elif kind == "device.revoked":
            raise TokenRefused("the hub revoked this agent's device token")
        elif kind == "resync":
            jobs = await self._request("agent.jobs", {})
            for job in jobs.get("jobs", []):
                await self._on_job(job)

    async def claim(self, job_id: str) -> bool:
        """Take a job given to no agent on the hub: True when it is this agent's, False
        when another agent has it (or should: its devices serve the job's till) or it is
        over. ConnectionError (an OSError) when the hub cannot say now; TokenRefused
        when the hub says this agent's token was revoked."""
        return await self._claim(job_id, start=False)

    async def start(self, job_id: str) -> bool | None:
        """Tell the hub this agent is about to fiscalise a job (claiming it if it is
        given to no agent): from then on the hub never gives it to another agent. True
        when the hub knows, False when the job is not this agent's to do (another's, or
        over), None when the hub is unreachable (not connected: the agent works offline
        and the hub cannot know). ConnectionError when connected but the hub could not
        say; TokenRefused when the token was revoked."""
        if self._client is None or not self.connected.is_set():
            return None
        return await self._claim(job_id, start=True)

    async def _claim(self, job_id: str, *, start: bool) -> bool:
        try:
            await self._request("agent.claim", {"job": job_id, "start": start})
        except RequestFailed as exc:
            if exc.code in ("job_taken", "job_finished", "not_found"):
                log.info("job %s is not this agent's: %s", job_id, exc)
                return False
            if exc.code == "token_revoked":
                raise TokenRefused(f"the hub revoked this agent's device token: {exc}") from exc
            raise ConnectionError(f"the hub did not settle the claim: {exc}") from exc
        except websockets.ConnectionClosed as exc:  # not an OSError: the link dropped
            raise ConnectionError(f"the hub went away during the claim: {exc}") from exc
        return True

    async def _request(self, type_: str, payload: dict[str, Any]) -> dict[str, Any]:
        if self._client is None:
            raise ConnectionError("not connected")
        return await self._client.request(type_, payload)

    async def _send_loop(self, client: HubClient) -> None:
        while True:
            pending = await self._store.pending(BATCH)
            if pending:
                data = await client.request(
                    "agent.events",
                    {"epoch": self.epoch, "events": [e.frame() for e in pending]},
                    wait=30,
                )
                acked = int(data.get("acked", 0))
                await self._store.acknowledge(acked)
                if acked >= pending[-1].seq:
                    continue  # more may be waiting
                log.warning("the hub applied up to %s of %s", acked, pending[-1].seq)
            self._outbox_changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._outbox_changed.wait(), 1.0)

"""The process's realtime registry: which local connection listens to which channel,
subscribing with replay, delivering broker events, heartbeats and reaping."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass

from hub.adapters.broker.base import Broker, Event
from hub.realtime.connection import Connection, Flusher, Subscription
from protocol import channels, messages
from protocol.messages import Since

log = logging.getLogger("hub.realtime")


@dataclass(frozen=True)
class RealtimeSettings:
    heartbeat_seconds: float = 15.0
    idle_timeout_seconds: float = 60.0
    max_queue_bytes: int = 1024 * 1024
    max_frame_bytes: int = 64 * 1024


class Realtime:
    def __init__(self, broker: Broker, settings: RealtimeSettings) -> None:
        self.broker = broker
        self.settings = settings
        self.connections: dict[str, Connection] = {}
        self.flusher = Flusher()
        self._subscribers: dict[str, set[Connection]] = {}
        self._listening: dict[str, asyncio.Task[None]] = {}
        self._reaper: asyncio.Task[None] | None = None
        broker.on_event = self._deliver
        broker.on_reset = self._reset

    async def start(self) -> None:
        await self.broker.start()
        self._reaper = asyncio.create_task(self._watch(), name="realtime-heartbeats")

    async def stop(self) -> None:
        if self._reaper is not None:
            self._reaper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reaper
        for connection in list(self.connections.values()):
            connection.close(messages.CLOSE_GOING_AWAY, "hub shutting down")
        await self.broker.stop()

    # --- connections ----------------------------------------------------------------

    def add(self, connection: Connection) -> None:
        self.connections[connection.id] = connection

    async def remove(self, connection: Connection) -> None:
        self.connections.pop(connection.id, None)
        for channel in list(connection.subscriptions):
            await self.unsubscribe(connection, channel)

    # --- subscriptions --------------------------------------------------------------

    async def subscribe(
        self,
        connection: Connection,
        channel: str,
        since: Since | None,
        request_id: str | int | None,
    ) -> None:
        """Reply `ok` with the channel's position, replay what `since` missed (or send
        `resync`), then go live, in that order and without gaps."""
        await self.unsubscribe(connection, channel)
        subscription = Subscription()
        connection.subscriptions[channel] = subscription
        self._subscribers.setdefault(channel, set()).add(connection)
        try:
            await self._listen(channel)
            epoch, seq = await self.broker.position(channel)
            replay: list[Event] = []
            resync: str | None = None
            if since is not None and since.epoch is None and epoch is not None:
                # The client saw the channel empty: everything of this epoch is new to it.
                found = await self.broker.history(channel, epoch, 0)
                if found is None:
                    resync = "beyond history"
                else:
                    replay = [e for e in found if e.seq <= seq]
            elif since is not None and not (since.seq == 0 and epoch is None):
                if since.epoch is None or since.epoch != epoch:
                    resync = "history lost" if epoch is not None else "no history"
                elif since.seq > seq:  # a position the channel never reached: a confused client
                    resync = "beyond history"
                else:
                    found = await self.broker.history(channel, since.epoch, since.seq)
                    if found is None:
                        resync = "beyond history"
                    else:
                        replay = [e for e in found if e.seq <= seq]
        except BaseException:
            await self.unsubscribe(connection, channel)
            raise
        reply = messages.Subscribed(channel=channel, epoch=epoch, seq=seq, replayed=len(replay))
        connection.send(messages.envelope("ok", {"data": reply.model_dump()}, id=request_id))
        for event in replay:
            connection.enqueue(event.frame(connection.codec), bounded=False)
        if resync is not None:
            connection.send(
                messages.message_frame(
                    messages.Resync(channel=channel, epoch=epoch, seq=seq, reason=resync)
                )
            )
        # Go live: what arrived meanwhile follows, past what was already sent.
        pending = subscription.pending or []
        subscription.pending = None
        for event in pending:
            if event.epoch != epoch or event.seq > seq:
                connection.enqueue(event.frame(connection.codec))

    async def unsubscribe(self, connection: Connection, channel: str) -> bool:
        if connection.subscriptions.pop(channel, None) is None:
            return False
        subscribers = self._subscribers.get(channel)
        if subscribers is not None:
            subscribers.discard(connection)
            if not subscribers:
                del self._subscribers[channel]
                task = self._listening.pop(channel, None)
                if task is not None:
                    task.cancel()
                with contextlib.suppress(Exception):
                    await self.broker.unlisten(channel)
        return True

    async def _listen(self, channel: str) -> None:
        # Subscribers of one channel share one broker subscription, made once.
        task = self._listening.get(channel)
        if task is None or (task.done() and task.exception() is not None):
            task = asyncio.create_task(self.broker.listen(channel))
            self._listening[channel] = task
        await asyncio.shield(task)

    # --- broker callbacks -----------------------------------------------------------

    def _deliver(self, event: Event) -> None:
        for connection in tuple(self._subscribers.get(event.channel, ())):
            connection.deliver(event)
        if event.type == "session.revoked":
            # Logout, deactivation, a password change: that user's sockets of those
            # sessions close now, not when their tokens expire.
            ended = event.payload()
            user = channels.parse(event.channel).user
            for connection in tuple(self.connections.values()):
                principal = connection.principal
                if principal.user_id != user or principal.session_id is None:
                    continue
                session = str(principal.session_id)
                if ended.get("session") in (None, session) and ended.get("except") != session:
                    connection.close(messages.CLOSE_REVOKED, "session ended")
        if event.type == "session.outdated":
            # A role or shop change: every socket of the user was authorised by the old
            # ones (a data leak if kept), so each closes as if its token expired and
            # comes back with a fresh one.
            user = channels.parse(event.channel).user
            for connection in tuple(self.connections.values()):
                if connection.principal.user_id == user:
                    connection.close(messages.CLOSE_TOKEN_EXPIRED, "role or shops changed")
        if event.type == "device.revoked":
            # Every connection of that agent, whatever it subscribed to.
            device = channels.parse(event.channel).device
            for connection in tuple(self.connections.values()):
                if connection.principal.device_id == device:
                    connection.close(messages.CLOSE_REVOKED, "device token revoked")

    def _reset(self, channel: str, epoch: str | None, seq: int, reason: str) -> None:
        log.info("channel %s reset (%s); subscribers resync", channel, reason)
        frame = messages.message_frame(
            messages.Resync(channel=channel, epoch=epoch, seq=seq, reason=reason)
        )
        for connection in tuple(self._subscribers.get(channel, ())):
            connection.send(frame)

    # --- liveness -------------------------------------------------------------------

    async def _watch(self) -> None:
        interval = min(self.settings.heartbeat_seconds, self.settings.idle_timeout_seconds) / 3
        while True:
            await asyncio.sleep(max(interval, 0.05))
            self.check_liveness(time.monotonic(), time.time())

    def check_liveness(self, monotonic_now: float, wall_now: float) -> None:
        heartbeat = messages.message_frame(messages.Heartbeat(time=wall_now))
        for connection in tuple(self.connections.values()):
            if connection.closed:
                continue
            if monotonic_now - connection.last_received > self.settings.idle_timeout_seconds:
                connection.close(messages.CLOSE_IDLE, "idle: no frame received in time")
            elif connection.token_expires_at is not None and wall_now > connection.token_expires_at:
                connection.close(messages.CLOSE_TOKEN_EXPIRED, "token expired; send auth in time")
            elif monotonic_now - connection.last_sent >= self.settings.heartbeat_seconds:
                connection.send(heartbeat)

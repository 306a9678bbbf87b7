"""Closing a hub client always returns, even when a background task does not stop on
its first cancel (Python 3.11's `wait_for` can swallow one)."""

from __future__ import annotations

import asyncio
import contextlib
import gc

from protocol import client as client_module
from protocol.client import HubClient


async def test_close_returns_when_a_task_ignores_its_cancel() -> None:
    client_module.CLOSE_WAIT = 0.05  # type: ignore[attr-defined]
    stubborn_done = asyncio.Event()

    async def stubborn() -> None:
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            await asyncio.sleep(0.2)  # as if the cancel had been swallowed
            stubborn_done.set()

    hub = HubClient("ws://127.0.0.1:1/ws", "token")
    hub._pinger = asyncio.create_task(stubborn())  # type: ignore[attr-defined]
    await asyncio.sleep(0)
    try:
        await asyncio.wait_for(hub.close(), 5)  # returns: it does not wait forever
        assert not stubborn_done.is_set()  # it gave up on the task before it ended
    finally:
        client_module.CLOSE_WAIT = 2.0  # type: ignore[attr-defined]
        await stubborn_done.wait()


async def test_the_ping_loop_ends_on_a_swallowed_cancel() -> None:
    """A ping loop whose task is marked cancelling ends at its next turn."""
    hub = HubClient("ws://127.0.0.1:1/ws", "token")
    hub.hello = {"heartbeat_seconds": 0.01}
    calls: list[str] = []

    async def request(
        type_: str, payload: object = None, *, wait: float = 10.0
    ) -> dict[str, object]:
        calls.append(type_)
        me = asyncio.current_task()
        assert me is not None
        me.cancel()
        me.uncancel()  # leaves the task "cancelling", as a swallowed cancel does
        me.cancel()
        with contextlib.suppress(asyncio.CancelledError):  # swallowed, as wait_for may
            await asyncio.sleep(0)
        return {}

    hub.request = request  # type: ignore[method-assign]
    await asyncio.wait_for(hub._ping_loop(), 5)  # type: ignore[attr-defined]
    assert calls == ["ping"]


class _ClosingSocket:
    """A websocket the hub closes while a request is being sent: the reader sees the
    end first, then the send fails."""

    close_code = 4004

    def __init__(self) -> None:
        self.read_ended = asyncio.Event()

    def __aiter__(self) -> _ClosingSocket:
        return self

    async def __anext__(self) -> bytes:
        self.read_ended.set()
        raise StopAsyncIteration

    async def send(self, _data: object) -> None:
        await self.read_ended.wait()
        await asyncio.sleep(0)  # the reader's `finally` has failed the replies
        raise ConnectionResetError("the hub closed the connection")


async def test_a_request_cut_off_while_sending_leaves_no_unseen_error() -> None:
    """The reader fails every waiting reply when the connection ends; a request still
    sending then fails on its own, and the reply's error must not be left unretrieved
    (asyncio reports it, and a test runner fails on it)."""
    unseen: list[dict[str, object]] = []
    loop = asyncio.get_running_loop()
    loop.set_exception_handler(lambda _loop, context: unseen.append(context))
    try:
        hub = HubClient("ws://127.0.0.1:1/ws", "token")
        socket = _ClosingSocket()
        hub._ws = socket  # type: ignore[assignment]
        reader = asyncio.create_task(hub._read())  # type: ignore[attr-defined]
        with contextlib.suppress(ConnectionResetError):
            await hub.request("ping")
        await reader
        del hub, reader
        gc.collect()
        await asyncio.sleep(0)
    finally:
        loop.set_exception_handler(None)
    assert unseen == []

"""The baseline for bench/ws_fanout.py: the obvious Starlette fan-out, which awaits
`send` to each subscriber in turn for every event (no queues, no batching).

    python -m bench.naive_server --port 8101 --redis redis://127.0.0.1:6379/0
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
from collections.abc import AsyncIterator

import uvicorn
from redis.asyncio import Redis
from starlette.applications import Starlette
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

CHANNEL = "bench:naive"


def build(redis_url: str) -> Starlette:
    subscribers: set[WebSocket] = set()

    async def endpoint(websocket: WebSocket) -> None:
        await websocket.accept()
        subscribers.add(websocket)
        try:
            while True:
                await websocket.receive_bytes()
        except (WebSocketDisconnect, RuntimeError, KeyError):
            pass
        finally:
            subscribers.discard(websocket)

    async def relay(redis: Redis) -> None:
        pubsub = redis.pubsub()
        await pubsub.subscribe(CHANNEL)
        async for message in pubsub.listen():
            if message["type"] != "message":
                continue
            for websocket in list(subscribers):
                try:
                    await websocket.send_bytes(message["data"])
                except Exception:
                    subscribers.discard(websocket)

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        redis = Redis.from_url(redis_url)
        task = asyncio.create_task(relay(redis))
        yield
        task.cancel()
        await redis.aclose()

    return Starlette(routes=[WebSocketRoute("/ws", endpoint)], lifespan=lifespan)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--redis", required=True)
    args = parser.parse_args()
    uvicorn.run(
        build(args.redis),
        host="127.0.0.1",
        port=args.port,
        log_level="warning",
        ws_per_message_deflate=False,
        backlog=8192,
    )


if __name__ == "__main__":
    main()

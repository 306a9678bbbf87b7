"""Prometheus metrics (prometheus_client), served at `GET /metrics`.

With several worker processes, `pos-hub serve` points PROMETHEUS_MULTIPROC_DIR at an
empty directory before they start: each process then writes its values to files there,
and a scrape, whichever process answers it, reads them all (prometheus_client's
multiprocess mode). With one process, the values live in the process.

Labels are bounded: a route is its path template, a websocket request its type, an
outcome its stable error code.
"""

from __future__ import annotations

import os
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead
from starlette.types import Message, Scope, Send

MULTIPROCESS_DIR = "PROMETHEUS_MULTIPROC_DIR"

HTTP_REQUESTS = Counter(
    "pos_http_requests", "HTTP requests answered", ["method", "route", "status"]
)
HTTP_SECONDS = Histogram(
    "pos_http_request_duration_seconds",
    "Time to answer an HTTP request",
    ["method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)
WS_CONNECTIONS = Gauge(
    "pos_ws_connections", "Open websocket connections", multiprocess_mode="livesum"
)
WS_REQUESTS = Counter("pos_ws_requests", "Websocket requests answered", ["type", "outcome"])
SALES = Counter("pos_sales_committed", "Sales committed (not replays of one)")
RETRYABLE_FAULTS = Counter(
    "pos_retryable_faults",
    "Requests answered with a fault the client retries: the database away, a lost race",
    ["code"],
)
EVENTS_RELAYED = Counter("pos_outbox_events_relayed", "Outbox events published to the broker")


def exposition() -> tuple[bytes, str]:
    """The current values in the text format, and its content type."""
    directory = os.environ.get(MULTIPROCESS_DIR)
    if directory:
        forget_dead_workers(Path(directory))
        registry = CollectorRegistry()
        MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST


def forget_dead_workers(directory: Path) -> None:
    """A worker that died (and was replaced) leaves its live gauges behind: its open
    websockets would be counted for ever. Its counters stay: they are totals."""
    for path in directory.glob("gauge_live*_*.db"):
        pid = int(path.stem.rsplit("_", 1)[1])
        if not _alive(pid):
            mark_process_dead(pid, str(directory))  # type: ignore[no-untyped-call]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


def route_label(scope: Scope) -> str:
    """The matched route's path template (ids and other values left out), "static" for
    the web client's files, "unmatched" for a 404 of the router."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    if path is None:
        return "unmatched"
    return str(path) or "static"


async def observe_http(scope: Scope, call: Callable[[Send], Awaitable[None]], send: Send) -> None:
    """Run `call` with a `send` that notes the status, then count the request and its
    time under its route."""
    started = time.perf_counter()
    status = 500

    async def noting(message: Message) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
        await send(message)

    try:
        await call(noting)
    finally:
        method, route = scope["method"], route_label(scope)
        HTTP_REQUESTS.labels(method, route, str(status)).inc()
        HTTP_SECONDS.labels(method, route).observe(time.perf_counter() - started)

"""Websocket fan-out: the hub against the naive baseline, in one run.

    python -m bench.ws_fanout [--subscribers 1000] [--idle 5000] [--rate 20] [--seconds 10]

Starts a hub (`pos-hub serve`, embedded store, Redis broker) and the naive server
(bench/naive_server.py: await `send` per subscriber), each as its own process. Client
processes (several, so load generation is not the bottleneck) hold the connections;
events are published through Redis from this process, as another hub process would.

Prints, for each server:
- memory per idle connection (RSS growth / connections) at --idle connections;
- end-to-end latency p50/p99 (publish → received) at --subscribers x --rate events/s;
- deliveries per second at saturation (publisher as fast as the server drains).
Needs Redis (POS_TEST_REDIS_URL or redis://127.0.0.1:6379/14).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing as mp
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import msgpack
import websockets
from redis.asyncio import Redis

from hub.adapters.broker.redis import RedisBroker

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
REDIS_URL = os.environ.get("POS_TEST_REDIS_URL", "redis://127.0.0.1:6379/14")
CLIENT_PROCESSES = 4
PAD = "x" * 120  # a small event, like a sale line


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def wait_http(url: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient() as client:
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                await client.get(url)
                return
            await asyncio.sleep(0.1)
    raise RuntimeError(f"{url} did not come up")


# --- client processes ---------------------------------------------------------------


@dataclass
class Target:
    kind: str  # "hub" or "naive"
    url: str
    token: str = ""
    channel: str = ""


def _count_and_stamp(kind: str, data: bytes, sample: bool) -> tuple[int, float | None]:
    """Events in a frame, and (when sampling) the publish time of its last event."""
    if kind == "naive":
        return 1, (msgpack.unpackb(data)["t"] if sample else None)
    if data[:1] == b"\x82":  # a batch: {"type": "batch", "payload": [...]}
        if not sample:
            header = data[len(b"\x82\xa4type\xa5batch\xa7payload") :][:5]
            first = header[0]
            if first & 0xF0 == 0x90:
                return first & 0x0F, None
            if first == 0xDC:
                return int.from_bytes(header[1:3], "big"), None
            return int.from_bytes(header[1:5], "big"), None
        frames = msgpack.unpackb(data)["payload"]
        return len(frames), frames[-1]["payload"]["t"]
    frame = msgpack.unpackb(data)
    if frame.get("type") != "bench":
        return 0, None
    return 1, frame["payload"]["t"] if sample else None


async def _client(target: Target, connections: int, ready: Any, stop: Any, out: Any) -> None:
    sockets: list[Any] = []
    sem = asyncio.Semaphore(64)

    async def open_one() -> None:
        async with sem:
            if target.kind == "hub":
                ws = await websockets.connect(
                    target.url,
                    subprotocols=["pos.v1.msgpack"],  # type: ignore[list-item]
                    additional_headers={"Authorization": f"Bearer {target.token}"},
                    compression=None,
                    ping_interval=None,
                    max_size=2**24,
                    open_timeout=60,
                )
                await ws.recv()  # hello
                await ws.send(
                    msgpack.packb(
                        {"type": "subscribe", "id": 1, "payload": {"channel": target.channel}}
                    )
                )
                while msgpack.unpackb(await ws.recv()).get("type") != "ok":
                    pass
            else:
                ws = await websockets.connect(
                    target.url,
                    compression=None,
                    ping_interval=None,
                    max_size=2**24,
                    open_timeout=60,
                )
            sockets.append(ws)

    await asyncio.gather(*(open_one() for _ in range(connections)))
    ready.release()
    received = 0
    latencies: list[float] = []
    first_at: float | None = None
    last_at = 0.0

    async def reader(ws: Any, index: int) -> None:
        nonlocal received, first_at, last_at
        frames = 0
        with contextlib.suppress(websockets.ConnectionClosed):
            async for data in ws:
                frames += 1
                sample = index % 10 == 0 and frames % 5 == 0
                count, stamp = _count_and_stamp(target.kind, data, sample)
                now = time.time()
                if count and first_at is None:
                    first_at = now
                received += count
                last_at = now
                if stamp is not None:
                    latencies.append(now - stamp)

    readers = [asyncio.create_task(reader(ws, i)) for i, ws in enumerate(sockets)]
    while not stop.is_set():
        await asyncio.sleep(0.05)
    for task in readers:
        task.cancel()
    await asyncio.gather(*readers, return_exceptions=True)
    await asyncio.gather(*(ws.close() for ws in sockets), return_exceptions=True)
    out.put({"received": received, "latencies": latencies, "first": first_at, "last": last_at})


def client_process(target: Target, connections: int, ready: Any, stop: Any, out: Any) -> None:
    asyncio.run(_client(target, connections, ready, stop, out))


class Clients:
    """Several processes holding `total` connections to one server."""

    def __init__(self, target: Target, total: int) -> None:
        ctx = mp.get_context("spawn")
        self.ready = ctx.Semaphore(0)
        self.stop = ctx.Event()
        self.out = ctx.Queue()
        share = [
            total // CLIENT_PROCESSES + (i < total % CLIENT_PROCESSES)
            for i in range(CLIENT_PROCESSES)
        ]
        self.procs = [
            ctx.Process(target=client_process, args=(target, n, self.ready, self.stop, self.out))
            for n in share
            if n
        ]

    async def __aenter__(self) -> Clients:
        for proc in self.procs:
            proc.start()
        for _ in self.procs:
            while not self.ready.acquire(block=False):
                await asyncio.sleep(0.05)
        return self

    async def finish(self) -> dict[str, Any]:
        self.stop.set()
        results = []
        for _ in self.procs:
            while True:
                with contextlib.suppress(Exception):
                    results.append(self.out.get(timeout=0.1))
                    break
                await asyncio.sleep(0.05)
        for proc in self.procs:
            proc.join(10)
        latencies = sorted(x for r in results for x in r["latencies"])
        return {
            "received": sum(r["received"] for r in results),
            "latencies": latencies,
            "first": min((r["first"] for r in results if r["first"]), default=None),
            "last": max((r["last"] for r in results), default=0.0),
        }

    async def __aexit__(self, *exc: object) -> None:
        self.stop.set()
        for proc in self.procs:
            proc.join(5)
            if proc.is_alive():
                proc.kill()


# --- servers --------------------------------------------------------------------------


@dataclass
class Server:
    kind: str
    proc: subprocess.Popen[bytes]
    port: int
    target: Target


async def start_hub(workdir: Path) -> Server:
    port = free_port()
    env = {
        **os.environ,
        "POS_ENV": "development",
        "POS_DATA_DIR": str(workdir / "hub"),
        "POS_REDIS_URL": REDIS_URL,
        "POS_ARGON2_TIME_COST": "1",
        "POS_ARGON2_MEMORY_KIB": "64",
        "POS_ARGON2_PARALLELISM": "1",
        "POS_WS_MAX_QUEUE_BYTES": str(16 * 1024 * 1024),
        "POS_WS_IDLE_TIMEOUT_SECONDS": "600",
        "POS_WS_CONNECTS_PER_WINDOW": "1000000",
        "POS_BACKLOG": "8192",
        "POS_LOG_LEVEL": "warning",
    }
    subprocess.run([BIN / "pos-hub", "migrate"], env=env, check=True, capture_output=True)
    proc = subprocess.Popen([BIN / "pos-hub", "serve", "--port", str(port)], env=env)
    await wait_http(f"http://127.0.0.1:{port}/healthz")
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
        reg = (
            await http.post(
                "/api/users/auth/register/",
                json={
                    "tenant_name": "Bench",
                    "username": f"bench{port}",
                    "password": "bench-pass-1",
                    "shop_name": "Bench shop",
                },
            )
        ).json()
    channel = f"tenant:{reg['tenant']['id']}:shop:{reg['shop']['id']}:sales"
    return Server(
        "hub", proc, port, Target("hub", f"ws://127.0.0.1:{port}/ws", reg["access"], channel)
    )


async def start_naive() -> Server:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench.naive_server", "--port", str(port), "--redis", REDIS_URL],
        cwd=ROOT,
    )
    await wait_http(f"http://127.0.0.1:{port}/")
    return Server("naive", proc, port, Target("naive", f"ws://127.0.0.1:{port}/ws"))


def stop_server(server: Server) -> None:
    server.proc.send_signal(signal.SIGTERM)
    try:
        server.proc.wait(10)
    except subprocess.TimeoutExpired:
        server.proc.kill()


# --- publishing -----------------------------------------------------------------------


class Publisher:
    def __init__(self, redis: Redis, server: Server) -> None:
        self.redis = redis
        self.server = server
        self.broker = RedisBroker(redis)

    async def publish(self) -> None:
        payload = {"t": time.time(), "pad": PAD}
        if self.server.kind == "hub":
            await self.broker.publish(self.server.target.channel, "bench", payload)
        else:
            await self.redis.publish(
                "bench:naive",
                msgpack.packb({"type": "bench", "payload": payload, "t": payload["t"]}),
            )

    async def steady(self, rate: float, seconds: float) -> int:
        start = time.monotonic()
        sent = 0
        while (elapsed := time.monotonic() - start) < seconds:
            due = int(elapsed * rate) + 1
            while sent < due:
                await self.publish()
                sent += 1
            await asyncio.sleep(max(0.0, sent / rate - (time.monotonic() - start)))
        return sent


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    return values[min(len(values) - 1, int(len(values) * p))]


async def measure(server: Server, args: argparse.Namespace, redis: Redis) -> dict[str, Any]:
    result: dict[str, Any] = {"server": server.kind}
    publisher = Publisher(redis, server)

    if "idle" in args.phases:
        await measure_idle(server, args, result)
    if "steady" in args.phases:
        await measure_steady(server, args, publisher, result)
    if "saturation" in args.phases:
        await measure_saturation(server, args, publisher, result)
    return result


async def measure_idle(server: Server, args: argparse.Namespace, result: dict[str, Any]) -> None:
    """Memory per idle connection."""
    before = rss_kib(server.proc.pid)
    async with Clients(server.target, args.idle) as clients:
        await asyncio.sleep(2)
        after = rss_kib(server.proc.pid)
        await clients.finish()
    result["idle_connections"] = args.idle
    result["kib_per_connection"] = round((after - before) / args.idle, 1)
    await asyncio.sleep(1)


async def measure_steady(
    server: Server, args: argparse.Namespace, publisher: Publisher, result: dict[str, Any]
) -> None:
    """End-to-end latency at a steady rate."""
    async with Clients(server.target, args.subscribers) as clients:
        await asyncio.sleep(1)
        sent = await publisher.steady(args.rate, args.seconds)
        await asyncio.sleep(1.5)
        got = await clients.finish()
    lat = got["latencies"]
    result["steady"] = {
        "subscribers": args.subscribers,
        "rate": args.rate,
        "events": sent,
        "expected_deliveries": sent * args.subscribers,
        "deliveries": got["received"],
        "p50_ms": round(percentile(lat, 0.50) * 1000, 2),
        "p99_ms": round(percentile(lat, 0.99) * 1000, 2),
        "samples": len(lat),
    }
    await asyncio.sleep(1)


async def measure_saturation(
    server: Server, args: argparse.Namespace, publisher: Publisher, result: dict[str, Any]
) -> None:
    """Deliveries per second when the publisher outruns the server."""
    async with Clients(server.target, args.subscribers) as clients:
        await asyncio.sleep(1)
        started = time.time()
        sent = await publisher.steady(args.saturation_rate, args.seconds)
        await asyncio.sleep(2)
        got = await clients.finish()
    window = max(got["last"] - started, 1e-6)
    result["saturation"] = {
        "subscribers": args.subscribers,
        "events": sent,
        "deliveries": got["received"],
        "deliveries_per_second": round(got["received"] / window),
        "p99_ms": round(percentile(got["latencies"], 0.99) * 1000, 1),
    }


async def main_async(args: argparse.Namespace) -> list[dict[str, Any]]:
    redis = Redis.from_url(REDIS_URL)
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for start in (start_hub, start_naive):
            server = await (start(Path(tmp)) if start is start_hub else start())  # type: ignore[call-arg]
            try:
                results.append(await measure(server, args, redis))
            finally:
                stop_server(server)
    await redis.aclose()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--subscribers", type=int, default=1000)
    parser.add_argument("--idle", type=int, default=5000)
    parser.add_argument("--rate", type=float, default=20.0)
    parser.add_argument("--saturation-rate", type=float, default=400.0)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--phases", default="idle,steady,saturation")
    args = parser.parse_args()
    results = asyncio.run(main_async(args))
    print(json.dumps(results, indent=2))
    if "saturation" not in args.phases:
        return
    hub, naive = results
    ratio = hub["saturation"]["deliveries_per_second"] / max(
        naive["saturation"]["deliveries_per_second"], 1
    )
    print(f"\nhub vs naive at saturation: {ratio:.2f}x deliveries/s")
    for r in results:
        s = r["steady"]
        print(
            f"{r['server']:>5}: {r['kib_per_connection']} KiB/conn at "
            f"{r['idle_connections']} idle; "
            f"{s['subscribers']}x{s['rate']}/s p50 {s['p50_ms']} ms p99 {s['p99_ms']} ms "
            f"({s['deliveries']}/{s['expected_deliveries']} delivered); saturation "
            f"{r['saturation']['deliveries_per_second']}/s"
        )


if __name__ == "__main__":
    main()

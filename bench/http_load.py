"""What the HTTP benchmarks share: a scratch PostgreSQL database, a hub process on it, and
load from keep-alive clients, paced or saturating, with latencies per request kind."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx

BIN = Path(sys.executable).parent
SERVER_URL = os.environ.get(
    "POS_BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
# Picks the path of the next request of one kind.
PathChooser = Callable[[random.Random, str], str]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p))] if ordered else float("nan")


class Connection:
    """A minimal keep-alive HTTP/1.1 GET client: little overhead next to the server's."""

    def __init__(self, port: int, token: str) -> None:
        self.port = port
        self.head = f"Host: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n\r\n"

    async def open(self) -> None:
        self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        self.used = time.perf_counter()

    async def ready(self) -> None:
        """Reconnect, outside the timed part, if the server may have closed an idle
        keep-alive connection (uvicorn's timeout is 5 s)."""
        if time.perf_counter() - self.used > 4:
            self.close()
            await self.open()

    async def get(self, path: str) -> tuple[int, bytes]:
        self.writer.write(f"GET {path} HTTP/1.1\r\n{self.head}".encode())
        status_line = await self.reader.readline()
        self.used = time.perf_counter()
        if not status_line:
            raise ConnectionError("the server closed the connection")
        length = 0
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.partition(b":")
            if name.lower() == b"content-length":
                length = int(value)
        body = await self.reader.readexactly(length)
        return int(status_line.split()[1]), body

    def close(self) -> None:
        self.writer.close()


@dataclass
class Phase:
    name: str
    latencies: dict[str, list[float]] = field(default_factory=dict)
    errors: int = 0
    requests: int = 0
    seconds: float = 0.0
    matches: list[int] = field(default_factory=list)


async def run_clients(
    port: int,
    token: str,
    choose: PathChooser,
    *,
    kinds: tuple[str, ...],
    clients: int,
    rate: float | None,
    seconds: float,
    name: str,
) -> Phase:
    """`clients` connections for `seconds`. Paced (`rate` requests/s per client, Poisson
    arrivals) or, with `rate=None`, each sending as soon as its last answer came."""
    phase = Phase(name, latencies={kind: [] for kind in kinds})
    deadline = time.perf_counter() + seconds

    async def client(index: int) -> None:
        rng = random.Random(index)
        conn = Connection(port, token)
        await conn.open()
        next_at = time.perf_counter() + rng.random() / (rate or 1e9)
        try:
            while True:
                if rate is not None:
                    delay = next_at - time.perf_counter()
                    if delay > 0:
                        await asyncio.sleep(delay)
                    next_at += rng.expovariate(rate)
                if time.perf_counter() >= deadline:
                    return
                kind = rng.choice(kinds)
                path = choose(rng, kind)
                await conn.ready()
                started = time.perf_counter()
                status, body = await conn.get(path)
                phase.latencies[kind].append((time.perf_counter() - started) * 1000)
                phase.requests += 1
                if status != 200:
                    phase.errors += 1
                elif len(phase.matches) < 2000:
                    phase.matches.append(json.loads(body)["count"])
        finally:
            conn.close()

    started = time.perf_counter()
    await asyncio.gather(*(client(i) for i in range(clients)))
    phase.seconds = time.perf_counter() - started
    return phase


def summary(phase: Phase) -> dict[str, Any]:
    result: dict[str, Any] = {
        "phase": phase.name,
        "requests": phase.requests,
        "errors": phase.errors,
        "per_second": round(phase.requests / phase.seconds, 1) if phase.seconds else 0,
        "median_matches": percentile([float(m) for m in phase.matches], 0.5)
        if phase.matches
        else 0,
    }
    for kind, values in phase.latencies.items():
        if values:
            result[f"{kind}_p50_ms"] = round(percentile(values, 0.50), 2)
            result[f"{kind}_p99_ms"] = round(percentile(values, 0.99), 2)
    return result


def print_table(results: list[dict[str, Any]], kinds: tuple[str, ...]) -> None:
    header = ["phase", "req/s", *(f"{k} {p}" for k in kinds for p in ("p50", "p99")), "errors"]
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for r in results:
        cells = [r["phase"], r["per_second"]]
        for kind in kinds:
            for p in ("p50", "p99"):
                key = f"{kind}_{p}_ms"
                cells.append(f"{r[key]} ms" if key in r else "-")
        print("| " + " | ".join(str(c) for c in [*cells, r["errors"]]) + " |")


# --- a hub on a scratch database -----------------------------------------------------------


@dataclass
class Hub:
    port: int
    token: str
    tenant_id: uuid.UUID
    database_url: str  # plain postgresql:// for asyncpg
    pid: int = 0  # the `pos-hub serve` process (its workers are its children)

    @property
    def schema(self) -> str:
        return f"tenant_{self.tenant_id.hex}"

    async def execute(self, sql: str) -> None:
        conn = await asyncpg.connect(self.database_url)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()


async def _wait_http(url: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient() as client:
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                if (await client.get(url)).status_code == 200:
                    return
            await asyncio.sleep(0.2)
    raise RuntimeError(f"{url} did not come up")


def _processes() -> dict[int, tuple[int, str, float]]:
    """Every process: pid -> (parent pid, command name, CPU seconds used so far)."""
    tick = os.sysconf("SC_CLK_TCK")
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue  # gone meanwhile
        name = stat[stat.index("(") + 1 : stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2 :].split()
        found[int(entry.name)] = (int(fields[1]), name, (int(fields[11]) + int(fields[12])) / tick)
    return found


def cpu_snapshot(hub_pid: int) -> dict[int, tuple[bool, float]]:
    """CPU seconds used so far by each process of the hub (the process and its
    descendants: True) and of PostgreSQL (every `postgres` process: False)."""
    processes = _processes()
    tree, grew = {hub_pid}, True
    while grew:
        more = {pid for pid, (parent, _, _) in processes.items() if parent in tree} - tree
        tree |= more
        grew = bool(more)
    return {
        pid: (pid in tree, seconds)
        for pid, (_, name, seconds) in processes.items()
        if pid in tree or name == "postgres"
    }


def cpu_used(
    before: dict[int, tuple[bool, float]], after: dict[int, tuple[bool, float]]
) -> tuple[float, float]:
    """CPU seconds the hub and PostgreSQL used between two snapshots: divided by the
    work done meanwhile, what each unit of work costs on this machine, whatever else is
    running. A process that started meanwhile counts whole; one that ended is lost."""
    hub = database = 0.0
    for pid, (is_hub, seconds) in after.items():
        used = seconds - before.get(pid, (is_hub, 0.0))[1]
        if is_hub:
            hub += used
        else:
            database += used
    return hub, database


@contextlib.asynccontextmanager
async def hub_on_scratch_database(
    workers: int,
    pool_size: int,
    redis_url: str | None = None,
    extra_env: dict[str, str] | None = None,
) -> AsyncIterator[Hub]:
    """A new database, migrated, a `pos-hub serve` on it and a registered business; all
    removed afterwards. Without `redis_url` the hub runs its in-process broker (one
    process only)."""
    name = f"pos_bench_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(SERVER_URL)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    url = f"{SERVER_URL.rsplit('/', 1)[0]}/{name}"
    env = {
        **hub_env(name, url.replace("postgresql://", "postgresql+asyncpg://", 1)),
        "POS_DB_POOL_SIZE": str(pool_size),
        # Every client of a benchmark comes from one address.
        "POS_WS_CONNECTS_PER_WINDOW": "1000000",
    }
    env.update(extra_env or {})
    env.pop("POS_REDIS_URL", None)
    if redis_url is not None:
        env["POS_REDIS_URL"] = redis_url
    proc = None
    try:
        subprocess.run([BIN / "pos-hub", "migrate"], env=env, check=True, capture_output=True)
        port = free_port()
        cmd = [BIN / "pos-hub", "serve", "--port", str(port), "--workers", str(workers)]
        proc = subprocess.Popen(cmd, env=env)
        await _wait_http(f"http://127.0.0.1:{port}/readyz")
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
            reg = (
                await http.post(
                    "/api/users/auth/register/",
                    json={
                        "tenant_name": "Bench",
                        "username": "bench.owner",
                        "password": "bench-pass-1",
                        "shop_name": "Bench shop",
                    },
                )
            ).json()
        yield Hub(port, reg["access"], uuid.UUID(reg["tenant"]["id"]), url, proc.pid)
    finally:
        stop_hub(proc)
        await drop_database(SERVER_URL, name)


def hub_env(name: str, database_url: str) -> dict[str, str]:
    """A benchmark hub's environment: development, cheap password hashing, quiet logs,
    tokens that outlive the run, the scratch data directory `/tmp/<name>`."""
    return {
        **os.environ,
        "POS_ENV": "development",
        "POS_DATABASE_URL": database_url,
        "POS_DATA_DIR": f"/tmp/{name}",
        "POS_ACCESS_TOKEN_TTL": "7200",
        "POS_ARGON2_TIME_COST": "1",
        "POS_ARGON2_MEMORY_KIB": "64",
        "POS_ARGON2_PARALLELISM": "1",
        "POS_LOG_LEVEL": "warning",
    }


def stop_hub(proc: subprocess.Popen[bytes] | None) -> None:
    """SIGTERM, and SIGKILL after 10 s."""
    if proc is not None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


async def drop_database(server: str, name: str) -> None:
    admin = await asyncpg.connect(server)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


async def measure(
    hub: Hub,
    choose: PathChooser,
    label: str,
    kinds: tuple[str, ...],
    args: Any,
    results: list[dict[str, Any]],
) -> None:
    """Each kind alone at the paced rate (`args.rate` per client), then all of them
    saturating; `args.clients` and `args.seconds` set the size."""

    async def phase(name: str, rate: float | None, only: tuple[str, ...], seconds: float) -> Phase:
        return await run_clients(
            hub.port, hub.token, choose,
            kinds=only, clients=args.clients, rate=rate, seconds=seconds, name=name,
        )  # fmt: skip

    await phase("warm-up", args.rate * 4, kinds, 3)
    plan = [(kind, args.rate, (kind,)) for kind in kinds] + [("saturation", None, kinds)]
    for mode, rate, only in plan:
        results.append(summary(await phase(f"{label} {mode}", rate, only, args.seconds)))
        print(json.dumps(results[-1], ensure_ascii=False))


def print_ratios(results: list[dict[str, Any]], kinds: tuple[str, ...]) -> None:
    """How much slower each kind is without the indexes, and the throughput gained."""
    by_phase = {r["phase"]: r for r in results}
    for kind in kinds:
        fast, slow = by_phase[f"indexed {kind}"], by_phase[f"no indexes {kind}"]
        key = f"{kind}_p99_ms"
        print(f"{kind} p99 without indexes: {slow[key] / fast[key]:.1f}x")
    fast, slow = by_phase["indexed saturation"], by_phase["no indexes saturation"]
    print(f"saturation throughput with indexes: {fast['per_second'] / slow['per_second']:.1f}x")


def bench_main(
    doc: str,
    noun: str,
    kinds: tuple[str, ...],
    run: Callable[[Any], Awaitable[list[dict[str, Any]]]],
) -> None:
    """The command line both HTTP benchmarks share: `--<noun> N` rows to load, then the
    load's size; prints the table and the ratios, and `--json` writes the figures."""
    parser = argparse.ArgumentParser(description=doc.split("\n")[0])
    parser.add_argument(f"--{noun}", type=int, default=100_000, dest="rows")
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--rate", type=float, default=1.0, help="requests/s per paced client")
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    results = asyncio.run(run(args))
    print(
        f"\n{args.rows} {noun}, {args.clients} clients ({args.rate}/s each when paced),"
        f" {args.workers} hub process(es), PostgreSQL"
    )
    print_table(results, kinds)
    print_ratios(results, kinds)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, ensure_ascii=False))

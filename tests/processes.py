"""Real `pos-hub` processes for end-to-end tests: the environment they run with, started
on a free port with their output in a log file, waited for, stopped (SIGTERM) or killed
(SIGKILL), and the CLI run as a command."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests import services
from tests.private_redis import free_port

POS_HUB = Path(sys.executable).parent / "pos-hub"
STARTUP_TIMEOUT = 20.0
SECRET = "multi-process-test-secret-" + "k" * 40


def base_env(**settings: str) -> dict[str, str]:
    """This process's environment without any `POS_` variable, with cheap password
    hashing, plus `settings`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("POS_")}
    env.update(
        POS_ARGON2_TIME_COST="1",
        POS_ARGON2_MEMORY_KIB="64",
        POS_ARGON2_PARALLELISM="1",
        PYTHONUTF8="1",
    )
    env.update(settings)
    return env


def hub_env(workdir: Path, database_url: str, redis_url: str) -> dict[str, str]:
    """A production-like hub: PostgreSQL, Redis, `test` environment with a real secret."""
    return base_env(
        POS_ENV="test",
        POS_SECRET_KEY=SECRET,
        POS_DATA_DIR=str(workdir / "data"),
        POS_DATABASE_URL=database_url,
        POS_REDIS_URL=redis_url,
        POS_DB_POOL_SIZE="4",
        # Events whose relay failed (Redis down) are swept soon after they go stale.
        POS_OUTBOX_SWEEP_SECONDS="0.5",
    )


def need_redis_server() -> None:
    """Skip (or fail, when services are required) unless Redis answers and a
    `redis-server` binary is there to start a private one."""
    services.need("redis")
    if shutil.which("redis-server") is None:
        message = "redis-server binary not installed"
        if services.REQUIRED:
            pytest.fail(message, pytrace=False)
        pytest.skip(message)


def stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM, and SIGKILL if it has not exited within 10 s."""
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


@dataclass
class HubProcess:
    name: str
    port: int
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def http(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    def stop(self) -> None:
        stop(self.process)

    def kill(self) -> None:
        """SIGKILL: no shutdown, nothing flushed; every connection drops at once."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)


def start_hub(
    workdir: Path, env: dict[str, str], name: str = "hub", port: int | None = None
) -> HubProcess:
    """`pos-hub serve` on `port` (a free one by default), its output in
    `workdir/hub-<name>.log`; not waited for (see `wait_ready`)."""
    port = port or free_port()
    log = workdir / f"hub-{name}.log"
    with log.open("wb") as log_file:  # the child keeps its own descriptor
        process = subprocess.Popen(
            [str(POS_HUB), "serve", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            cwd=workdir,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    return HubProcess(name, port, process, log)


def wait_ready(hub: HubProcess, path: str = "/readyz") -> None:
    """Until `path` answers 200; fails the test if the hub exits or takes too long."""
    deadline = time.monotonic() + STARTUP_TIMEOUT
    with httpx.Client(base_url=hub.http, timeout=1.0) as client:
        while time.monotonic() < deadline:
            if hub.process.poll() is not None:
                pytest.fail(f"hub {hub.name} exited with {hub.process.returncode}:\n{hub.output()}")
            try:
                if client.get(path).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
    pytest.fail(f"hub {hub.name} not ready after {STARTUP_TIMEOUT} s:\n{hub.output()}")


def pos_hub(
    workdir: Path, env: dict[str, str], *args: str, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """A `pos-hub` command run to its end, its output captured."""
    return subprocess.run(
        [str(POS_HUB), *args],
        env=env,
        cwd=workdir,
        capture_output=True,
        encoding="utf-8",
        timeout=timeout,
        check=False,
    )

"""The MQTT bridge over TLS (mqtts://): a Mosquitto of the test's own with a TLS listener
and a certificate signed by a throw-away authority (made with `openssl`). The agent that
trusts that authority gets the simulated scanner's scans; one that trusts only the
system's authorities never connects (the broker's certificate is checked)."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import subprocess
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from edge_agent.config import ConfigError, load
from edge_agent.drivers.mqtt import MqttBridge, MqttConfig, MqttDevice
from edge_agent.simulators.mqtt import SimulatedMqttScanner
from edge_agent.store import AgentStore
from tests.conftest import free_port
from tests.edge.test_mqtt_bridge import WAIT, Outbox, has_scan, until_set

REGISTER = str(uuid.uuid4())


def openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def make_certificates(where: Path) -> None:
    """ca.crt, and server.crt / server.key for 127.0.0.1 signed by it."""
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key",
            "-out", "ca.crt", "-days", "2", "-subj", "/CN=pos-test-ca", cwd=where)  # fmt: skip
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key",
            "-out", "server.csr", "-subj", "/CN=127.0.0.1", cwd=where)  # fmt: skip
    (where / "san.ext").write_text("subjectAltName=IP:127.0.0.1\n")
    openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
            "-CAcreateserial", "-out", "server.crt", "-days", "2",
            "-extfile", "san.ext", cwd=where)  # fmt: skip


@pytest.fixture
async def tls_broker(tmp_path: Path) -> AsyncIterator[tuple[str, Path]]:
    """(mqtts URL, the authority's certificate) of a Mosquitto with a TLS listener."""
    if shutil.which("mosquitto") is None or shutil.which("openssl") is None:
        pytest.skip("needs mosquitto and openssl")
    make_certificates(tmp_path)
    port = free_port()
    conf = tmp_path / "mosquitto.conf"
    conf.write_text(
        f"listener {port} 127.0.0.1\n"
        "allow_anonymous true\n"
        "persistence false\n"
        "user root\n"
        f"cafile {tmp_path / 'ca.crt'}\n"
        f"certfile {tmp_path / 'server.crt'}\n"
        f"keyfile {tmp_path / 'server.key'}\n"
    )
    log = tmp_path / "mosquitto.log"
    with log.open("wb") as output:
        broker = await asyncio.create_subprocess_exec(
            "mosquitto", "-c", str(conf), stdout=output, stderr=output
        )
    try:
        async with asyncio.timeout(WAIT):
            while True:
                with contextlib.suppress(OSError):
                    _, writer = await asyncio.open_connection("127.0.0.1", port)
                    writer.close()
                    break
                assert broker.returncode is None, log.read_text()
                await asyncio.sleep(0.05)
        yield f"mqtts://127.0.0.1:{port}", tmp_path / "ca.crt"
    finally:
        broker.terminate()
        await broker.wait()


def tls_config(url: str, shop: str, ca_file: str) -> MqttConfig:
    return MqttConfig(
        url=url,
        shop=shop,
        devices=(MqttDevice("scanner-1", "scanner", REGISTER),),
        reconnect_base=0.05,
        reconnect_max=0.2,
        ca_file=ca_file,
    )


async def test_scans_arrive_over_tls(tls_broker: tuple[str, Path], tmp_path: Path) -> None:
    url, ca = tls_broker
    shop = f"t{uuid.uuid4().hex[:12]}"
    bridge = MqttBridge(tls_config(url, shop, str(ca)))
    async with AgentStore(tmp_path / "agent.db") as store:
        outbox = Outbox(store)
        running = asyncio.create_task(bridge.run(store, outbox.notify))
        scanner = SimulatedMqttScanner(url, shop, "scanner-1", ca_file=str(ca))
        try:
            await until_set(bridge.connected, running)
            await scanner.start()
            await scanner.scan("4600000000017")
            events = await outbox.until(has_scan("4600000000017"))
        finally:
            await scanner.stop()
            await bridge.stop()
            await running
    (scan,) = [e.payload for e in events if e.type == "scan"]
    assert (scan["register"], scan["code"]) == (REGISTER, "4600000000017")
    assert bridge.describe()[0]["transport"].startswith("mqtts://127.0.0.1:")


# paho leaves the socket of a failed TLS handshake for the garbage collector to close
# (it is not ours to close: paho never hands it over), which pytest reports.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
async def test_an_untrusted_broker_is_never_connected(
    tls_broker: tuple[str, Path], tmp_path: Path
) -> None:
    url, _ = tls_broker
    bridge = MqttBridge(tls_config(url, f"t{uuid.uuid4().hex[:12]}", ""))  # system CAs only
    async with AgentStore(tmp_path / "agent.db") as store:
        running = asyncio.create_task(bridge.run(store, lambda: None))
        try:
            await asyncio.sleep(1.0)
            assert not bridge.connected.is_set()
            assert not running.done()  # it keeps trying, it does not give up or crash
        finally:
            await bridge.stop()
            await running
    assert bridge.describe()[0]["status"] == "offline"


def test_tls_settings_in_the_config_file(tmp_path: Path) -> None:
    ca = tmp_path / "ca.crt"
    ca.write_text("not checked here")
    base = '[hub]\nurl = "http://127.0.0.1:8000"\ntoken = "dt_secret-token"\n'
    base += '\n[mqtt]\nshop = "s1"\n'
    path = tmp_path / "edge.toml"
    path.write_text(base + f'url = "mqtts://broker.lan"\nca_file = "{ca}"\n')
    config = load(path)
    assert config.mqtt is not None
    bridge = config.mqtt.bridge_config()
    assert (bridge.url, bridge.ca_file) == ("mqtts://broker.lan", str(ca))
    for wrong, named in (
        (f'url = "mqtt://broker.lan"\nca_file = "{ca}"\n', "need an mqtts:// URL"),
        (f'url = "mqtts://broker.lan"\nca_file = "{tmp_path / "nope.crt"}"\n', "no such file"),
        ('url = "mqtts://broker.lan"\nkey_file = "' + str(ca) + '"\n', "goes with a cert_file"),
    ):
        path.write_text(base + wrong)
        with pytest.raises(ConfigError) as refused:
            load(path)
        assert named in str(refused.value)

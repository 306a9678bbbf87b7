"""The `[mqtt]` section of the agent's config: the shop's topic id, the devices on the
broker and the tills its scanners feed, checked whole; the bridge built from it runs as
one of the agent's parts and shows its devices in the agent's announcement."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from edge_agent.config import ConfigError, load
from edge_agent.devices import build
from edge_agent.drivers.mqtt import MqttDevice

REGISTER = str(uuid.uuid4())
GOOD = f"""
[hub]
url = "http://127.0.0.1:8000"
token = "dt_secret-token"

[[scanner]]
name = "till-1"
transport = "serial:///dev/ttyUSB1?baud=9600"
cash_register = "{REGISTER}"

[mqtt]
url = "mqtt://edge:s3cret@10.0.0.2:1883"
shop = "shop-7"
keepalive = 20

[[mqtt.device]]
name = "scanner-2"
kind = "scanner"
cash_register = "{REGISTER}"

[[mqtt.device]]
name = "display-1"
kind = "display"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "edge.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_mqtt_devices_from_the_config(tmp_path: Path) -> None:
    config = load(write(tmp_path, GOOD))
    assert config.mqtt is not None
    bridge = config.mqtt.bridge_config()
    assert (bridge.shop, bridge.identifier, bridge.keepalive) == ("shop-7", "pos-edge-shop-7", 20)
    assert bridge.devices == (
        MqttDevice("scanner-2", "scanner", REGISTER),
        MqttDevice("display-1", "display"),
    )


def test_the_bridge_is_an_agent_part_and_announces_its_devices(tmp_path: Path) -> None:
    devices = build(load(write(tmp_path, GOOD)))
    assert len(devices.extra) == 1
    described = {d["name"]: d for d in devices.describe()}
    assert described["till-1"]["kind"] == "scanner"  # the serial one is still there
    assert described["mqtt"] == {
        "name": "mqtt",
        "kind": "mqtt",
        "transport": "mqtt://10.0.0.2:1883",  # never the password
        "status": "offline",  # not connected yet
    }
    assert described["scanner-2"]["transport"] == "mqtt://10.0.0.2:1883/pos/v1/shop-7/dev/scanner-2"
    assert (described["display-1"]["kind"], described["display-1"]["status"]) == (
        "display",
        "unknown",
    )


def test_an_old_mqtt_section_with_only_the_url_still_loads(tmp_path: Path) -> None:
    text = GOOD.split("[mqtt]")[0] + '[mqtt]\nurl = "mqtt://127.0.0.1:1883"\n'
    config = load(write(tmp_path, text))
    assert config.mqtt is not None
    assert (config.mqtt.shop, config.mqtt.device) == ("shop", [])
    assert [d["name"] for d in build(config).describe()] == ["till-1", "mqtt"]


def test_no_mqtt_section_no_bridge(tmp_path: Path) -> None:
    assert build(load(write(tmp_path, GOOD.split("[mqtt]")[0]))).extra == []


@pytest.mark.parametrize(
    ("change", "named"),
    [
        (('shop = "shop-7"', 'shop = "shop/7"'), "mqtt.shop"),
        (('shop = "shop-7"', 'shop = "#"'), "mqtt.shop"),
        (("keepalive = 20", "keepalive = 1"), "mqtt.keepalive"),
        (('url = "mqtt://edge', 'url = "http://edge'), "mqtt"),
        (('url = "mqtt://edge:s3cret@10.0.0.2:1883"', 'url = "mqtt://h:70000"'), "mqtt"),
        (('kind = "display"', 'kind = "printer"'), "mqtt.device.1.kind"),
        (('name = "display-1"', 'name = "till-1"'), "file"),  # names are unique
        (('name = "display-1"', 'name = "mqtt"'), "mqtt"),  # the broker link's name
        (('kind = "display"', 'kind = "scanner"'), "mqtt.device.1"),  # no cash_register
        ((f'kind = "scanner"\ncash_register = "{REGISTER}"', 'kind = "scanner"'), "mqtt.device.0"),
        (('kind = "display"', 'kind = "display"\ncolour = "red"'), "mqtt.device.1.colour"),
    ],
)
def test_mistakes_are_named(tmp_path: Path, change: tuple[str, str], named: str) -> None:
    old, new = change
    assert old in GOOD
    with pytest.raises(ConfigError) as refused:
        load(write(tmp_path, GOOD.replace(old, new)))
    assert named in str(refused.value)

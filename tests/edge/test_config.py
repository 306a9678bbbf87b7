"""The agent's config file: read whole, checked whole, every mistake named."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from edge_agent.agent import Devices
from edge_agent.config import ConfigError, load
from edge_agent.devices import FiscalDevice, PrinterDevice, build
from edge_agent.jobs import TillDevices

REGISTER = str(uuid.uuid4())
GOOD = f"""
[hub]
url = "http://127.0.0.1:8000"
token = "dt_secret-token"

[agent]
data_dir = "/tmp/pos-edge"

[[printer]]
name = "receipts"
transport = "tcp://127.0.0.1:9100"
width = 48
drawer = true
cut = "full"

[[scanner]]
name = "till-1"
transport = "serial:///dev/ttyUSB1?baud=9600"
cash_register = "{REGISTER}"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "edge.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_a_good_config(tmp_path: Path) -> None:
    config = load(write(tmp_path, GOOD))
    assert config.hub.websocket_url == "ws://127.0.0.1:8000/ws"
    assert config.hub.read_token() == "dt_secret-token"
    assert (config.printer[0].width, config.printer[0].drawer) == (48, True)
    assert config.printer[0].model_dump()["cut"] == "full"  # the driver's own setting
    assert str(config.scanner[0].cash_register) == REGISTER
    assert config.agent.retry_seconds == 5.0


def test_the_token_from_a_file_and_https(tmp_path: Path) -> None:
    secret = tmp_path / "token"
    secret.write_text("dt_from-a-file\n")
    text = GOOD.replace('url = "http://', 'url = "https://').replace(
        'token = "dt_secret-token"', f'token_file = "{secret}"'
    )
    config = load(write(tmp_path, text))
    assert config.hub.websocket_url == "wss://127.0.0.1:8000/ws"
    assert config.hub.read_token() == "dt_from-a-file"


@pytest.mark.parametrize(
    ("change", "named"),
    [
        (('url = "http://127.0.0.1:8000"', 'url = "ftp://x"'), "hub"),
        (('token = "dt_secret-token"', ""), "hub"),
        (('transport = "tcp://127.0.0.1:9100"', 'transport = "usb://x"'), "printer.0"),
        (("width = 48", "width = 50"), "printer.0.width"),
        (('cut = "full"', 'cut = "sideways"'), "printer.0"),
        (('cut = "full"', "papr = 1"), "printer.0"),
        (
            (f'cash_register = "{REGISTER}"', 'cash_register = "till one"'),
            "scanner.0.cash_register",
        ),
        (('name = "till-1"', 'name = "receipts"'), "file"),  # names must be unique
        (("[agent]", "[agnet]"), "agnet"),
        (("[[printer]]", "[[printer]"), "edge.toml"),  # not TOML
    ],
)
def test_mistakes_are_named(tmp_path: Path, change: tuple[str, str], named: str) -> None:
    old, new = change
    assert old in GOOD
    with pytest.raises(ConfigError) as refused:
        load(write(tmp_path, GOOD.replace(old, new)))
    assert named in str(refused.value)


def test_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as refused:
        load(tmp_path / "nope.toml")
    assert "nope.toml" in str(refused.value)


KKT_1 = f"""
[[fiscal]]
name = "kkt-1"
transport = "tcp://127.0.0.1:7778"
cash_register = "{REGISTER}"
"""
TILLS = f"""
[hub]
url = "http://127.0.0.1:8000"
token = "dt_secret-token"

[[printer]]
name = "till-1-printer"
transport = "tcp://127.0.0.1:9100"
drawer = true
cash_register = "{REGISTER}"

[[printer]]
name = "back-office"
transport = "tcp://127.0.0.1:9101"
{KKT_1}
[[fiscal]]
name = "kkt-shared"
transport = "tcp://127.0.0.1:7779"
"""


def names(devices: TillDevices | Devices) -> tuple[str, str, bool]:
    assert isinstance(devices.printer, PrinterDevice)
    assert isinstance(devices.fiscal, FiscalDevice)
    return devices.printer.section.name, devices.fiscal.section.name, devices.drawer


def test_devices_bound_to_tills(tmp_path: Path) -> None:
    """A till's receipts go to the printer and register bound to it; other tills' to
    the unbound ones."""
    built = build(load(write(tmp_path, TILLS)))
    assert names(built) == ("back-office", "kkt-shared", False)
    assert list(built.tills) == [REGISTER]
    assert names(built.tills[REGISTER]) == ("till-1-printer", "kkt-1", True)
    # The agent tells the hub which till each device serves: the hub gives each till's
    # jobs to the agent bound to it.
    serves = {d["name"]: d.get("cash_register") for d in built.describe()}
    assert serves["till-1-printer"] == serves["kkt-1"] == str(REGISTER)
    assert (serves["back-office"], serves["kkt-shared"]) == (None, None)
    # A till with a printer of its own but no register uses the shared register.
    elsewhere = KKT_1.replace(REGISTER, str(uuid.uuid4()))
    other = build(load(write(tmp_path, TILLS.replace(KKT_1, elsewhere))))
    assert names(other.tills[REGISTER]) == ("till-1-printer", "kkt-shared", True)


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ('name = "back-office"', f'name = "back-office"\ncash_register = "{REGISTER}"'),
        (KKT_1, KKT_1.replace(f'cash_register = "{REGISTER}"', "")),
    ],
)
def test_one_device_of_a_kind_per_till(tmp_path: Path, old: str, new: str) -> None:
    assert old in TILLS
    with pytest.raises(ConfigError) as refused:
        load(write(tmp_path, TILLS.replace(old, new)))
    assert "per cash_register, and one" in str(refused.value)


def test_the_registers_tax_groups(tmp_path: Path) -> None:
    """The 2026 default (22 % is the standard rate, group 1), or the shop's own table,
    its rates read as the hub writes them."""
    default = load(write(tmp_path, TILLS)).fiscal[0].tax_groups
    own = load(
        write(tmp_path, TILLS.replace(KKT_1, KKT_1 + 'tax_groups = { "20.00" = 1, "5" = 6 }\n'))
    ).fiscal[0]
    assert default == {"22": 1, "10": 2, "0": 3, "none": 4}
    assert own.tax_groups == {"20": 1, "5": 6}
    assert FiscalDevice(own).name == "kkt-1"


@pytest.mark.parametrize(
    ("table", "named"),
    [
        ('{ "22" = 7 }', "the group of '22' must be 1-6"),
        ('{ "twenty" = 1 }', "'twenty' is not a VAT rate"),
        ('{ "22" = 1, "22.00" = 2 }', "the rate '22' is given twice"),
        ('{ "101" = 1 }', "'101' is not a VAT rate"),
        ("{}", "give at least one rate"),
    ],
)
def test_bad_tax_groups_are_named(tmp_path: Path, table: str, named: str) -> None:
    with pytest.raises(ConfigError) as refused:
        load(write(tmp_path, TILLS.replace(KKT_1, KKT_1 + f"tax_groups = {table}\n")))
    assert "fiscal.0" in str(refused.value)
    assert named in str(refused.value)


def test_an_unusable_data_dir_is_a_config_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Named, exit status 2, no traceback; checked before anything starts."""
    from edge_agent.cli import main

    path = write(
        tmp_path, GOOD.replace('data_dir = "/tmp/pos-edge"', 'data_dir = "/proc/forbidden"')
    )
    assert main(["run", "--config", str(path)]) == 2
    said = capsys.readouterr().err
    assert said.startswith("pos-edge: agent.data_dir: cannot use /proc/forbidden")
    assert "Traceback" not in said

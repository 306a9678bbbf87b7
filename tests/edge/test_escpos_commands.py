"""ESC/POS command bytes, byte for byte against the Epson reference; the Cyrillic code
page; the DLE EOT status replies decoded condition by condition."""

from __future__ import annotations

import pytest

from edge_agent.drivers.escpos import (
    CoverOpen,
    PaperOut,
    PrinterConfig,
    PrinterError,
    PrinterFault,
    PrinterOffline,
    raise_for_status,
)
from edge_agent.drivers.escpos_commands import (
    Align,
    CodePage,
    PrinterStatus,
    StatusKind,
    StatusReplyError,
    align,
    bold,
    code_page_for,
    cut,
    double_size,
    drawer_kick,
    encode_text,
    feed,
    initialise,
    qr_code,
    select_code_page,
    status_request,
    text_size,
)


@pytest.mark.parametrize(
    ("built", "expected"),
    [
        (initialise(), "1b 40"),
        (select_code_page(17), "1b 74 11"),
        (bold(True), "1b 45 01"),
        (bold(False), "1b 45 00"),
        (text_size(1, 2), "1d 21 01"),
        (text_size(3, 1), "1d 21 20"),
        (double_size(True), "1d 21 11"),
        (double_size(False), "1d 21 00"),
        (align(Align.LEFT), "1b 61 00"),
        (align(Align.CENTER), "1b 61 01"),
        (align(Align.RIGHT), "1b 61 02"),
        (feed(3), "1b 64 03"),
        (cut(), "1d 56 42 00"),  # function B, partial
        (cut(partial=False, feed_dots=10), "1d 56 41 0a"),
        (drawer_kick(), "1b 70 00 32 fa"),  # pin 2, 100 ms on, 500 ms off (2 ms units)
        (drawer_kick(pin=5, on_ms=50, off_ms=50), "1b 70 01 19 19"),
        (status_request(StatusKind.PRINTER), "10 04 01"),
        (status_request(StatusKind.OFFLINE_CAUSE), "10 04 02"),
        (status_request(StatusKind.ERROR_CAUSE), "10 04 03"),
        (status_request(StatusKind.PAPER_SENSOR), "10 04 04"),
    ],
)
def test_command_bytes(built: bytes, expected: str) -> None:
    assert built == bytes.fromhex(expected)


def test_qr_code_bytes_model_size_correction_store_print() -> None:
    assert qr_code("t=1", module_size=5, error_correction="M") == bytes.fromhex(
        "1d 28 6b 04 00 31 41 32 00"  # fn 65: model 2
        "1d 28 6b 03 00 31 43 05"  # fn 67: module size 5 dots
        "1d 28 6b 03 00 31 45 31"  # fn 69: error correction M
        "1d 28 6b 06 00 31 50 30 74 3d 31"  # fn 80: store "t=1" (pL = 3 + 3)
        "1d 28 6b 03 00 31 51 30"  # fn 81: print
    )


def test_qr_code_length_spans_two_bytes() -> None:
    data = "9" * 300
    store = qr_code(data, error_correction="H", model=1)

    assert store[:9] == bytes.fromhex("1d 28 6b 04 00 31 41 31 00")  # model 1
    assert bytes.fromhex("1d 28 6b 03 00 31 45 33") in store  # H
    assert bytes.fromhex("1d 28 6b 2f 01 31 50 30") + data.encode() in store  # 303 = 0x012f


@pytest.mark.parametrize(
    "call",
    [
        lambda: select_code_page(256),
        lambda: text_size(9, 1),
        lambda: feed(-1),
        lambda: drawer_kick(pin=3),
        lambda: drawer_kick(on_ms=1),  # under one 2 ms unit
        lambda: qr_code("привет"),
        lambda: qr_code(""),
        lambda: qr_code("x", module_size=17),
        lambda: qr_code("x", error_correction="X"),
    ],
)
def test_builders_refuse_what_the_printer_cannot_take(call: object) -> None:
    with pytest.raises(ValueError):
        call()  # type: ignore[operator]


def test_cyrillic_in_cp866() -> None:
    assert encode_text("Привет, мир", "cp866") == bytes.fromhex("8f e0 a8 a2 a5 e2 2c 20 ac a8 e0")
    assert encode_text("Ёё№", "cp866") == bytes.fromhex("f0 f1 fc")


def test_what_the_page_lacks_prints_as_a_question_mark_never_an_exception() -> None:
    assert encode_text("Цена 5€ 😀", "cp866") == "Цена 5? ?".encode("cp866")
    assert encode_text("Ω", "ascii") == b"?"


def test_typography_becomes_look_alikes_and_control_characters_spaces() -> None:
    assert encode_text("«Лето» — 2…3", "cp866") == '"Лето" - 2...3'.encode("cp866")
    # A product name carrying ESC @ and GS V cannot reset or cut the printer.
    assert encode_text("Evil\x1b@\x1dV\x00\n", "cp866") == b"Evil @ V  "


def test_code_page_per_model_and_overrides() -> None:
    assert code_page_for("generic") == CodePage(17, "cp866")
    assert code_page_for("epson") == CodePage(17, "cp866")
    assert code_page_for("xprinter") == CodePage(17, "cp866")
    assert code_page_for("xprinter", 46, "cp1251") == CodePage(46, "cp1251")
    assert code_page_for("epson", number=59) == CodePage(59, "cp866")
    with pytest.raises(ValueError, match="unknown printer model"):
        code_page_for("star")
    with pytest.raises(ValueError, match="unknown codec"):
        code_page_for("generic", codec="cp9999")


READY = 0x12  # bits 1 and 4 are fixed on in every reply


def test_a_ready_printer() -> None:
    status = PrinterStatus.from_replies(READY, READY, READY, READY)

    assert status.condition == "ready"
    assert status.can_print
    assert (status.answered, status.offline, status.drawer_open) == (True, False, False)


def test_drawer_pin_3_read_through_the_wiring_setting() -> None:
    high = 0x12 | 0x04
    assert PrinterStatus.from_replies(high, READY, READY, READY).drawer_open is True
    assert PrinterStatus.from_replies(READY, READY, READY, READY).drawer_open is False
    assert (
        PrinterStatus.from_replies(high, READY, READY, READY, drawer_open_when_high=False)
    ).drawer_open is False


@pytest.mark.parametrize(
    ("replies", "flags", "condition"),
    [
        # n=1 bit 3 offline; n=2 bit 2 cover open
        ((0x1A, 0x16, READY, READY), {"offline": True, "cover_open": True}, "cover_open"),
        # n=2 bit 5 stopped by paper end; n=4 bits 2-3 near end, 5-6 end
        (
            (0x1A, 0x32, READY, 0x7E),
            {"offline": True, "paper_end": True, "paper_near_end": True},
            "paper_out",
        ),
        ((READY, READY, READY, 0x72), {"paper_end": True}, "paper_out"),  # the end sensor alone
        ((READY, READY, READY, 0x1E), {"paper_near_end": True}, "paper_near_end"),
        # n=2 bit 6 error; n=3 bit 3 autocutter
        ((0x1A, 0x52, 0x1A, READY), {"offline": True, "cutter_error": True}, "error"),
        ((0x1A, 0x52, 0x32, READY), {"offline": True, "unrecoverable_error": True}, "error"),
        ((0x1A, 0x52, 0x52, READY), {"offline": True, "auto_recoverable_error": True}, "error"),
        ((0x1A, READY, READY, READY), {"offline": True}, "offline"),
    ],
)
def test_each_condition_from_its_status_bits(
    replies: tuple[int, int, int, int], flags: dict[str, bool], condition: str
) -> None:
    status = PrinterStatus.from_replies(*replies)

    assert status.condition == condition
    all_flags = (
        "offline",
        "cover_open",
        "paper_end",
        "paper_near_end",
        "cutter_error",
        "unrecoverable_error",
        "auto_recoverable_error",
    )
    assert {name: getattr(status, name) for name in all_flags} == {
        name: flags.get(name, False) for name in all_flags
    }
    assert status.can_print == (condition == "paper_near_end")


@pytest.mark.parametrize("noise", [0x00, 0xFF, 0x10, 0x93])
def test_a_byte_without_the_fixed_bits_is_not_a_reply(noise: int) -> None:
    with pytest.raises(StatusReplyError):
        PrinterStatus.from_replies(READY, READY, noise, READY)


def test_silent_and_not_askable() -> None:
    assert PrinterStatus.silent().condition == "offline"
    assert not PrinterStatus.silent().can_print
    assert PrinterStatus.not_askable().condition == "unknown"
    assert PrinterStatus.not_askable().can_print
    assert PrinterStatus.silent().to_dict()["condition"] == "offline"


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (PrinterStatus.silent(), PrinterOffline),
        (PrinterStatus.from_replies(0x1A, READY, READY, READY), PrinterOffline),
        (PrinterStatus.from_replies(0x1A, 0x16, READY, READY), CoverOpen),
        (PrinterStatus.from_replies(0x1A, 0x32, READY, 0x7E), PaperOut),
        (PrinterStatus.from_replies(0x1A, 0x52, 0x1A, READY), PrinterFault),
    ],
)
def test_each_condition_raises_its_typed_error(
    status: PrinterStatus, error: type[PrinterError]
) -> None:
    with pytest.raises(error) as caught:
        raise_for_status(status)

    assert caught.value.status == status


def test_a_printable_status_raises_nothing() -> None:
    raise_for_status(PrinterStatus.from_replies(READY, READY, READY, 0x1E))  # near end
    raise_for_status(PrinterStatus.not_askable())


def test_printer_config_from_the_agents_printer_table() -> None:
    """The keys of a [[printer]] table in edge.toml (edge_agent/config.py)."""
    config = PrinterConfig.from_mapping(
        {
            "name": "receipts",
            "transport": "tcp://10.0.0.5:9100",
            "model": "xprinter",
            "width": 32,
            "code_page": None,
            "drawer": True,
        }
    )

    assert (config.spec.kind, config.spec.port, config.width) == ("tcp", 9100, 32)
    assert config.page == CodePage(17, "cp866")
    assert config.drawer == "cash"
    assert PrinterConfig("file:///tmp/p", drawer=False).drawer == "never"
    assert (PrinterConfig("file:///tmp/p").width, PrinterConfig("file:///tmp/p").drawer) == (
        42,
        "never",
    )


@pytest.mark.parametrize(
    ("section", "problem"),
    [
        ({"model": "epson"}, "needs a transport"),
        ({"transport": "lpt1"}, "not a transport"),
        ({"transport": "file:///tmp/p", "widht": 32}, "unknown printer settings: widht"),
        ({"transport": "file:///tmp/p", "width": 20}, "24-80"),
        ({"transport": "file:///tmp/p", "drawer": "sometimes"}, "drawer must be"),
        ({"transport": "file:///tmp/p", "drawer": 1}, "drawer must be"),
        ({"transport": "file:///tmp/p", "cut": "half"}, "cut must be"),
        ({"transport": "file:///tmp/p", "codec": "klingon"}, "unknown codec"),
        ({"transport": "file:///tmp/p", "code_page": 300}, "code page"),
        ({"transport": "file:///tmp/p", "status_timeout": 0}, "status_timeout"),
        ({"transport": "file:///tmp/p", "drawer_open_when_high": "yes"}, "true or false"),
    ],
)
def test_printer_config_refuses_mistakes(section: dict[str, object], problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        PrinterConfig.from_mapping(section)

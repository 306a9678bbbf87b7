"""Shtrih-M bytes against the protocol's documented layouts, and the error-code table.

Expected frames are spelled out byte by byte from the layout (STX, length of command and
data, command, data, LRC = XOR of length, command and data), with the LRC worked out by
hand, so a mistake in the builders cannot be hidden by the same mistake in the test."""

from __future__ import annotations

from decimal import Decimal

import pytest

from edge_agent.drivers import shtrih_errors as errors
from edge_agent.drivers.shtrih_frames import (
    FnDocumentType,
    FrameError,
    ReceiptType,
    cancel_receipt_request,
    close_receipt_request,
    decode_frame,
    discount_request,
    encode_frame,
    fn_find_document_request,
    fn_status_request,
    item_request,
    kopecks,
    long_state_request,
    lrc,
    open_receipt_request,
    open_shift_request,
    parse_answer,
    parse_change,
    parse_fn_document,
    parse_fn_status,
    quantity_field,
    short_state_request,
    text_field,
    x_report_request,
    z_report_request,
)

D = Decimal
PASSWORD_30 = "1e 00 00 00"  # 30, 4 bytes little-endian


def test_lrc_is_the_xor_of_length_command_and_data() -> None:
    assert lrc(bytes([0x05, 0x10, 0x1E, 0x00, 0x00, 0x00])) == 0x0B  # 05^10^1E
    assert lrc(b"") == 0


@pytest.mark.parametrize(
    ("request_frame", "expected"),
    [
        # short state 0x10: 05^10^1E = 0B
        (short_state_request(30).frame(), f"02 05 10 {PASSWORD_30} 0b"),
        # long state 0x11: 05^11^1E = 0A
        (long_state_request(30).frame(), f"02 05 11 {PASSWORD_30} 0a"),
        # open shift 0xE0: 05^E0^1E = FB
        (open_shift_request(30).frame(), f"02 05 e0 {PASSWORD_30} fb"),
        # open receipt 0x8D, type 0 (sale): 06^8D^1E^00 = 95
        (open_receipt_request(30, ReceiptType.SALE).frame(), f"02 06 8d {PASSWORD_30} 00 95"),
        # type 2 (return of a sale): 06^8D^1E^02 = 97
        (
            open_receipt_request(30, ReceiptType.RETURN_SALE).frame(),
            f"02 06 8d {PASSWORD_30} 02 97",
        ),
        # cancel receipt 0x88: 05^88^1E = 93
        (cancel_receipt_request(30).frame(), f"02 05 88 {PASSWORD_30} 93"),
        # X-report 0x40: 05^40^1E = 5B; Z-report 0x41: 5A
        (x_report_request(30).frame(), f"02 05 40 {PASSWORD_30} 5b"),
        (z_report_request(30).frame(), f"02 05 41 {PASSWORD_30} 5a"),
        # FN status FF01: two command bytes, length 6: 06^FF^01^1E = E6
        (fn_status_request(30).frame(), f"02 06 ff 01 {PASSWORD_30} e6"),
        # find FN document FF0A number 3: 0A^FF^0A^1E^03 = E2
        (fn_find_document_request(30, 3).frame(), f"02 0a ff 0a {PASSWORD_30} 03 00 00 00 e2"),
        # another password: 1 -> 01 00 00 00; 05^11^01 = 15
        (long_state_request(1).frame(), "02 05 11 01 00 00 00 15"),
    ],
)
def test_short_commands_match_their_layout(request_frame: bytes, expected: str) -> None:
    assert request_frame == bytes.fromhex(expected)


def test_sale_item_layout() -> None:
    frame = item_request(
        30,
        returning=False,
        quantity=D("1.5"),
        price=D("45.99"),
        department=1,
        tax_group=2,
        text="Хлеб",
    ).frame()
    head = bytes.fromhex(
        "02 3c 80"  # STX, length 60 = 1 + 4 + 5 + 5 + 1 + 4 + 40, sale
        f"{PASSWORD_30}"
        "dc 05 00 00 00"  # quantity 1500 thousandths
        "f7 11 00 00 00"  # price 4599 kopecks
        "01"  # department
        "02 00 00 00"  # tax group 2, three unused tax bytes
        "d5 eb e5 e1"  # "Хлеб" in CP1251
    )
    assert frame == head + bytes(36) + bytes([0xA4])  # LRC worked out by hand
    assert len(frame) == 2 + 60 + 1


def test_return_item_is_command_0x82_with_the_same_layout() -> None:
    sale = item_request(
        30, returning=False, quantity=D(1), price=D(10), department=1, tax_group=1, text="x"
    )
    back = item_request(
        30, returning=True, quantity=D(1), price=D(10), department=1, tax_group=1, text="x"
    )
    assert sale.command == 0x80
    assert back.command == 0x82
    assert back.data == sale.data


def test_close_receipt_layout() -> None:
    frame = close_receipt_request(30, (D("200.00"), D("100.00"), D(0), D(0))).frame()
    head = bytes.fromhex(
        "02 47 85"  # length 71 = 1 + 4 + 4 * 5 + 2 + 4 + 40
        f"{PASSWORD_30}"
        "20 4e 00 00 00"  # cash 20000 kopecks
        "10 27 00 00 00"  # type 2: 10000 kopecks
        "00 00 00 00 00 00 00 00 00 00"  # types 3 and 4
        "00 00"  # percentage discount
        "00 00 00 00"  # tax bytes
    )
    assert frame == head + bytes(40) + bytes([0x85])


def test_discount_layout() -> None:
    frame = discount_request(30, D("0.99")).frame()
    head = bytes.fromhex(f"02 36 86 {PASSWORD_30} 63 00 00 00 00 00 00 00 00")
    assert frame == head + bytes(40) + bytes([0xCD])  # length 54 = 1 + 4 + 5 + 4 + 40


def test_money_and_quantity_must_be_exact_on_the_wire() -> None:
    assert kopecks(D("12.30")) == 1230
    assert quantity_field(D("0.001")) == bytes([1, 0, 0, 0, 0])
    with pytest.raises(ValueError, match="kopecks"):
        kopecks(D("0.005"))
    with pytest.raises(ValueError, match="kopecks"):
        kopecks(D("-1"))
    with pytest.raises(ValueError, match="thousandths"):
        quantity_field(D("0.0005"))
    with pytest.raises(ValueError, match="thousandths"):
        quantity_field(D(0))


def test_texts_are_cp1251_cut_and_padded_to_40_bytes() -> None:
    assert text_field("Молоко 3,2%") == "Молоко 3,2%".encode("cp1251") + bytes(29)
    long = text_field("Я" * 50)
    assert long == b"\xdf" * 40
    assert text_field("tea ☕") == b"tea ?" + bytes(35)  # no such character in CP1251


def test_frames_round_trip_and_a_bad_lrc_is_refused() -> None:
    payload = bytes.fromhex("ff 01 00") + bytes(30)
    frame = encode_frame(payload)
    assert decode_frame(frame) == payload
    with pytest.raises(FrameError, match="LRC"):
        decode_frame(frame[:-1] + bytes([frame[-1] ^ 0x01]))
    with pytest.raises(FrameError, match="length"):
        decode_frame(frame[:-2] + frame[-1:])
    with pytest.raises(FrameError):
        encode_frame(bytes(256))


def test_answers_carry_a_one_or_two_byte_command_echo() -> None:
    short = parse_answer(bytes.fromhex("85 00 1e 10 27 00 00 00"))
    assert (short.command, short.error_code) == (0x85, 0)
    assert parse_change(short.data) == D("100.00")
    extended = parse_answer(bytes.fromhex("ff 0a 08"))
    assert (extended.command, extended.error_code, extended.data) == (0xFF0A, 0x08, b"")
    with pytest.raises(FrameError):
        parse_answer(bytes.fromhex("10"))


def test_fn_status_answer_layout() -> None:
    data = (
        bytes.fromhex(
            "03"  # life phase: configured, fiscal mode open
            "04"  # current document: a receipt
            "00"  # no document data
            "01"  # shift open
            "00"  # warnings
            "18 0b 18 0a 1e"  # 2024-11-24 10:30
        )
        + b"9999078902004321"
        + bytes.fromhex("2a 01 00 00")
    )  # FN number, last document 298
    status = parse_fn_status(data)
    assert status.fn_number == "9999078902004321"
    assert status.last_document_number == 298
    assert status.shift_open is True
    assert status.current_document == 4
    assert status.clock is not None
    assert (status.clock.year, status.clock.month, status.clock.day) == (2024, 11, 24)


def test_fn_receipt_document_layout() -> None:
    data = bytes.fromhex(
        "03 00"  # a receipt, no ticket from the data operator yet
        "18 0b 18 0a 1e"  # 2024-11-24 10:30
        "2a 01 00 00"  # document 298
        "78 56 34 12"  # fiscal sign 0x12345678
        "02"  # return of a sale
        "30 3a 00 00 00"  # 14896 kopecks
    )
    document = parse_fn_document(data)
    assert document.document_type == FnDocumentType.RECEIPT
    assert document.number == 298
    assert document.fiscal_sign == 0x12345678
    assert document.operation == 2
    assert document.amount == D("148.96")
    assert document.shift_number is None


def test_fn_shift_report_carries_its_shift_number() -> None:
    data = bytes.fromhex("05 01 18 0b 18 17 3b 2b 01 00 00 01 00 00 00 07 00")
    document = parse_fn_document(data)
    assert document.document_type == FnDocumentType.SHIFT_CLOSE
    assert (document.number, document.fiscal_sign, document.shift_number) == (299, 1, 7)
    assert document.ticket_received is True
    assert document.amount is None


@pytest.mark.parametrize(
    ("code", "error", "meaning"),
    [
        (0x6B, errors.NoPaper, "Нет чековой ленты"),
        (0x4E, errors.ShiftExpired, "Смена превысила 24 часа"),
        (0x16, errors.ShiftExpired, "ФН: продолжительность смены более 24 часов"),
        (0x3C, errors.ShiftAlreadyOpen, "Смена открыта"),
        (0x3D, errors.ShiftNotOpen, "Смена не открыта"),
        (0x4F, errors.WrongPassword, "Неверный пароль"),
        (0x4A, errors.ReceiptAlreadyOpen, "Открыт чек"),
        (0x55, errors.ReceiptNotOpen, "Чек закрыт"),
        (0x73, errors.WrongState, "в данном режиме"),
        (0x72, errors.WrongState, "в данном подрежиме"),
        (0x37, errors.CommandNotSupported, "не поддерживается в данной реализации"),
        (0x03, errors.FiscalStorageError, "ФН: ошибка ФН"),
        (0x08, errors.FiscalStorageError, "нет запрошенных данных"),
        (0x45, errors.PaymentRejected, "меньше итога чека"),
        (0x50, errors.DeviceBusy, "Идет печать"),
        (0x58, errors.PrintSuspended, "продолжения печати"),
    ],
)
def test_device_error_codes_map_to_our_errors(
    code: int, error: type[errors.DeviceError], meaning: str
) -> None:
    raised = errors.device_error(code, 0x80)
    assert type(raised) is error
    assert (raised.code, raised.command) == (code, 0x80)
    assert meaning in raised.description
    assert f"{code:#04x}" in str(raised)


def test_state_errors_share_a_parent_and_unknown_codes_stay_generic() -> None:
    assert issubclass(errors.ShiftNotOpen, errors.WrongState)
    assert issubclass(errors.ReceiptAlreadyOpen, errors.WrongState)
    assert not issubclass(errors.NoPaper, errors.WrongState)
    cutter = errors.device_error(0x71)
    assert type(cutter) is errors.DeviceError
    assert cutter.description == "Ошибка отрезчика"
    unknown = errors.device_error(0xE4)
    assert type(unknown) is errors.DeviceError
    assert (unknown.code, unknown.description) == (0xE4, "unknown error code")
    reasons = {entry.error.reason for entry in errors.DEVICE_ERRORS.values()}
    assert {"no_paper", "shift_expired", "wrong_password", "fiscal_storage"} <= reasons


def test_link_errors_are_os_errors_and_the_timeouts_timeout_errors() -> None:
    # The job runner retries on (OSError, TimeoutError), as it does for the transport's.
    link_errors = (
        errors.LinkDown,
        errors.DeviceNotResponding,
        errors.CommandRefused,
        errors.AnswerTimeout,
        errors.AnswerCorrupted,
        errors.UnexpectedAnswer,
    )
    assert all(issubclass(error, OSError) for error in link_errors)
    assert issubclass(errors.AnswerTimeout, TimeoutError)
    assert issubclass(errors.DeviceNotResponding, TimeoutError)
    assert not issubclass(errors.CommandRefused, TimeoutError)
    assert not issubclass(errors.DeviceError, OSError)  # a refusal is not retried blindly
    lost = errors.AnswerTimeout("no answer to 0x85", command_may_have_run=True)
    assert (str(lost), lost.command_may_have_run, lost.reason) == (
        "no answer to 0x85",
        True,
        "answer_timeout",
    )

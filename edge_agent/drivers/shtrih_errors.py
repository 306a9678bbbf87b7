"""Errors of the Shtrih-M fiscal register driver.

Two families:

- `ShtrihLinkError`: the exchange failed (no answer, refused frames, a corrupted answer,
  the port gone). An OSError, the two timeouts TimeoutErrors. Each says whether the command
  may have run on the register (`command_may_have_run`); when it may have, only
  `FiscalRegister.reconcile` can tell.
- `DeviceError`: the register answered with a non-zero error code. The command did not run.
  The codes we map have their own subclass; every other code is a plain `DeviceError` that
  carries the code and the protocol's description.

`DEVICE_ERRORS` is the table of the codes we map, with the description the protocol
documents for each (the vendor's protocol description for FN-based registers, as also
listed in the vendor's open JavaPOS driver resources).
"""

from __future__ import annotations

from dataclasses import dataclass


class ShtrihError(Exception):
    """Anything that went wrong talking to the fiscal register."""

    reason = "fiscal_error"  # a stable code for job results sent to the hub


# --- the exchange ------------------------------------------------------------------------


class ShtrihLinkError(ShtrihError, OSError):
    """An OSError, like the transport's own errors: callers that retry on I/O errors
    retry on these (after reconciling, for a receipt)."""

    reason = "link_error"

    def __init__(self, message: str, *, command_may_have_run: bool) -> None:
        super().__init__(message)
        self.command_may_have_run = command_may_have_run


class LinkDown(ShtrihLinkError):
    """The serial port could not be read or written."""

    reason = "link_down"


class DeviceNotResponding(ShtrihLinkError, TimeoutError):
    """No ACK/NAK to ENQ after every retry."""

    reason = "not_responding"


class CommandRefused(ShtrihLinkError):
    """The register answered NAK to our frame every time we sent it: it never took it."""

    reason = "command_refused"


class AnswerTimeout(ShtrihLinkError, TimeoutError):
    """The register took the command but no answer came: the outcome is unknown."""

    reason = "answer_timeout"


class AnswerCorrupted(ShtrihLinkError):
    """The answer kept failing its LRC check after every NAK."""

    reason = "answer_corrupted"


class UnexpectedAnswer(ShtrihLinkError):
    """An answer that does not belong to the command we sent, or too short to parse."""

    reason = "unexpected_answer"


# --- the register's own error codes --------------------------------------------------------


class DeviceError(ShtrihError):
    """The register refused a command with a non-zero error code."""

    reason = "device_error"

    def __init__(self, code: int, description: str, command: int | None = None) -> None:
        where = f" to command {command:#04x}" if command is not None else ""
        super().__init__(f"register error {code:#04x}{where}: {description}")
        self.code = code
        self.description = description
        self.command = command


class NoPaper(DeviceError):
    reason = "no_paper"


class ShiftExpired(DeviceError):
    """The shift is older than 24 hours: only a Z-report (close shift) is allowed."""

    reason = "shift_expired"


class WrongPassword(DeviceError):
    reason = "wrong_password"


class WrongState(DeviceError):
    """The command is not allowed in the register's current mode."""

    reason = "wrong_state"


class ShiftAlreadyOpen(WrongState):
    reason = "shift_already_open"


class ShiftNotOpen(WrongState):
    reason = "shift_not_open"


class ReceiptAlreadyOpen(WrongState):
    reason = "receipt_already_open"


class ReceiptNotOpen(WrongState):
    reason = "receipt_not_open"


class CommandNotSupported(WrongState):
    reason = "command_not_supported"


class FiscalStorageError(DeviceError):
    """The fiscal storage (ФН) refused or failed."""

    reason = "fiscal_storage"


class PaymentRejected(DeviceError):
    reason = "payment_rejected"


class DeviceBusy(DeviceError):
    """Still printing the previous command; the same command may be sent again later."""

    reason = "busy"


class PrintSuspended(DeviceError):
    """Paper ran out mid-print and was replaced; the register waits for 'continue print'."""

    reason = "print_suspended"


@dataclass(frozen=True)
class ErrorCode:
    code: int
    error: type[DeviceError]
    description: str  # as the protocol documents it


# Codes 0x01-0x20 are the fiscal storage's own (FN-based registers); the rest the register's.
DEVICE_ERRORS: dict[int, ErrorCode] = {
    entry.code: entry
    for entry in (
        ErrorCode(0x01, FiscalStorageError, "ФН: неизвестная команда, неверный формат посылки"),
        ErrorCode(0x02, FiscalStorageError, "ФН: неверное состояние ФН"),
        ErrorCode(0x03, FiscalStorageError, "ФН: ошибка ФН"),
        ErrorCode(0x04, FiscalStorageError, "ФН: ошибка КС (криптографического сопроцессора)"),
        ErrorCode(0x05, FiscalStorageError, "ФН: закончен срок эксплуатации ФН"),
        ErrorCode(0x06, FiscalStorageError, "ФН: архив ФН переполнен"),
        ErrorCode(0x07, FiscalStorageError, "ФН: неверные дата и/или время"),
        ErrorCode(0x08, FiscalStorageError, "ФН: нет запрошенных данных"),
        ErrorCode(0x09, FiscalStorageError, "ФН: некорректное значение параметров команды"),
        ErrorCode(0x10, FiscalStorageError, "ФН: превышение размеров TLV данных"),
        ErrorCode(0x11, FiscalStorageError, "ФН: нет транспортного соединения"),
        ErrorCode(0x12, FiscalStorageError, "ФН: исчерпан ресурс КС"),
        ErrorCode(0x14, FiscalStorageError, "ФН: исчерпан ресурс хранения"),
        ErrorCode(0x15, FiscalStorageError, "ФН: исчерпан ресурс ожидания передачи сообщения"),
        ErrorCode(0x16, ShiftExpired, "ФН: продолжительность смены более 24 часов"),
        ErrorCode(0x17, FiscalStorageError, "ФН: неверная разница во времени между 2 операциями"),
        ErrorCode(0x20, FiscalStorageError, "ФН: сообщение от ОФД не может быть принято"),
        ErrorCode(0x37, CommandNotSupported, "Команда не поддерживается в данной реализации"),
        ErrorCode(0x3C, ShiftAlreadyOpen, "Смена открыта – операция невозможна"),
        ErrorCode(0x3D, ShiftNotOpen, "Смена не открыта – операция невозможна"),
        ErrorCode(0x45, PaymentRejected, "Сумма всех типов оплаты меньше итога чека"),
        ErrorCode(0x46, PaymentRejected, "Не хватает наличности в кассе"),
        ErrorCode(0x4A, ReceiptAlreadyOpen, "Открыт чек – операция невозможна"),
        ErrorCode(0x4D, PaymentRejected, "Вносимая безналичной оплатой сумма больше суммы чека"),
        ErrorCode(0x4E, ShiftExpired, "Смена превысила 24 часа"),
        ErrorCode(0x4F, WrongPassword, "Неверный пароль"),
        ErrorCode(0x50, DeviceBusy, "Идет печать предыдущей команды"),
        ErrorCode(0x55, ReceiptNotOpen, "Чек закрыт – операция невозможна"),
        ErrorCode(0x58, PrintSuspended, "Ожидание команды продолжения печати"),
        ErrorCode(0x6B, NoPaper, "Нет чековой ленты"),
        ErrorCode(0x6C, NoPaper, "Нет контрольной ленты"),
        ErrorCode(0x72, WrongState, "Команда не поддерживается в данном подрежиме"),
        ErrorCode(0x73, WrongState, "Команда не поддерживается в данном режиме"),
    )
}

# Codes we do not map to a class of their own, kept so that a log line says what they mean.
OTHER_DESCRIPTIONS: dict[int, str] = {
    0x33: "Некорректные параметры в команде",
    0x48: "Переполнение итога чека",
    0x5E: "Некорректная операция",
    0x5F: "Отрицательный итог чека",
    0x71: "Ошибка отрезчика",
    0x8E: "Нулевой итог чека",
    0x8F: "Касса не фискализирована",
}


def device_error(code: int, command: int | None = None) -> DeviceError:
    """Our exception for a register's error code."""
    known = DEVICE_ERRORS.get(code)
    if known is not None:
        return known.error(code, known.description, command)
    return DeviceError(code, OTHER_DESCRIPTIONS.get(code, "unknown error code"), command)

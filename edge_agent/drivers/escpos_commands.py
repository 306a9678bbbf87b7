"""ESC/POS bytes: code pages, command builders and the real-time status replies.

Pure functions named after what they do; each docstring gives the command as the Epson
ESC/POS reference names it. Status comes from the real-time command DLE EOT n, which a
printer answers with one byte even while it is offline (cover open, paper out): n=1
printer, 2 offline cause, 3 error cause, 4 roll paper sensor.
"""

from __future__ import annotations

import codecs
from dataclasses import dataclass, fields
from enum import IntEnum
from typing import Any

LF = 0x0A
DLE = 0x10
EOT = 0x04
ESC = 0x1B
GS = 0x1D


# --- code pages --------------------------------------------------------------------


@dataclass(frozen=True)
class CodePage:
    number: int  # n of ESC t n, as the printer numbers its tables
    codec: str  # the Python codec that produces that table's bytes


# Cyrillic per printer model. Epson numbers PC866 (Cyrillic #2) as page 17; Xprinter's
# ESC/POS clones follow Epson's numbering. A model that differs is set per device in
# the config (code_page, codec), which overrides this table.
MODEL_CODE_PAGES: dict[str, CodePage] = {
    "generic": CodePage(17, "cp866"),
    "epson": CodePage(17, "cp866"),
    "xprinter": CodePage(17, "cp866"),
}
DEFAULT_CODE_PAGE = MODEL_CODE_PAGES["generic"]


def code_page_for(model: str, number: int | None = None, codec: str | None = None) -> CodePage:
    """The model's code page, with the config's overrides; ValueError for unknown names."""
    if model not in MODEL_CODE_PAGES:
        raise ValueError(f"unknown printer model {model!r}: one of {', '.join(MODEL_CODE_PAGES)}")
    base = MODEL_CODE_PAGES[model]
    page = CodePage(base.number if number is None else number, codec or base.codec)
    _check_byte("code page", page.number)
    try:
        codecs.lookup(page.codec)
    except LookupError as exc:
        raise ValueError(f"unknown codec {page.codec!r}") from exc
    return page


# Characters a receipt code page lacks, as their look-alikes (before encoding, so a
# line's width is counted in the characters that will be printed).
_TYPOGRAPHY = str.maketrans(
    {
        "«": '"',
        "»": '"',
        "„": '"',
        "“": '"',
        "”": '"',
        "‘": "'",
        "’": "'",
        "—": "-",
        "–": "-",
        "−": "-",
        "…": "...",
        "\u00a0": " ",
        "×": "x",
    }
)


def printable(text: str) -> str:
    """`text` as a printer shows it: typographic characters as look-alikes, and control
    characters as spaces, so no product name can smuggle a command to the printer."""
    text = text.translate(_TYPOGRAPHY)
    return "".join(" " if ord(c) < 0x20 or 0x7F <= ord(c) < 0xA0 else c for c in text)


def encode_text(text: str, codec: str) -> bytes:
    """`text` in the code page's bytes; what the page lacks prints as "?" (never raises)."""
    return printable(text).encode(codec, errors="replace")


# --- command builders ----------------------------------------------------------------


def _check_byte(what: str, value: int, low: int = 0, high: int = 255) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValueError(f"{what} must be {low}-{high}, got {value!r}")
    return value


class Align(IntEnum):
    LEFT = 0
    CENTER = 1
    RIGHT = 2


def initialise() -> bytes:
    """ESC @: clear the buffer and reset modes (code page included) to the defaults."""
    return bytes((ESC, 0x40))


def select_code_page(number: int) -> bytes:
    """ESC t n: select character code table n."""
    return bytes((ESC, 0x74, _check_byte("code page", number)))


def bold(on: bool) -> bytes:
    """ESC E n: emphasised mode on (1) or off (0)."""
    return bytes((ESC, 0x45, 1 if on else 0))


def text_size(width: int = 1, height: int = 1) -> bytes:
    """GS ! n: character size, each 1-8 times; width in the high nibble, height low."""
    _check_byte("width", width, 1, 8)
    _check_byte("height", height, 1, 8)
    return bytes((GS, 0x21, (width - 1) << 4 | (height - 1)))


def double_size(on: bool) -> bytes:
    """GS ! 0x11 (double width and height) or GS ! 0 (normal)."""
    return text_size(2, 2) if on else text_size()


def align(how: Align) -> bytes:
    """ESC a n: justification of the lines that follow."""
    return bytes((ESC, 0x61, int(Align(how))))


def feed(lines: int) -> bytes:
    """ESC d n: print the buffer and feed n lines."""
    return bytes((ESC, 0x64, _check_byte("lines", lines)))


def cut(partial: bool = True, feed_dots: int = 0) -> bytes:
    """GS V m n, function B: feed to the cutter (plus n dots, so the last line clears
    it) and cut; m 66 partial (a tab left), 65 full."""
    return bytes((GS, 0x56, 66 if partial else 65, _check_byte("feed", feed_dots)))


def drawer_kick(pin: int = 2, on_ms: int = 100, off_ms: int = 500) -> bytes:
    """ESC p m t1 t2: a pulse on the drawer connector's pin 2 (m 0) or pin 5 (m 1), on
    for t1 x 2 ms and off for t2 x 2 ms."""
    if pin not in (2, 5):
        raise ValueError(f"the drawer pin is 2 or 5, got {pin!r}")
    t1 = _check_byte("on time / 2 ms", on_ms // 2, 1)
    t2 = _check_byte("off time / 2 ms", off_ms // 2, 1)
    return bytes((ESC, 0x70, 0 if pin == 2 else 1, t1, t2))


QR_ERROR_CORRECTION = {"L": 48, "M": 49, "Q": 50, "H": 51}
QR_MAX_DATA = 7089


def _qr_function(function: int, parameters: bytes) -> bytes:
    """GS ( k pL pH cn fn [parameters]: cn 49 is the QR symbol; pL pH count cn, fn and
    the parameters, little-endian."""
    size = len(parameters) + 2
    return bytes((GS, 0x28, 0x6B, size & 0xFF, size >> 8, 49, function)) + parameters


def qr_code(
    data: str, *, module_size: int = 5, error_correction: str = "M", model: int = 2
) -> bytes:
    """A QR code, printed where the print position is: select the model (fn 65), the
    module size in dots (fn 67), the error correction level (fn 69), store the data in
    the symbol area (fn 80, m 48), print it (fn 81, m 48)."""
    if model not in (1, 2):
        raise ValueError(f"the QR model is 1 or 2, got {model!r}")
    _check_byte("module size", module_size, 1, 16)
    if error_correction not in QR_ERROR_CORRECTION:
        raise ValueError(f"error correction is one of L, M, Q, H, got {error_correction!r}")
    try:
        payload = data.encode("ascii")
    except UnicodeEncodeError as exc:
        raise ValueError("QR data must be ASCII") from exc
    if not 1 <= len(payload) <= QR_MAX_DATA:
        raise ValueError(f"QR data must be 1-{QR_MAX_DATA} bytes")
    return b"".join(
        (
            _qr_function(65, bytes((48 + model, 0))),
            _qr_function(67, bytes((module_size,))),
            _qr_function(69, bytes((QR_ERROR_CORRECTION[error_correction],))),
            _qr_function(80, b"\x30" + payload),
            _qr_function(81, b"\x30"),
        )
    )


# --- real-time status ----------------------------------------------------------------


class StatusKind(IntEnum):
    """n of DLE EOT n."""

    PRINTER = 1
    OFFLINE_CAUSE = 2
    ERROR_CAUSE = 3
    PAPER_SENSOR = 4


def status_request(kind: StatusKind) -> bytes:
    """DLE EOT n: answered at once with one status byte, even while offline."""
    return bytes((DLE, EOT, int(StatusKind(kind))))


# Every status byte has bit 1 and bit 4 on, bits 0 and 7 off: how a reply is told from
# noise (or from a late answer to an earlier question).
_FIXED_MASK = 0b1001_0011
_FIXED_BITS = 0b0001_0010


class StatusReplyError(ValueError):
    """A byte that cannot be a DLE EOT reply."""


def is_status_byte(value: int) -> bool:
    return 0 <= value <= 255 and value & _FIXED_MASK == _FIXED_BITS


def _on(value: int, bit: int) -> bool:
    return bool(value >> bit & 1)


@dataclass(frozen=True)
class PrinterStatus:
    """The printer's state as the four DLE EOT replies tell it."""

    answered: bool  # the printer replied; False: silent (off, unplugged) or not askable
    offline: bool = False  # n=1 bit 3
    cover_open: bool = False  # n=2 bit 2
    paper_end: bool = False  # n=4 bits 5-6 (or n=2 bit 5: stopped by a paper end)
    paper_near_end: bool = False  # n=4 bits 2-3
    cutter_error: bool = False  # n=3 bit 3
    unrecoverable_error: bool = False  # n=3 bit 5
    auto_recoverable_error: bool = False  # n=3 bit 6 (e.g. the head overheated)
    drawer_open: bool | None = None  # n=1 bit 2, read through the drawer's wiring
    askable: bool = True  # False: the transport carries no answers (a file)

    @classmethod
    def from_replies(
        cls,
        printer: int,
        offline_cause: int,
        error_cause: int,
        paper_sensor: int,
        *,
        drawer_open_when_high: bool = True,
    ) -> PrinterStatus:
        """Decode the replies to DLE EOT 1, 2, 3 and 4, in that order."""
        for value in (printer, offline_cause, error_cause, paper_sensor):
            if not is_status_byte(value):
                raise StatusReplyError(f"not a DLE EOT reply: 0x{value:02x}")
        pin_high = _on(printer, 2)
        return cls(
            answered=True,
            offline=_on(printer, 3),
            cover_open=_on(offline_cause, 2),
            # Either sensor bit of a pair counts: models wire one or both.
            paper_end=_on(offline_cause, 5) or _on(paper_sensor, 5) or _on(paper_sensor, 6),
            paper_near_end=_on(paper_sensor, 2) or _on(paper_sensor, 3),
            cutter_error=_on(error_cause, 3),
            unrecoverable_error=_on(error_cause, 5),
            auto_recoverable_error=_on(error_cause, 6),
            drawer_open=pin_high == drawer_open_when_high,
        )

    @classmethod
    def silent(cls) -> PrinterStatus:
        """No answer: powered off, unplugged, or the link is down."""
        return cls(answered=False, offline=True)

    @classmethod
    def not_askable(cls) -> PrinterStatus:
        return cls(answered=False, askable=False)

    @property
    def condition(self) -> str:
        """One word for the hub: unknown, offline, cover_open, paper_out, error,
        paper_near_end or ready (the first that applies)."""
        if not self.askable:
            return "unknown"
        if not self.answered:
            return "offline"
        if self.cover_open:
            return "cover_open"
        if self.paper_end:
            return "paper_out"
        if self.cutter_error or self.unrecoverable_error or self.auto_recoverable_error:
            return "error"
        if self.offline:
            return "offline"
        if self.paper_near_end:
            return "paper_near_end"
        return "ready"

    @property
    def can_print(self) -> bool:
        return self.condition in ("ready", "paper_near_end", "unknown")

    def to_dict(self) -> dict[str, Any]:
        report = {f.name: getattr(self, f.name) for f in fields(self)}
        report["condition"] = self.condition
        return report

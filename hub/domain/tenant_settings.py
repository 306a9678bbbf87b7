"""A tenant's own settings, with their defaults."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, fields, replace
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from hub.domain.errors import ValidationFailed

_CURRENCY = re.compile(r"^[A-Z]{3}$")


@dataclass(frozen=True)
class TenantSettings:
    currency: str = "RUB"
    timezone: str = "Europe/Moscow"
    # Off by default: the last unit can be sold once.
    allow_negative_stock: bool = False
    # VAT rates products may carry, in percent: data, not code (Russia in 2026 by default).
    vat_rates: tuple[str, ...] = ("0", "5", "7", "10", "20", "22")

    def __post_init__(self) -> None:
        if not isinstance(self.allow_negative_stock, bool):
            raise ValidationFailed("bad flag", fields={"allow_negative_stock": "true or false"})
        if not isinstance(self.currency, str) or not _CURRENCY.fullmatch(self.currency):
            raise ValidationFailed("bad currency", fields={"currency": "ISO 4217 code, e.g. RUB"})
        object.__setattr__(self, "vat_rates", _vat_rates(self.vat_rates))
        try:
            if not isinstance(self.timezone, str):
                raise ValueError(self.timezone)
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValidationFailed(
                "bad timezone", fields={"timezone": "IANA name, e.g. Europe/Moscow"}
            ) from exc

    @classmethod
    def from_json(cls, stored: dict[str, Any]) -> TenantSettings:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in stored.items() if k in known})

    def as_json(self) -> dict[str, Any]:
        stored = asdict(self)
        stored["vat_rates"] = list(self.vat_rates)
        return stored

    def changed(self, **changes: Any) -> TenantSettings:
        return replace(self, **changes)


def _vat_rates(rates: object) -> tuple[str, ...]:
    problem = ValidationFailed("bad VAT rates", fields={"vat_rates": 'percents 0-100, e.g. ["20"]'})
    if not isinstance(rates, list | tuple) or len(rates) > 20:
        raise problem
    cleaned = []
    for rate in rates:
        try:
            value = Decimal(str(rate))
        except InvalidOperation as exc:
            raise problem from exc
        if isinstance(rate, bool) or not value.is_finite() or not 0 <= value <= 100:
            raise problem
        cleaned.append(format(value.quantize(Decimal("0.01")).normalize(), "f"))
    return tuple(dict.fromkeys(cleaned))

"""A tenant's own settings, with their defaults."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, fields, replace
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers

from hub.domain.errors import ValidationFailed

_CURRENCY = re.compile(r"^[A-Z]{3}$")
_PERCENT_SETTINGS = ("bonus_accrual_percent", "bonus_redeem_cap_percent")
MAX_BONUS_TTL_DAYS = 3660
MAX_CART_IDLE_MINUTES = 7 * 24 * 60


def _percent(name: str, value: object) -> Decimal:
    """A percentage 0-100 with at most two decimals; stored as a string in JSON."""
    try:
        if isinstance(value, bool) or not isinstance(value, Decimal | int | str):
            raise InvalidOperation
        number = Decimal(value)
    except (InvalidOperation, ValueError) as exc:
        raise ValidationFailed("bad percentage", fields={name: "a number 0-100"}) from exc
    if not number.is_finite() or not 0 <= number <= 100 or number != round(number, 2):
        raise ValidationFailed("bad percentage", fields={name: "0-100, two decimals at most"})
    return number.quantize(Decimal("0.01"))


@dataclass(frozen=True)
class TenantSettings:
    currency: str = "RUB"
    timezone: str = "Europe/Moscow"
    # Off by default: the last unit can be sold once.
    allow_negative_stock: bool = False
    # VAT rates products may carry, in percent: data, not code (Russia in 2026 by default).
    vat_rates: tuple[str, ...] = ("0", "5", "7", "10", "20", "22")
    # ISO 3166 country: the default region of phone numbers typed without +<code>, and
    # which tax id rules apply (RU: INN check digits).
    country: str = "RU"
    # Loyalty: bonus points accrued per 100 paid (a group's own rate wins), the largest
    # part of a receipt that points may pay, and how long points live (None: forever).
    bonus_accrual_percent: Decimal = Decimal("0.00")
    bonus_redeem_cap_percent: Decimal = Decimal("50.00")
    bonus_ttl_days: int | None = None
    # A live cart untouched this long is abandoned: it expires and its reserved goods
    # go back on sale.
    cart_idle_minutes: int = 60

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
        if not isinstance(self.country, str) or self.country not in phonenumbers.SUPPORTED_REGIONS:
            raise ValidationFailed("bad country", fields={"country": "ISO 3166 code, e.g. RU"})
        for name in _PERCENT_SETTINGS:
            # Frozen, but the stored form (a string) becomes a Decimal once, here.
            object.__setattr__(self, name, _percent(name, getattr(self, name)))
        ttl = self.bonus_ttl_days
        if ttl is not None and (
            isinstance(ttl, bool) or not isinstance(ttl, int) or not 1 <= ttl <= MAX_BONUS_TTL_DAYS
        ):
            raise ValidationFailed(
                "bad bonus lifetime",
                fields={"bonus_ttl_days": f"whole days 1-{MAX_BONUS_TTL_DAYS}, or null: forever"},
            )

        idle = self.cart_idle_minutes
        if (
            isinstance(idle, bool)
            or not isinstance(idle, int)
            or not 1 <= idle <= MAX_CART_IDLE_MINUTES
        ):
            raise ValidationFailed(
                "bad cart lifetime",
                fields={"cart_idle_minutes": f"whole minutes 1-{MAX_CART_IDLE_MINUTES}"},
            )

    @classmethod
    def from_json(cls, stored: dict[str, Any]) -> TenantSettings:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in stored.items() if k in known})

    def as_json(self) -> dict[str, Any]:
        """The storage form: JSON values only (percentages as decimal strings)."""
        stored = {k: str(v) if isinstance(v, Decimal) else v for k, v in asdict(self).items()}
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

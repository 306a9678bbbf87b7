"""A tenant's settings: defaults, validation, storage form."""

from __future__ import annotations

import dataclasses
from decimal import Decimal

import pytest

from hub.domain.errors import ValidationFailed
from hub.domain.tenant_settings import TenantSettings
from protocol.errors import ErrorCode


def test_defaults() -> None:
    settings = TenantSettings()
    assert settings.currency == "RUB"
    assert settings.timezone == "Europe/Moscow"
    assert settings.allow_negative_stock is False


def test_as_json_round_trip() -> None:
    settings = TenantSettings(currency="EUR", timezone="Europe/Berlin", allow_negative_stock=True)
    stored = settings.as_json()
    assert stored == {
        "currency": "EUR",
        "timezone": "Europe/Berlin",
        "allow_negative_stock": True,
        "vat_rates": ["0", "5", "7", "10", "20", "22"],
        "country": "RU",
        "bonus_accrual_percent": "0.00",
        "bonus_redeem_cap_percent": "50.00",
        "bonus_ttl_days": None,
        "cart_idle_minutes": 60,
    }
    assert TenantSettings.from_json(stored) == settings


def test_vat_rates_are_checked_and_normalised() -> None:
    settings = TenantSettings(vat_rates=["20.00", "10", "0", "10.0"])  # type: ignore[arg-type]
    assert settings.vat_rates == ("20", "10", "0")
    for bad in (["101"], ["-1"], ["x"], "20", [True], ["NaN"]):
        with pytest.raises(ValidationFailed):
            TenantSettings(vat_rates=bad)  # type: ignore[arg-type]


def test_is_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        TenantSettings().currency = "USD"  # type: ignore[misc]


@pytest.mark.parametrize("currency", ["USD", "EUR", "KZT", "XXX"])
def test_good_currency(currency: str) -> None:
    assert TenantSettings(currency=currency).currency == currency


@pytest.mark.parametrize(
    "currency", ["", "rub", "Rub", "RU", "RUBL", "R1B", " RUB", "RUB\n", "РУБ", "$$$"]
)
def test_bad_currency(currency: str) -> None:
    with pytest.raises(ValidationFailed) as info:
        TenantSettings(currency=currency)
    assert info.value.code is ErrorCode.VALIDATION_ERROR
    assert set(info.value.fields) == {"currency"}


@pytest.mark.parametrize("timezone", ["UTC", "Asia/Almaty", "America/New_York", "Europe/Moscow"])
def test_good_timezone(timezone: str) -> None:
    assert TenantSettings(timezone=timezone).timezone == timezone


@pytest.mark.parametrize(
    "timezone",
    [
        "",
        "Mars/Olympus_Mons",
        "Europe/Nowhere",
        "not a zone",
        "/etc/localtime",
        "../../etc/passwd",
        "Europe/../Europe/Moscow",
    ],
)
def test_bad_timezone(timezone: str) -> None:
    with pytest.raises(ValidationFailed) as info:
        TenantSettings(timezone=timezone)
    assert info.value.code is ErrorCode.VALIDATION_ERROR
    assert set(info.value.fields) == {"timezone"}


def test_currency_is_checked_before_timezone() -> None:
    with pytest.raises(ValidationFailed) as info:
        TenantSettings(currency="bad", timezone="bad/zone")
    assert set(info.value.fields) == {"currency"}


def test_from_json_ignores_unknown_keys() -> None:
    settings = TenantSettings.from_json(
        {"currency": "USD", "retired_setting": 1, "theme": "dark", "timezone": "UTC"}
    )
    assert settings == TenantSettings(currency="USD", timezone="UTC")


def test_from_json_fills_missing_keys_with_defaults() -> None:
    assert TenantSettings.from_json({}) == TenantSettings()
    assert TenantSettings.from_json({"allow_negative_stock": True}) == TenantSettings(
        allow_negative_stock=True
    )


def test_from_json_still_validates() -> None:
    with pytest.raises(ValidationFailed) as info:
        TenantSettings.from_json({"currency": "usd", "unknown": 1})
    assert set(info.value.fields) == {"currency"}


def test_changed_returns_a_new_validated_copy() -> None:
    original = TenantSettings()
    changed = original.changed(currency="USD", allow_negative_stock=True)
    assert changed == TenantSettings(currency="USD", allow_negative_stock=True)
    assert original == TenantSettings()
    assert original.changed() == original


def test_changed_validates() -> None:
    with pytest.raises(ValidationFailed) as info:
        TenantSettings().changed(timezone="Nowhere/Land")
    assert set(info.value.fields) == {"timezone"}


def test_changed_refuses_unknown_settings() -> None:
    with pytest.raises(TypeError):
        TenantSettings().changed(colour="red")


# ---------------------------------------------------------------- customers' settings


def test_loyalty_settings_are_decimals_stored_as_strings() -> None:
    settings = TenantSettings.from_json(
        {"bonus_accrual_percent": "2.5", "bonus_redeem_cap_percent": 30, "bonus_ttl_days": 90}
    )
    assert settings.bonus_accrual_percent == Decimal("2.50")
    assert settings.bonus_redeem_cap_percent == Decimal("30.00")
    assert settings.as_json()["bonus_accrual_percent"] == "2.50"
    assert TenantSettings.from_json(settings.as_json()) == settings


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("bonus_accrual_percent", "-1"),
        ("bonus_accrual_percent", "100.01"),
        ("bonus_redeem_cap_percent", "1.234"),
        ("bonus_redeem_cap_percent", "NaN"),
        ("bonus_redeem_cap_percent", True),
        ("bonus_accrual_percent", 1.5),
        ("bonus_ttl_days", 0),
        ("bonus_ttl_days", True),
        ("bonus_ttl_days", "30"),
        ("country", "XX"),
        ("country", "ru"),
    ],
)
def test_bad_customer_settings(name: str, value: object) -> None:
    with pytest.raises(ValidationFailed) as info:
        TenantSettings().changed(**{name: value})
    assert set(info.value.fields) == {name}


@pytest.mark.parametrize("idle", [0, -5, 7 * 24 * 60 + 1, True, "30", 1.5])
def test_cart_idle_minutes_are_whole_minutes_within_a_week(idle: object) -> None:
    with pytest.raises(ValidationFailed) as caught:
        TenantSettings(cart_idle_minutes=idle)  # type: ignore[arg-type]
    assert "cart_idle_minutes" in caught.value.fields
    assert TenantSettings(cart_idle_minutes=1).cart_idle_minutes == 1

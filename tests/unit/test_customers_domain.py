"""Customer rules: phones, search keys, tax ids, rounding, discounts, bonuses, reversals."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hub.domain.customers import (
    BonusCapExceeded,
    CreditLimitExceeded,
    InsufficientBonus,
    bonus_accrual,
    bonus_expires_at,
    check_credit,
    check_percent,
    check_redemption,
    check_tax_id,
    discount_amount,
    inn_is_valid,
    money,
    normalise_phone,
    period_bounds,
    phone_digits,
    phone_fragments,
    plan_consumption,
    positive_money,
    redeem_cap,
    reversal_amount,
)
from hub.domain.errors import ValidationFailed
from hub.domain.text import fold
from protocol.errors import ErrorCode

D = Decimal

# ---------------------------------------------------------------- phones


@pytest.mark.parametrize(
    "raw",
    [
        "+79161234567",
        "+7 916 123-45-67",
        "+7 (916) 123-45-67",
        "89161234567",
        "8 916 123 45 67",
        "8-916-123-45-67",
        "8 (916) 123-45-67",
        "9161234567",
        "(916) 123-45-67",
        " +7-916-123-4567 ",
    ],
)
def test_russian_phone_forms_are_one_number(raw: str) -> None:
    assert normalise_phone(raw, "RU") == "+79161234567"


def test_other_regions_read_local_numbers_in_their_own_plan() -> None:
    assert normalise_phone("07400 123456", "GB") == "+447400123456"
    assert normalise_phone("+49 30 901820", "RU") == "+4930901820"


@pytest.mark.parametrize("raw", ["", "abc", "12345", "+7 916", "8 916 123 45 67 89 0", "+0123"])
def test_invalid_phones_are_refused_with_a_field(raw: str) -> None:
    with pytest.raises(ValidationFailed) as info:
        normalise_phone(raw, "RU")
    assert info.value.code is ErrorCode.VALIDATION_ERROR
    assert set(info.value.fields) == {"phone"}


def test_phone_digits() -> None:
    assert phone_digits("+79161234567") == "79161234567"


@pytest.mark.parametrize(
    ("term", "expected"),
    [
        ("1234", ["1234"]),
        ("8916123", ["8916123", "7916123"]),
        ("8 (916) 12", ["891612", "791612"]),
        ("+7 916", ["7916"]),
        ("916-12", ["91612"]),
        ("Ivan", []),
        ("Иван 8916", []),
        ("", []),
        ("()", []),
    ],
)
def test_phone_fragments(term: str, expected: list[str]) -> None:
    assert phone_fragments(term, "RU") == expected


def test_phone_fragments_use_the_regions_trunk_prefix() -> None:
    assert phone_fragments("07400", "GB") == ["07400", "447400"]
    assert phone_fragments("8916", "US") == ["8916"]


# ---------------------------------------------------------------- search keys


def test_fold_makes_cyrillic_case_insensitive() -> None:
    assert fold("ИВАНОВ Пётр") == fold("иванов пётр") == "иванов петр"
    assert fold("  Straße   GmbH ") == "strasse gmbh"


# ---------------------------------------------------------------- tax ids


@pytest.mark.parametrize("inn", ["7707083893", "7736207543", "500100732259", "773370857141"])
def test_valid_inns(inn: str) -> None:
    assert inn_is_valid(inn)
    assert check_tax_id(f" {inn} ", "RU") == inn


@pytest.mark.parametrize(
    "inn", ["7707083894", "500100732250", "500100732269", "12345", "77070838931", "77O7083893"]
)
def test_invalid_inns(inn: str) -> None:
    assert not inn_is_valid(inn)
    with pytest.raises(ValidationFailed) as info:
        check_tax_id(inn, "RU")
    assert set(info.value.fields) == {"tax_id"}


def test_tax_ids_are_free_form_outside_russia() -> None:
    assert check_tax_id("DE 123456789", "DE") == "DE 123456789"
    assert check_tax_id("", "RU") == ""


# ---------------------------------------------------------------- money


@pytest.mark.parametrize(
    ("value", "expected"),
    [("12.345", "12.35"), ("12.344", "12.34"), ("-0.005", "-0.01"), ("0.125", "0.13"), (3, "3.00")],
)
def test_money_rounds_half_up(value: str | int, expected: str) -> None:
    assert str(money(value)) == expected


@pytest.mark.parametrize("value", ["0", "-1", "0.001", "NaN", "Infinity"])
def test_positive_money_refuses_zero_negative_and_fractions_of_cents(value: str) -> None:
    with pytest.raises(ValidationFailed):
        positive_money(D(value))


@pytest.mark.parametrize("value", ["-0.01", "100.01", "1.005"])
def test_percent_bounds(value: str) -> None:
    with pytest.raises(ValidationFailed):
        check_percent(D(value), "discount_percent")


def test_group_discount() -> None:
    assert discount_amount(D("999.99"), D("10")) == D("100.00")  # 99.999 -> 100.00
    assert discount_amount(D("0.05"), D("10")) == D("0.01")  # 0.005 half up
    assert discount_amount(D("100"), D("0")) == D("0.00")


def test_bonus_accrual_rounds_half_up() -> None:
    assert bonus_accrual(D("123.45"), D("5")) == D("6.17")  # 6.1725
    assert bonus_accrual(D("0.10"), D("5")) == D("0.01")  # 0.005
    assert bonus_accrual(D("0.09"), D("5")) == D("0.00")
    assert bonus_accrual(D("0"), D("5")) == D("0.00")


def test_redeem_cap_rounds_down() -> None:
    assert redeem_cap(D("99.99"), D("50")) == D("49.99")  # 49.995 must not become 50.00
    assert redeem_cap(D("100"), D("50")) == D("50.00")
    assert redeem_cap(D("0"), D("50")) == D("0.00")


def test_redemption_checks_the_cap_then_the_points() -> None:
    check_redemption(D("49.99"), available=D("100"), receipt_total=D("99.99"), cap_percent=D(50))
    with pytest.raises(BonusCapExceeded) as cap:
        check_redemption(D("50"), available=D("100"), receipt_total=D("99.99"), cap_percent=D(50))
    assert cap.value.code is ErrorCode.BONUS_CAP_EXCEEDED
    with pytest.raises(InsufficientBonus):
        check_redemption(D("20"), available=D("19.99"), receipt_total=D("100"), cap_percent=D(50))


def test_credit_limit_may_be_reached_not_passed() -> None:
    check_credit(debt=D("70"), credit_limit=D("100"), amount=D("30"))
    with pytest.raises(CreditLimitExceeded) as info:
        check_credit(debt=D("70"), credit_limit=D("100"), amount=D("30.01"))
    assert info.value.code is ErrorCode.CREDIT_LIMIT_EXCEEDED


# ---------------------------------------------------------------- reversals


def test_reversal_of_thirds() -> None:
    original = D("10.00")
    first = reversal_amount(original, D(0), D(1) / D(3), final=False)
    second = reversal_amount(original, first, D(1) / D(3), final=False)
    third = reversal_amount(original, first + second, D(1) / D(3), final=True)
    assert (first, second, third) == (D("3.33"), D("3.33"), D("3.34"))


def test_reversal_never_passes_the_remainder() -> None:
    # Two halves of 0.05 round to 0.03 each; the second is capped at what is left.
    first = reversal_amount(D("0.05"), D(0), D("0.5"), final=False)
    assert first == D("0.03")
    assert reversal_amount(D("0.05"), first, D("0.5"), final=False) == D("0.02")
    assert reversal_amount(D("0.05"), D("0.05"), D("0.5"), final=True) == D("0.00")


def test_a_share_of_one_is_the_whole_remainder() -> None:
    assert reversal_amount(D("10"), D("3.33"), D(1), final=False) == D("6.67")


@given(
    original=st.decimals(min_value=D("0.01"), max_value=D("100000"), places=2),
    parts=st.lists(st.integers(min_value=1, max_value=1000), min_size=1, max_size=8),
)
def test_partial_returns_sum_to_exactly_the_original(original: Decimal, parts: list[int]) -> None:
    total = sum(parts)
    restored = D(0)
    for index, part in enumerate(parts):
        share = D(part) / D(total)
        amount = reversal_amount(original, restored, share, final=index == len(parts) - 1)
        assert amount >= 0
        restored += amount
        assert restored <= original
    assert restored == original


@given(
    original=st.decimals(min_value=D("0.01"), max_value=D("100000"), places=2),
    parts=st.lists(st.integers(min_value=1, max_value=1000), min_size=2, max_size=8),
)
def test_partial_returns_stay_near_their_proportion(original: Decimal, parts: list[int]) -> None:
    """Without the final flag, each partial return is its share rounded (or less)."""
    total = sum(parts) + 1  # something is never returned
    restored = D(0)
    for part in parts:
        amount = reversal_amount(original, restored, D(part) / D(total), final=False)
        assert amount <= money(original * D(part) / D(total))
        restored += amount
    assert restored <= original


# ---------------------------------------------------------------- bonus lots and periods


def test_plan_consumption_takes_oldest_first() -> None:
    assert plan_consumption([D("5"), D("3"), D("10")], D("7")) == [D("5"), D("2"), D("0")]
    assert plan_consumption([D("5")], D("0")) == [D("0")]


def test_bonus_expiry_date() -> None:
    accrued = datetime(2026, 1, 31, 12, tzinfo=UTC)
    assert bonus_expires_at(accrued, None) is None
    assert bonus_expires_at(accrued, 30) == datetime(2026, 3, 2, 12, tzinfo=UTC)


def test_period_bounds_are_local_days() -> None:
    start, end = period_bounds(date(2026, 3, 1), date(2026, 3, 31), "Europe/Moscow")
    assert start is not None
    assert end is not None
    assert start.astimezone(UTC) == datetime(2026, 2, 28, 21, tzinfo=UTC)
    assert end.astimezone(UTC) == datetime(2026, 3, 31, 21, tzinfo=UTC)
    with pytest.raises(ValidationFailed):
        period_bounds(date(2026, 3, 2), date(2026, 3, 1), "UTC")
    assert period_bounds(None, None, "UTC") == (None, None)

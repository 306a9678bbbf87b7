"""Customer rules in plain Python: phones, tax ids, search keys, money rounding, group
discounts, loyalty bonuses, credit limits and how a return gives back what a sale took.

Money is `Decimal`, always rounded to cents with ROUND_HALF_UP (`money`), except the
bonus redemption cap, which is rounded down so that it never allows more than its
percentage. Bonus points are worth one currency unit each and are kept to cents too.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import date, datetime, time, timedelta
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal
from enum import StrEnum
from zoneinfo import ZoneInfo

import phonenumbers

from hub.domain.errors import Conflict, ValidationFailed
from protocol.errors import ErrorCode

CENT = Decimal("0.01")
ZERO = Decimal("0.00")
HUNDRED = Decimal(100)


class CustomerKind(StrEnum):
    PERSON = "person"
    COMPANY = "company"


class LedgerAccount(StrEnum):
    BALANCE = "balance"  # prepaid money the customer holds with the business
    DEBT = "debt"  # what the customer owes from credit sales
    BONUS = "bonus"  # loyalty points


class LedgerKind(StrEnum):
    """Why an account changed. Each ledger row changes exactly one account."""

    TOP_UP = "top_up"  # balance +: money paid in
    BALANCE_REFUND = "balance_refund"  # balance -: prepaid money paid back out
    BALANCE_PAYMENT = "balance_payment"  # balance -: a sale paid from the balance
    BALANCE_PAYMENT_REVERSAL = "balance_payment_reversal"  # balance +: returned goods
    CREDIT_CHARGE = "credit_charge"  # debt +: a sale on credit
    CREDIT_REVERSAL = "credit_reversal"  # debt - (or balance + once the debt is paid)
    REPAYMENT = "repayment"  # debt -: the customer pays off debt
    BONUS_ACCRUAL = "bonus_accrual"  # bonus +: points for a paid sale
    BONUS_ACCRUAL_REVERSAL = "bonus_accrual_reversal"  # bonus -: goods returned
    BONUS_REDEMPTION = "bonus_redemption"  # bonus -: points paid part of a sale
    BONUS_REDEMPTION_REVERSAL = "bonus_redemption_reversal"  # bonus +: goods returned
    BONUS_EXPIRY = "bonus_expiry"  # bonus -: points past their lifetime


# What a return writes for each kind a sale wrote.
REVERSAL_OF: dict[LedgerKind, LedgerKind] = {
    LedgerKind.CREDIT_CHARGE: LedgerKind.CREDIT_REVERSAL,
    LedgerKind.BALANCE_PAYMENT: LedgerKind.BALANCE_PAYMENT_REVERSAL,
    LedgerKind.BONUS_REDEMPTION: LedgerKind.BONUS_REDEMPTION_REVERSAL,
    LedgerKind.BONUS_ACCRUAL: LedgerKind.BONUS_ACCRUAL_REVERSAL,
}


# --- errors ---------------------------------------------------------------------------


class PhoneTaken(Conflict):
    code = ErrorCode.PHONE_TAKEN

    def __init__(self) -> None:
        super().__init__(
            "another customer has this phone number", fields={"phone": "already taken"}
        )


class CreditLimitExceeded(Conflict):
    code = ErrorCode.CREDIT_LIMIT_EXCEEDED


class InsufficientBalance(Conflict):
    code = ErrorCode.INSUFFICIENT_BALANCE


class InsufficientBonus(Conflict):
    code = ErrorCode.INSUFFICIENT_BONUS


class BonusCapExceeded(Conflict):
    code = ErrorCode.BONUS_CAP_EXCEEDED


class IdempotencyKeyReused(Conflict):
    code = ErrorCode.IDEMPOTENCY_KEY_REUSED


# --- money ----------------------------------------------------------------------------


def money(value: Decimal | int | str) -> Decimal:
    """A money amount in cents, rounded half up (12.345 -> 12.35, -0.005 -> -0.01)."""
    number = Decimal(value)
    if not number.is_finite():
        raise ValueError(f"not a finite amount: {value!r}")
    return number.quantize(CENT, rounding=ROUND_HALF_UP)


def positive_money(value: Decimal, field: str = "amount") -> Decimal:
    """An amount that moves money: positive, whole cents (no silent rounding)."""
    if not value.is_finite() or value <= 0 or value != value.quantize(CENT, rounding=ROUND_DOWN):
        raise ValidationFailed("bad amount", fields={field: "a positive amount in whole cents"})
    return money(value)


def check_percent(value: Decimal, field: str) -> Decimal:
    if not value.is_finite() or not 0 <= value <= 100 or value != round(value, 2):
        raise ValidationFailed("bad percentage", fields={field: "0-100, two decimals at most"})
    return value.quantize(CENT)


def discount_amount(total: Decimal, percent: Decimal) -> Decimal:
    """A group discount on `total`: total x percent / 100, rounded half up to cents."""
    return money(total * percent / HUNDRED)


def bonus_accrual(paid_amount: Decimal, rate_percent: Decimal) -> Decimal:
    """Points for `paid_amount` of money at `rate_percent`, rounded half up to cents."""
    if paid_amount <= 0:
        return ZERO
    return money(paid_amount * rate_percent / HUNDRED)


def redeem_cap(receipt_total: Decimal, cap_percent: Decimal) -> Decimal:
    """The most points one receipt may take: receipt_total x cap / 100, rounded *down*
    to cents, so the cap is never exceeded (99.99 at 50 % -> 49.99)."""
    if receipt_total <= 0:
        return ZERO
    return (receipt_total * cap_percent / HUNDRED).quantize(CENT, rounding=ROUND_DOWN)


def check_redemption(
    points: Decimal, *, available: Decimal, receipt_total: Decimal, cap_percent: Decimal
) -> None:
    cap = redeem_cap(receipt_total, cap_percent)
    if points > cap:
        raise BonusCapExceeded(
            f"at most {cap} points may pay this receipt ({cap_percent} % of {receipt_total})",
            fields={"points": f"at most {cap}"},
        )
    if points > available:
        raise InsufficientBonus(
            f"the customer has {available} points", fields={"points": f"at most {available}"}
        )


def check_credit(*, debt: Decimal, credit_limit: Decimal, amount: Decimal) -> None:
    """Debt after a credit sale may reach the limit, never pass it."""
    if debt + amount > credit_limit:
        raise CreditLimitExceeded(
            f"credit limit {credit_limit} exceeded: debt {debt}, sale on credit {amount}",
            fields={"amount": f"at most {max(ZERO, credit_limit - debt)} on credit"},
        )


def check_balance(*, balance: Decimal, amount: Decimal) -> None:
    if amount > balance:
        raise InsufficientBalance(
            f"the customer's balance is {balance}", fields={"amount": f"at most {balance}"}
        )


def reversal_amount(
    original: Decimal, already_reversed: Decimal, share: Decimal, *, final: bool
) -> Decimal:
    """How much of `original` (what a sale took or gave on one account) a return gives
    back.

    A partial return gives back `original x share` rounded half up to cents, but never
    more than what is still unreversed; the final return (or a share of 1) gives back
    exactly the remainder. So any number of partial returns never restores more than the
    sale took, and a sale returned completely is restored to the cent.
    """
    remaining = original - already_reversed
    if remaining <= 0:
        return ZERO
    if final or share >= 1:
        return remaining
    return min(remaining, money(original * share))


def plan_consumption(remainders: Sequence[Decimal], points: Decimal) -> list[Decimal]:
    """How many points to take from each bonus lot, oldest (first to expire) first."""
    taken = []
    left = points
    for remaining in remainders:
        take = min(remaining, max(left, ZERO))
        taken.append(take)
        left -= take
    return taken


def bonus_expires_at(accrued_at: datetime, ttl_days: int | None) -> datetime | None:
    return None if ttl_days is None else accrued_at + timedelta(days=ttl_days)


# --- text and phones ------------------------------------------------------------------

_SPACES = re.compile(r"\s+")
_NON_DIGITS = re.compile(r"\D")


def normalise_phone(raw: str, region: str) -> str:
    """A phone number in E.164 (+79161234567). Numbers without a country code are read
    in `region` (the tenant's country): for RU, 8 916 123-45-67 and (916) 123 45 67 both
    mean +7 916 123 45 67. Anything that is not a valid number is refused."""
    try:
        number = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException as exc:
        raise ValidationFailed("bad phone number", fields={"phone": "not a phone number"}) from exc
    if not phonenumbers.is_valid_number(number):
        raise ValidationFailed("bad phone number", fields={"phone": "not a valid phone number"})
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def phone_digits(e164: str) -> str:
    """What phone fragments are searched in: the E.164 digits without '+'."""
    return _NON_DIGITS.sub("", e164)


def phone_fragments(term: str, region: str) -> list[str]:
    """Digit strings a phone-number search looks for, or [] when `term` is not a phone
    fragment (letters in it, or no digits).

    A fragment typed with the national prefix also matches in international form: for
    RU, "8916123" looks for "8916123" and "7916123" (8 is the trunk prefix of +7)."""
    if not term or re.search(r"[^\d\s()+\-.]", term):
        return []
    digits = _NON_DIGITS.sub("", term)
    if not digits:
        return []
    found = [digits]
    metadata = phonenumbers.PhoneMetadata.metadata_for_region(region)
    prefix = metadata.national_prefix if metadata is not None else None
    if prefix and not term.lstrip().startswith("+") and digits.startswith(prefix):
        international = f"{metadata.country_code}{digits[len(prefix) :]}"  # type: ignore[union-attr]
        if international not in found:
            found.append(international)
    return found


# --- tax ids --------------------------------------------------------------------------

_INN_10 = (2, 4, 10, 3, 5, 9, 4, 6, 8)
_INN_11 = (7, 2, 4, 10, 3, 5, 9, 4, 6, 8)
_INN_12 = (3, 7, 2, 4, 10, 3, 5, 9, 4, 6, 8)


def _check_digit(digits: str, weights: tuple[int, ...]) -> int:
    return sum(int(d) * w for d, w in zip(digits, weights, strict=False)) % 11 % 10


def inn_is_valid(inn: str) -> bool:
    """A Russian INN: 10 digits (organisations) or 12 (people, sole traders), with
    their check digits."""
    if not inn.isascii() or not inn.isdigit():
        return False
    if len(inn) == 10:
        return _check_digit(inn, _INN_10) == int(inn[9])
    if len(inn) == 12:
        return _check_digit(inn, _INN_11) == int(inn[10]) and _check_digit(inn, _INN_12) == int(
            inn[11]
        )
    return False


def check_tax_id(tax_id: str, country: str) -> str:
    """The tax id as stored: checked as an INN in Russia, free form elsewhere."""
    value = tax_id.strip()
    if not value:
        return ""
    if country == "RU" and not inn_is_valid(value):
        raise ValidationFailed(
            "bad INN", fields={"tax_id": "an INN: 10 or 12 digits with valid check digits"}
        )
    return value


# --- periods --------------------------------------------------------------------------


def period_bounds(
    date_from: date | None, date_to: date | None, timezone: str
) -> tuple[datetime | None, datetime | None]:
    """Whole local days [date_from 00:00, date_to + 1 day 00:00) in the tenant's zone."""
    zone = ZoneInfo(timezone)
    if date_from is not None and date_to is not None and date_from > date_to:
        raise ValidationFailed("empty period", fields={"date_from": "after date_to"})
    start = None if date_from is None else datetime.combine(date_from, time(), zone)
    end = None if date_to is None else datetime.combine(date_to + timedelta(days=1), time(), zone)
    return start, end

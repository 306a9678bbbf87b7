"""Account rules: usernames, the password policy, who may manage whom."""

from __future__ import annotations

import pytest

from hub.domain.accounts import (
    PASSWORD_MAX,
    PASSWORD_MIN,
    check_password,
    check_username,
    ensure_can_manage,
    normalise_username,
)
from hub.domain.errors import PermissionDenied, ValidationFailed
from hub.domain.permissions import Role
from protocol.errors import ErrorCode


def fullwidth(text: str) -> str:
    """ASCII letters and digits as their fullwidth forms (NFKC maps them back)."""
    return "".join(chr(ord(c) + 0xFEE0) if c.isalnum() and c.isascii() else c for c in text)


RUSSIAN_PASSWORD = "\u043f\u0430\u0440\u043e\u043b\u044c12"  # "parol12" in Cyrillic

# ---------------------------------------------------------------- usernames


@pytest.mark.parametrize(
    "username",
    [
        "abc",
        "anna",
        "Anna.Smith",
        "a.b@c+d-e_f",
        "cashier_01",
        "user@example.com",
        "Анна",  # \w is Unicode-aware
        "123",
        "a" * 150,
    ],
)
def test_valid_usernames(username: str) -> None:
    check_username(username)


@pytest.mark.parametrize(
    "username",
    [
        "",
        "ab",
        "a" * 151,
        "with space",
        "semi;colon",
        "slash/name",
        "quote'name",
        "abc\n",
        "\nabc",
        "tab\tname",
        "emoji😀name",
    ],
)
def test_invalid_usernames(username: str) -> None:
    with pytest.raises(ValidationFailed) as info:
        check_username(username)
    assert info.value.code is ErrorCode.VALIDATION_ERROR
    assert set(info.value.fields) == {"username"}


def test_normalise_username_casefolds() -> None:
    assert normalise_username("Anna") == "anna"
    assert normalise_username("ANNA") == normalise_username("anna")
    # casefold, not lower: the German sharp s folds to "ss"
    assert normalise_username("Straße") == "strasse"
    assert normalise_username("STRASSE") == normalise_username("straße")


def test_normalise_username_applies_nfkc() -> None:
    assert normalise_username(fullwidth("Anna")) == "anna"
    assert normalise_username("ﬁlip") == "filip"  # ligature
    # composed and decomposed forms of "é" are the same user
    assert normalise_username("Jos\u00e9") == normalise_username("Jose\u0301")


@pytest.mark.parametrize("username", ["Anna", fullwidth("Straße"), "Jose\u0301", "plain"])
def test_normalise_username_is_idempotent(username: str) -> None:
    once = normalise_username(username)
    assert normalise_username(once) == once


# ---------------------------------------------------------------- passwords


def _problem(password: str, username: str = "someone", field: str = "password") -> str:
    with pytest.raises(ValidationFailed) as info:
        check_password(password, username=username, field=field)
    assert info.value.code is ErrorCode.VALIDATION_ERROR
    assert info.value.message == "password too weak"
    assert set(info.value.fields) == {field}
    return info.value.fields[field]


def test_policy_bounds() -> None:
    assert PASSWORD_MIN == 8
    assert PASSWORD_MAX == 128


@pytest.mark.parametrize(
    "password",
    [
        "correct-horse-9",
        "abcdefg1",
        "a" * PASSWORD_MIN,
        "x" * PASSWORD_MAX,
        "1234567a",
        RUSSIAN_PASSWORD,
    ],
)
def test_acceptable_passwords(password: str) -> None:
    check_password(password, username="someone")


@pytest.mark.parametrize("password", ["", "a", "abcdefg", "a" * (PASSWORD_MIN - 1)])
def test_too_short(password: str) -> None:
    assert _problem(password) == f"at least {PASSWORD_MIN} characters"


def test_too_long() -> None:
    assert _problem("x" * (PASSWORD_MAX + 1)) == f"at most {PASSWORD_MAX} characters"


@pytest.mark.parametrize("password", ["12345678", "0" * 20, "9" * PASSWORD_MAX, "١٢٣٤٥٦٧٨"])
def test_digits_only(password: str) -> None:
    assert _problem(password) == "must not be only digits"


def test_short_digits_report_length_first() -> None:
    assert _problem("1234") == f"at least {PASSWORD_MIN} characters"


@pytest.mark.parametrize(
    ("password", "username"),
    [
        ("cashier_01", "cashier_01"),
        ("Cashier_01", "cashier_01"),
        ("CASHIER_01", "Cashier_01"),
        (fullwidth("cashier_01"), "cashier_01"),  # equal after NFKC
        ("strasse-99", "STRASSE-99"),
        ("straße-99", "STRASSE-99"),
    ],
)
def test_equal_to_username(password: str, username: str) -> None:
    assert _problem(password, username=username) == "must differ from the username"


def test_similar_but_different_from_username_is_fine() -> None:
    check_password("cashier_012", username="cashier_01")


def test_field_name_is_configurable() -> None:
    assert _problem("short", field="new_password") == f"at least {PASSWORD_MIN} characters"


# ---------------------------------------------------------------- managing


@pytest.mark.parametrize("target", list(Role))
def test_owner_may_manage_anyone(target: Role) -> None:
    ensure_can_manage(Role.OWNER, target)


@pytest.mark.parametrize("target", [Role.CASHIER, Role.STOCKKEEPER])
def test_manager_may_manage_staff(target: Role) -> None:
    ensure_can_manage(Role.MANAGER, target)


@pytest.mark.parametrize(
    ("actor", "target"),
    [
        (Role.MANAGER, Role.OWNER),
        (Role.MANAGER, Role.MANAGER),
        *[(Role.CASHIER, t) for t in Role],
        *[(Role.STOCKKEEPER, t) for t in Role],
    ],
)
def test_ensure_can_manage_refuses(actor: Role, target: Role) -> None:
    with pytest.raises(PermissionDenied) as info:
        ensure_can_manage(actor, target)
    assert info.value.code is ErrorCode.PERMISSION_DENIED
    assert actor.value in info.value.message
    assert target.value in info.value.message


def test_the_refusal_reads_as_english() -> None:
    with pytest.raises(PermissionDenied) as info:
        ensure_can_manage(Role.MANAGER, Role.OWNER)
    assert info.value.message == "a manager cannot manage an owner"

"""Rules for accounts: usernames, passwords, managers' PINs, who may manage whom."""

from __future__ import annotations

import re
import unicodedata
from itertools import pairwise

from hub.domain.errors import Conflict, PermissionDenied, ValidationFailed
from hub.domain.permissions import Permission, Role, can_manage_role, role_has
from protocol.errors import ErrorCode


class UsernameTaken(Conflict):
    code = ErrorCode.USERNAME_TAKEN

    def __init__(self) -> None:
        super().__init__("this username is taken", fields={"username": "already taken"})


USERNAME_RE = re.compile(r"^[\w.@+-]{3,150}$")
PASSWORD_MIN = 8
PASSWORD_MAX = 128
PIN_MIN = 4
PIN_MAX = 8
_PIN_RE = re.compile(rf"^[0-9]{{{PIN_MIN},{PIN_MAX}}}$")


def normalise_username(username: str) -> str:
    """The key usernames are unique by: NFKC and case-folded, so 'Anna' == 'anna'."""
    return unicodedata.normalize("NFKC", username).casefold()


def check_username(username: str) -> None:
    if not USERNAME_RE.fullmatch(username):
        raise ValidationFailed(
            "invalid username",
            fields={"username": "3-150 letters, digits or . @ + - _"},
        )


def check_password(password: str, *, username: str, field: str = "password") -> None:
    problem: str | None = None
    if len(password) < PASSWORD_MIN:
        problem = f"at least {PASSWORD_MIN} characters"
    elif len(password) > PASSWORD_MAX:
        problem = f"at most {PASSWORD_MAX} characters"
    elif password.isdigit():
        problem = "must not be only digits"
    elif normalise_username(password) == normalise_username(username):
        problem = "must differ from the username"
    if problem is not None:
        raise ValidationFailed("password too weak", fields={field: problem})


def ensure_can_manage(actor: Role, target: Role) -> None:
    if not can_manage_role(actor, target):
        raise PermissionDenied(f"{_article(actor.value)} cannot manage {_article(target.value)}")


class InvalidPin(PermissionDenied):
    """A manager's PIN that approves nothing: wrong, of nobody who may approve here, or of
    a deactivated account. One answer for all of them, so a till learns nothing more."""

    code = ErrorCode.INVALID_PIN

    def __init__(self) -> None:
        super().__init__(
            "the manager's PIN was not accepted",
            fields={"manager_pin": "wrong PIN, or not of an active manager of this shop"},
        )


def may_hold_pin(role: Role) -> bool:
    """A PIN approves, at a till, what a cashier may not do alone: only roles that may do
    it themselves hold one."""
    return role_has(role, Permission.SALES_RETURN)


def check_pin_shape(pin: str, *, field: str = "pin") -> None:
    """4 to 8 ASCII digits: what a PIN typed at a till must look like."""
    if not _PIN_RE.fullmatch(pin):
        raise ValidationFailed("invalid PIN", fields={field: f"{PIN_MIN} to {PIN_MAX} digits"})


def check_pin(pin: str, *, field: str = "pin") -> None:
    """A new PIN: 4 to 8 ASCII digits, not one digit repeated and not a run up or down
    (1234, 9876): the first PINs anyone would try."""
    check_pin_shape(pin, field=field)
    steps = {int(b) - int(a) for a, b in pairwise(pin)}
    if len(steps) == 1 and steps <= {-1, 0, 1}:
        raise ValidationFailed(
            "PIN too easy to guess", fields={field: "not one digit repeated or a run like 1234"}
        )


def _article(noun: str) -> str:
    return f"{'an' if noun[0] in 'aeiou' else 'a'} {noun}"

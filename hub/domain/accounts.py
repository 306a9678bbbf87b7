"""Rules for accounts: usernames, passwords, who may manage whom."""

from __future__ import annotations

import re
import unicodedata

from hub.domain.errors import Conflict, PermissionDenied, ValidationFailed
from hub.domain.permissions import Role, can_manage_role
from protocol.errors import ErrorCode


class UsernameTaken(Conflict):
    code = ErrorCode.USERNAME_TAKEN

    def __init__(self) -> None:
        super().__init__("this username is taken", fields={"username": "already taken"})


USERNAME_RE = re.compile(r"^[\w.@+-]{3,150}$")
PASSWORD_MIN = 8
PASSWORD_MAX = 128


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
        raise PermissionDenied(f"a {actor.value} cannot manage a {target.value}")

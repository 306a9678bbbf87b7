"""Domain errors. Each carries a stable code; transports map it to a status or reply."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from protocol.errors import ErrorCode


class DomainError(Exception):
    code: ErrorCode = ErrorCode.CONFLICT
    # What the client needs to recover, beyond the message (e.g. the current cart).
    data: dict[str, Any] | None = None

    def __init__(
        self,
        message: str,
        *,
        fields: Mapping[str, str] | None = None,
        code: ErrorCode | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.fields: dict[str, str] = dict(fields or {})
        if code is not None:
            self.code = code


class ValidationFailed(DomainError):
    code = ErrorCode.VALIDATION_ERROR


class NotFound(DomainError):
    code = ErrorCode.NOT_FOUND


class PermissionDenied(DomainError):
    code = ErrorCode.PERMISSION_DENIED


class Conflict(DomainError):
    code = ErrorCode.CONFLICT


class AuthenticationFailed(DomainError):
    code = ErrorCode.NOT_AUTHENTICATED


class Throttled(DomainError):
    code = ErrorCode.TOO_MANY_ATTEMPTS

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after

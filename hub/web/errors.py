"""One JSON error shape for every failure: {"error": {"code", "message", "fields"}}."""

from __future__ import annotations

import logging
from collections.abc import Mapping

from pydantic import ValidationError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from hub.adapters import metrics
from hub.adapters.db.database import TenantRelocated, database_unavailable, lost_a_race
from hub.domain.errors import DomainError, Throttled
from protocol.errors import HTTP_STATUS, ErrorCode

log = logging.getLogger("hub.web")


class ApiError(Exception):
    """A transport-level failure (bad JSON, too large, unauthenticated)."""

    def __init__(
        self,
        code: ErrorCode,
        message: str,
        *,
        fields: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.fields = dict(fields or {})
        self.headers = dict(headers or {})


def error_response(
    code: ErrorCode,
    message: str,
    fields: Mapping[str, str] | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    body = {"error": {"code": code.value, "message": message, "fields": dict(fields or {})}}
    return JSONResponse(body, status_code=HTTP_STATUS[code], headers=dict(headers or {}))


def validation_fields(exc: ValidationError, prefix: str = "") -> dict[str, str]:
    fields: dict[str, str] = {}
    for error in exc.errors(include_url=False):
        location = ".".join(str(part) for part in error["loc"]) or "body"
        fields.setdefault(prefix + location, error["msg"])
    return fields


def from_domain(exc: DomainError) -> JSONResponse:
    headers = {}
    if isinstance(exc, Throttled):
        headers["Retry-After"] = str(exc.retry_after)
    if exc.code in (
        ErrorCode.NOT_AUTHENTICATED,
        ErrorCode.TOKEN_INVALID,
        ErrorCode.TOKEN_EXPIRED,
        ErrorCode.TOKEN_REVOKED,
    ):
        headers["WWW-Authenticate"] = f'Bearer error="{exc.code.value}"'
    return error_response(exc.code, exc.message, exc.fields, headers)


async def handle_api_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return error_response(exc.code, exc.message, exc.fields, exc.headers)


async def handle_domain_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, DomainError)
    return from_domain(exc)


_HTTP_CODES = {
    404: ErrorCode.NOT_FOUND,
    405: ErrorCode.METHOD_NOT_ALLOWED,
    413: ErrorCode.PAYLOAD_TOO_LARGE,
    415: ErrorCode.UNSUPPORTED_MEDIA_TYPE,
}


async def handle_http_exception(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code = _HTTP_CODES.get(exc.status_code, ErrorCode.VALIDATION_ERROR)
    return error_response(code, str(exc.detail), headers=exc.headers)


RACE_MESSAGE = "another request changed the same records at that moment; send it again"
UNAVAILABLE_MESSAGE = "the database is unavailable; send the request again shortly"
REDIS_MESSAGE = "a service the hub needs is unavailable; send the request again shortly"
MOVING_MESSAGE = "this business's data is moving to another database; send the request again"
UNAVAILABLE_RETRY_AFTER = 1  # seconds


def fault_code(exc: Exception) -> tuple[ErrorCode, str] | None:
    """What a client is told of a fault it can fix by sending the same request again: a
    lost database race, or a database or Redis that is down or restarting. None for the
    rest."""
    if lost_a_race(exc):
        return ErrorCode.CONFLICT, RACE_MESSAGE
    if isinstance(exc, TenantRelocated):
        return ErrorCode.SERVICE_UNAVAILABLE, MOVING_MESSAGE
    if database_unavailable(exc):
        return ErrorCode.SERVICE_UNAVAILABLE, UNAVAILABLE_MESSAGE
    # Redis unreachable or too slow: its errors are not OSError, so name them here.
    if isinstance(exc, RedisConnectionError | RedisTimeoutError):
        return ErrorCode.SERVICE_UNAVAILABLE, REDIS_MESSAGE
    return None


def fault_response(exc: Exception, where: str) -> JSONResponse:
    """An exception no handler expected: a lost database race is a conflict, an
    unreachable database or Redis 503, both for the client to retry; anything else is logged and
    answered without its details."""
    retry = fault_code(exc)
    if retry is not None:
        log.warning("%s failed, the client may retry: %s", where, exc)
        code, message = retry
        metrics.RETRYABLE_FAULTS.labels(code.value).inc()
        headers = {"Retry-After": str(UNAVAILABLE_RETRY_AFTER)}
        return error_response(
            code, message, headers=headers if code is ErrorCode.SERVICE_UNAVAILABLE else None
        )
    log.exception("unhandled error in %s", where, exc_info=exc)
    return error_response(ErrorCode.INTERNAL_ERROR, "internal error")


async def handle_unexpected(request: Request, exc: Exception) -> Response:
    return fault_response(exc, f"{request.method} {request.url.path}")


EXCEPTION_HANDLERS = {
    ApiError: handle_api_error,
    DomainError: handle_domain_error,
    HTTPException: handle_http_exception,
    Exception: handle_unexpected,
}

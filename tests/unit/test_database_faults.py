"""Which database errors a client is told to retry, and how: a lost race is 409
`conflict`, a database that is away 503 `service_unavailable` with Retry-After; any other
fault stays a 500 that says nothing of its cause."""

from __future__ import annotations

import json

import pytest
from sqlalchemy.exc import DBAPIError

from hub.web.errors import fault_response


class DriverError(Exception):
    def __init__(self, sqlstate: str | None) -> None:
        super().__init__(f"driver error {sqlstate}")
        self.sqlstate = sqlstate


def wrapped(orig: BaseException, *, invalidated: bool = False) -> DBAPIError:
    return DBAPIError("SELECT 1", None, orig, connection_invalidated=invalidated)


@pytest.mark.parametrize(
    ("exc", "status", "code"),
    [
        (wrapped(DriverError("40001")), 409, "conflict"),  # serialization failure
        (wrapped(DriverError("40P01")), 409, "conflict"),  # deadlock
        (wrapped(DriverError("08006")), 503, "service_unavailable"),  # connection failure
        (wrapped(DriverError("57P01")), 503, "service_unavailable"),  # admin shutdown
        (wrapped(DriverError("57P03")), 503, "service_unavailable"),  # starting up
        (wrapped(DriverError(None), invalidated=True), 503, "service_unavailable"),
        (wrapped(ConnectionRefusedError(111, "refused")), 503, "service_unavailable"),
        (ConnectionResetError(104, "reset"), 503, "service_unavailable"),
        (wrapped(DriverError("23505")), 500, "internal_error"),  # a bug: not retried
        (OSError(28, "No space left on device"), 500, "internal_error"),  # not the database
        (RuntimeError("a bug"), 500, "internal_error"),
    ],
)
def test_faults_are_answered_by_what_the_client_can_do(
    exc: Exception, status: int, code: str
) -> None:
    response = fault_response(exc, "a test")
    body = json.loads(response.body)
    assert (response.status_code, body["error"]["code"]) == (status, code)
    assert response.headers.get("retry-after") == ("1" if status == 503 else None)
    assert "driver error" not in body["error"]["message"]

"""Shapes shared by every endpoint: errors and pagination."""

from __future__ import annotations

import unicodedata
from datetime import UTC, date, datetime
from typing import Annotated, Generic, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator
from starlette.requests import Request

from hub.adapters.db.repositories import PageRequest

T = TypeVar("T")

MAX_PAGE_SIZE = 200


def _has_nul(value: object) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, list | tuple | set | frozenset):
        return any(_has_nul(v) for v in value)
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    return False


class _NoNul(BaseModel):
    """Text with NUL characters is refused as a field error: PostgreSQL cannot store it,
    and no client has a reason to send it."""

    @field_validator("*", mode="after")
    @classmethod
    def _refuse_nul(cls, value: object) -> object:
        if _has_nul(value):
            raise ValueError("NUL characters are not allowed")
        return value


# Dates and times a client sends lie within years that mean something to a shop: period
# arithmetic (a day added, a time zone applied) never reaches the calendar's edges.
EARLIEST, LATEST = date(1900, 1, 1), date(2999, 12, 31)


def _plausible_day(value: date) -> date:
    if not EARLIEST <= value <= LATEST:
        raise ValueError(f"a date from {EARLIEST} to {LATEST}")
    return value


def _as_utc(value: datetime) -> datetime:
    _plausible_day(value.date())
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


# A point in time from a client: ISO 8601; without an offset (or a bare date) it is UTC,
# as every time in this API is.
Instant = Annotated[datetime, AfterValidator(_as_utc)]
# A calendar day from a client.
Day = Annotated[date, AfterValidator(_plausible_day)]


def _one_line(value: str) -> str:
    if any(unicodedata.category(char) == "Cc" for char in value):
        raise ValueError("line breaks and other control characters are not allowed")
    return value


# A name or title: one line of text. It ends up in e-mail subjects and single-line
# displays, where a line break or other control character has no place.
OneLine = Annotated[str, AfterValidator(_one_line)]


class In(_NoNul):
    """A request body: unknown fields are refused, so typos do not pass silently."""

    model_config = ConfigDict(extra="forbid")


class Query(_NoNul):
    model_config = ConfigDict(extra="ignore")


class PageQuery(Query):
    page: int = Field(default=1, ge=1, le=1_000_000)
    page_size: int = Field(default=50, ge=1, le=MAX_PAGE_SIZE)

    def page_request(self) -> PageRequest:
        return PageRequest(offset=(self.page - 1) * self.page_size, limit=self.page_size)


class Page(BaseModel, Generic[T]):
    count: int
    next: str | None
    previous: str | None
    results: list[T]

    @classmethod
    def build(cls, request: Request, query: PageQuery, results: list[T], count: int) -> Page[T]:
        last = max(1, -(-count // query.page_size))
        next_url = (
            str(request.url.include_query_params(page=query.page + 1))
            if query.page < last
            else None
        )
        previous_url = None
        if query.page > 1:
            previous_url = str(request.url.include_query_params(page=min(query.page - 1, last)))
        return cls(count=count, next=next_url, previous=previous_url, results=results)


class ErrorDetail(BaseModel):
    code: str = Field(description="stable machine-readable code, e.g. `not_found`")
    message: str
    fields: dict[str, str] = Field(description="per-field problems, by dotted path")


class ErrorBody(BaseModel):
    error: ErrorDetail

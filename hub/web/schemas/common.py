"""Shapes shared by every endpoint: errors and pagination."""

from __future__ import annotations

from typing import Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field
from starlette.requests import Request

from hub.adapters.db.repositories import PageRequest

T = TypeVar("T")

MAX_PAGE_SIZE = 200


class In(BaseModel):
    """A request body: unknown fields are refused, so typos do not pass silently."""

    model_config = ConfigDict(extra="forbid")


class Query(BaseModel):
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

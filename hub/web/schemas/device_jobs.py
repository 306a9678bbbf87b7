"""Edge-agent jobs: what an agent lists and what it reports back."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal, Self

from pydantic import AwareDatetime, BaseModel, Field, model_validator

from hub.adapters.db.job_tables import DeviceJob
from hub.domain.jobs import JobKind, JobStatus
from hub.web.schemas.common import In, PageQuery


class JobRequestIn(In):
    """A job asked for at a till: `open_drawer` with a `reason`, or `display` with up
    to four `lines` of up to 40 characters (and the display's `device` name, if the shop
    has several). `cash_register` names the till, for a shop whose agent has devices
    bound to its tills; without it the shop's unbound devices do the job."""

    kind: Literal["open_drawer", "display"]
    shop: uuid.UUID
    cash_register: uuid.UUID | None = None
    reason: str | None = Field(default=None, min_length=1, max_length=200)
    lines: list[Annotated[str, Field(max_length=40)]] | None = Field(
        default=None, min_length=1, max_length=4
    )
    device: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_.-]{1,64}$")

    @model_validator(mode="after")
    def _what_the_kind_needs(self) -> Self:
        if self.kind == "open_drawer" and (self.reason is None or self.lines is not None):
            raise ValueError("open_drawer takes a reason (and no lines)")
        if self.kind == "display" and (self.lines is None or self.reason is not None):
            raise ValueError("display takes lines (and no reason)")
        return self

    def payload(self) -> dict[str, Any]:
        payload = self.model_dump(exclude={"kind", "shop", "cash_register"}, exclude_none=True)
        if self.cash_register is not None:
            payload["register"] = str(self.cash_register)
        return payload


class JobOut(BaseModel):
    id: uuid.UUID
    kind: JobKind
    shop: uuid.UUID
    ref: uuid.UUID = Field(description="the document the job is for (a receipt job's sale)")
    status: JobStatus
    attempts: int = Field(description="outcomes reported so far (done or failed)")
    device: uuid.UUID | None = Field(description="the agent that reported the outcome")
    payload: dict[str, Any] = Field(description="the job's document, e.g. the receipt")
    result: dict[str, Any] | None = Field(description="what the agent reported")
    created_at: datetime
    updated_at: datetime
    done_at: datetime | None
    started_at: datetime | None = Field(
        default=None,
        description="when its agent said it was about to fiscalise it: a started job is"
        " never given to another agent (revoked, its agent's job is held, `agent_revoked`)",
    )

    @classmethod
    def of(cls, job: DeviceJob) -> JobOut:
        return cls(
            id=job.id,
            kind=JobKind(job.kind),
            shop=job.shop_id,
            ref=job.ref_id,
            status=JobStatus(job.status),
            attempts=job.attempts,
            device=job.device_id,
            payload=job.payload,
            result=job.result,
            created_at=job.created_at,
            updated_at=job.updated_at,
            done_at=job.done_at,
            started_at=job.started_at,
        )


class JobQuery(PageQuery):
    status: JobStatus | None = None
    kind: JobKind | None = None
    shop: uuid.UUID | None = Field(default=None, description="managers: one of their shops")
    ref: uuid.UUID | None = Field(default=None, description="the job of one document (a sale)")


class FiscalIn(In):
    """What the fiscal register registered for the receipt."""

    document_number: int = Field(ge=1, le=2**32, description="fiscal document number")
    fiscal_sign: str = Field(min_length=1, max_length=64, description="fiscal sign of the document")
    registered_at: AwareDatetime = Field(description="as the register recorded it")
    shift_number: int | None = Field(default=None, ge=0, le=2**32)
    receipt_number: int | None = Field(default=None, ge=0, le=2**32, description="in its shift")
    storage_serial: str | None = Field(default=None, max_length=32, description="fiscal storage")
    register_serial: str | None = Field(default=None, max_length=32)
    qr: str | None = Field(default=None, max_length=512, description="the QR code's text")


class JobDoneIn(In):
    fiscal: FiscalIn | None = Field(default=None, description="absent when only printed")
    note: str | None = Field(default=None, max_length=500, description="e.g. which printer")


class JobFailedIn(In):
    error: str = Field(min_length=1, max_length=500, description="what went wrong, for people")
    code: str | None = Field(
        default=None,
        max_length=64,
        pattern=r"^[a-z0-9_.-]+$",
        description="the driver's machine-readable reason, e.g. `paper_out`",
    )

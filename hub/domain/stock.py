"""Stock rules in plain Python: which batches a consumption takes, and how a return
goes back to them.

Batches are consumed FEFO when they carry an expiry date (earliest expiry first), then
FIFO (earliest received first) for those without one: goods that spoil leave first.
Expired batches are not sold unless the caller says so (a write-off takes them).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum

from hub.domain.errors import DomainError
from protocol.errors import ErrorCode

ZERO = Decimal("0.000")  # quantities carry three decimals


class MovementKind(StrEnum):
    RECEIPT = "receipt"
    SALE = "sale"
    RETURN = "return"
    ADJUSTMENT = "adjustment"
    WRITE_OFF = "write_off"
    TRANSFER_OUT = "transfer_out"
    TRANSFER_IN = "transfer_in"


class InsufficientStock(DomainError):
    code = ErrorCode.INSUFFICIENT_STOCK


@dataclass(frozen=True)
class BatchView:
    id: uuid.UUID
    remaining: Decimal
    expiry_date: date | None
    received_at: datetime

    def expired(self, today: date) -> bool:
        return self.expiry_date is not None and self.expiry_date < today


@dataclass(frozen=True)
class Portion:
    """Part of a consumption: `quantity` taken from `batch_id` (None: beyond every batch,
    which only negative stock allows)."""

    batch_id: uuid.UUID | None
    quantity: Decimal


def consumption_order(batches: Iterable[BatchView]) -> list[BatchView]:
    """FEFO for batches with an expiry, then FIFO; ties broken by id (time-ordered)."""
    return sorted(
        batches,
        key=lambda b: (b.expiry_date is None, b.expiry_date or date.max, b.received_at, b.id),
    )


def expired_quantity(batches: Iterable[BatchView], today: date) -> Decimal:
    """What lies in batches past their expiry: on hand, but not for sale."""
    return sum((b.remaining for b in batches if b.expired(today)), start=ZERO)


def allocate(
    batches: Sequence[BatchView],
    quantity: Decimal,
    *,
    today: date,
    include_expired: bool = False,
    allow_negative: bool = False,
) -> list[Portion]:
    """The portions a consumption of `quantity` takes, in consumption order.

    Without negative stock, asking for more than the usable batches hold raises
    InsufficientStock; with it, the shortfall is one portion without a batch."""
    if quantity <= 0:
        raise ValueError("a consumption is positive")
    portions = []
    left = quantity
    for batch in consumption_order(batches):
        if left == 0:
            break
        if batch.remaining <= 0 or (batch.expired(today) and not include_expired):
            continue
        take = min(batch.remaining, left)
        portions.append(Portion(batch.id, take))
        left -= take
    if left > 0:
        if not allow_negative:
            have = quantity - left
            raise InsufficientStock(
                f"only {have} available", fields={"quantity": f"only {have} available"}
            )
        portions.append(Portion(None, left))
    return portions


def allocate_return(
    consumed: Sequence[Portion],
    already_returned: dict[uuid.UUID | None, Decimal],
    quantity: Decimal,
) -> list[Portion]:
    """Where a return of `quantity` goes: back to the batches the sale took from, last
    taken first, never more to a batch than was taken from it less earlier returns."""
    if quantity <= 0:
        raise ValueError("a return is positive")
    open_by_batch: dict[uuid.UUID | None, Decimal] = {}
    order: list[uuid.UUID | None] = []
    for portion in consumed:
        if portion.batch_id not in open_by_batch:
            order.append(portion.batch_id)
            open_by_batch[portion.batch_id] = ZERO
        open_by_batch[portion.batch_id] += portion.quantity
    for batch_id, returned in already_returned.items():
        if batch_id in open_by_batch:
            open_by_batch[batch_id] -= returned
    portions = []
    left = quantity
    for batch_id in reversed(order):
        if left == 0:
            break
        take = min(open_by_batch[batch_id], left)
        if take > 0:
            portions.append(Portion(batch_id, take))
            left -= take
    if left > 0:
        returnable = quantity - left
        raise DomainError(
            f"only {returnable} can be returned",
            fields={"quantity": f"at most {returnable}"},
            code=ErrorCode.VALIDATION_ERROR,
        )
    return portions

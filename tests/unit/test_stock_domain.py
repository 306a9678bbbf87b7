"""Which batches a consumption takes, and where a return goes: FEFO, FIFO, expiry,
negative stock; properties over random batches."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hub.domain.errors import DomainError
from hub.domain.stock import (
    BatchView,
    InsufficientStock,
    Portion,
    allocate,
    allocate_return,
    consumption_order,
)

TODAY = date(2026, 11, 24)
D = Decimal


def batch(remaining: str, expiry: int | None = None, received: int = 0) -> BatchView:
    return BatchView(
        id=uuid.uuid4(),
        remaining=D(remaining),
        expiry_date=TODAY + timedelta(days=expiry) if expiry is not None else None,
        received_at=datetime(2026, 1, 1, tzinfo=UTC) + timedelta(days=received),
    )


def test_fefo_before_fifo() -> None:
    old_plain = batch("5", received=0)
    new_plain = batch("5", received=5)
    late = batch("5", expiry=30, received=1)
    soon = batch("5", expiry=3, received=2)
    order = consumption_order([new_plain, late, old_plain, soon])
    assert order == [soon, late, old_plain, new_plain]


def test_expired_batches_are_skipped_unless_asked() -> None:
    stale = batch("4", expiry=-1)
    fresh = batch("2", expiry=10)
    assert allocate([stale, fresh], D("2"), today=TODAY) == [Portion(fresh.id, D("2"))]
    with pytest.raises(InsufficientStock):
        allocate([stale, fresh], D("3"), today=TODAY)
    # A write-off takes the expired lot first.
    taken = allocate([stale, fresh], D("5"), today=TODAY, include_expired=True)
    assert taken == [Portion(stale.id, D("4")), Portion(fresh.id, D("1"))]
    # Expiring today is still sellable today.
    assert allocate([batch("1", expiry=0)], D("1"), today=TODAY)[0].quantity == D("1")


def test_negative_stock_takes_the_rest_without_a_batch() -> None:
    only = batch("2")
    assert allocate([only], D("5"), today=TODAY, allow_negative=True) == [
        Portion(only.id, D("2")),
        Portion(None, D("3")),
    ]


batches_strategy = st.lists(
    st.builds(
        batch,
        remaining=st.integers(0, 50).map(str),
        expiry=st.one_of(st.none(), st.integers(-5, 60)),
        received=st.integers(0, 100),
    ),
    max_size=8,
)


@given(batches_strategy, st.integers(1, 300))
def test_allocation_takes_exactly_what_was_asked_or_refuses(
    batches: list[BatchView], wanted: int
) -> None:
    usable = sum((b.remaining for b in batches if not b.expired(TODAY)), start=D(0))
    try:
        portions = allocate(batches, D(wanted), today=TODAY)
    except InsufficientStock:
        assert usable < wanted
        return
    assert sum(p.quantity for p in portions) == wanted
    by_id = {b.id: b for b in batches}
    for p in portions:
        assert p.batch_id is not None
        assert 0 < p.quantity <= by_id[p.batch_id].remaining
        assert not by_id[p.batch_id].expired(TODAY)
    # Every batch before the last one used is emptied (order respected).
    used = [by_id[p.batch_id] for p in portions if p.batch_id]
    assert all(p.quantity == by_id[p.batch_id].remaining for p in portions[:-1] if p.batch_id)
    assert used == consumption_order(used)


@given(batches_strategy, st.integers(1, 100), st.lists(st.integers(1, 40), max_size=6))
def test_returns_never_exceed_what_was_sold(
    batches: list[BatchView], sold: int, returns: list[int]
) -> None:
    consumed = allocate(batches, D(sold), today=TODAY, allow_negative=True)
    returned: dict[uuid.UUID | None, Decimal] = {}
    total = D(0)
    for quantity in returns:
        try:
            back = allocate_return(consumed, returned, D(quantity))
        except DomainError:
            assert total + quantity > sold
            continue
        for p in back:
            returned[p.batch_id] = returned.get(p.batch_id, D(0)) + p.quantity
        total += quantity
        assert total <= sold
    taken_per_batch: dict[uuid.UUID | None, Decimal] = {}
    for p in consumed:
        taken_per_batch[p.batch_id] = taken_per_batch.get(p.batch_id, D(0)) + p.quantity
    for batch_id, amount in returned.items():
        assert amount <= taken_per_batch[batch_id]

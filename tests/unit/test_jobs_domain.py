"""Edge-agent jobs: the done / failed / retry transitions, and VAT contained in a price."""

from __future__ import annotations

import uuid
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hub.domain.jobs import JobFinished, JobKind, JobStatus, accepts_report, accepts_retry, route
from hub.domain.pricing import included_vat
from protocol.errors import ErrorCode

D = Decimal
PENDING, DONE, FAILED = JobStatus.PENDING, JobStatus.DONE, JobStatus.FAILED


@pytest.mark.parametrize("outcome", [DONE, FAILED])
def test_a_pending_job_takes_either_outcome(outcome: JobStatus) -> None:
    assert accepts_report(PENDING, outcome, None, {"note": "x"}) is True


@pytest.mark.parametrize("outcome", [DONE, FAILED])
def test_repeating_the_recorded_outcome_changes_nothing(outcome: JobStatus) -> None:
    result = {"fiscal": {"document_number": 7}}
    assert accepts_report(outcome, outcome, result, {"fiscal": {"document_number": 7}}) is False


@pytest.mark.parametrize(
    ("status", "outcome", "stored", "reported"),
    [
        (DONE, FAILED, {}, {"error": "paper out"}),
        (FAILED, DONE, {"error": "paper out"}, {}),
        (DONE, DONE, {"fiscal": {"document_number": 7}}, {"fiscal": {"document_number": 8}}),
        (FAILED, FAILED, {"error": "paper out"}, {"error": "cover open"}),
    ],
)
def test_contradicting_a_finished_job_is_refused(
    status: JobStatus, outcome: JobStatus, stored: object, reported: object
) -> None:
    with pytest.raises(JobFinished) as caught:
        accepts_report(status, outcome, stored, reported)
    assert caught.value.code is ErrorCode.JOB_FINISHED
    assert caught.value.fields == {"status": status.value}


def test_pending_is_not_an_outcome() -> None:
    with pytest.raises(ValueError, match="done or failed"):
        accepts_report(PENDING, PENDING, None, None)


def test_retry_requeues_a_failed_job_only() -> None:
    assert accepts_retry(FAILED) is True
    assert accepts_retry(PENDING) is False  # already queued: a repeated retry
    with pytest.raises(JobFinished):
        accepts_retry(DONE)


@pytest.mark.parametrize(
    ("total", "rate", "vat"),
    [
        ("120.00", "20", "20.00"),
        ("110.00", "10", "10.00"),
        ("100.00", "20", "16.67"),  # 16.666… half up
        ("161.82", "10", "14.71"),  # 14.7109…
        ("0.05", "20", "0.01"),  # 0.00833… half up
        ("0.02", "20", "0.00"),  # 0.00333…
        ("99.99", "0", "0.00"),
    ],
)
def test_included_vat(total: str, rate: str, vat: str) -> None:
    assert included_vat(D(total), D(rate)) == D(vat)


def test_a_negative_rate_is_refused() -> None:
    with pytest.raises(ValueError, match="0 or more"):
        included_vat(D("10.00"), D("-1"))


@given(
    cents=st.integers(min_value=0, max_value=10**11),
    rate=st.sampled_from([D("0"), D("5"), D("7"), D("10"), D("20"), D("22")]),
)
def test_vat_is_in_cents_and_never_more_than_the_net_price(cents: int, rate: Decimal) -> None:
    total = D(cents).scaleb(-2)
    vat = included_vat(total, rate)
    assert vat == vat.quantize(D("0.01"))
    assert D(0) <= vat <= total
    # Net + VAT is the price, and the VAT is the rate of the net to within a cent.
    assert abs(vat - (total - vat) * rate / 100) <= D("0.01") * (1 + rate / 100)


TILL_1, TILL_2 = str(uuid.uuid4()), str(uuid.uuid4())
A, B, C = sorted((uuid.uuid4() for _ in range(3)), key=str)


def device(kind: str, till: str | None = None) -> dict[str, str]:
    return {"name": kind, "kind": kind, "status": "online"} | (
        {} if till is None else {"cash_register": till}
    )


def test_a_tills_jobs_go_to_the_agent_bound_to_it_else_to_an_unbound_one() -> None:
    agents = {
        A: [device("printer"), device("fiscal")],  # the shop's default devices
        B: [device("printer", TILL_1), device("fiscal", TILL_1), device("scanner")],
        C: [device("scanner")],  # scans only: never a receipt
    }
    assert route(JobKind.RECEIPT, TILL_1, agents) == B
    assert route(JobKind.RECEIPT, TILL_2, agents) == A
    assert route(JobKind.RECEIPT, None, agents) == A
    assert route(JobKind.OPEN_DRAWER, TILL_1, agents) == B
    # Nobody announced a display: every agent hears of the job, as before announcements.
    assert route(JobKind.DISPLAY, TILL_1, agents) is None
    assert route(JobKind.DISPLAY, None, {**agents, C: [device("display")]}) == C


def test_of_several_agents_that_could_one_takes_the_job() -> None:
    both_unbound = {B: [device("printer")], A: [device("printer")]}
    assert route(JobKind.RECEIPT, TILL_1, both_unbound) == A  # the first by id
    both_bound = {C: [device("fiscal", TILL_1)], B: [device("printer", TILL_1)]}
    assert route(JobKind.RECEIPT, TILL_1, both_bound) == B
    assert route(JobKind.RECEIPT, TILL_1, {}) is None
    assert route(JobKind.RECEIPT, TILL_1, {A: [], B: []}) is None  # never announced

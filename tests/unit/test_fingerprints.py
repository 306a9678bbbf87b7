"""Request fingerprints under an idempotency key: decimals by value, and digests written
before that still recognised."""

from __future__ import annotations

import hashlib
import json
import uuid
from decimal import Decimal

from hub.domain.fingerprints import by_value, digest
from hub.domain.pricing import Tender
from hub.domain.shifts import PaymentMethod
from hub.services.returns import ReturnItem, ReturnRequest
from hub.services.sales import SaleItem, SaleRequest

D = Decimal


def test_decimals_count_by_value() -> None:
    assert by_value(D("20.00")) == by_value(D("20")) == by_value(D("2E+1")) == "20"
    assert by_value(D("0.10")) == "0.1"
    assert by_value(D("1.500")) == "1.5"
    assert by_value(None) == "None"
    assert by_value(uuid.UUID(int=1)) == str(uuid.UUID(int=1))
    assert digest(["a", "20"]) == digest(["a", by_value(D("20.00"))])
    assert digest(["a", "20"]) != digest(["a", "2"])


def _sale(quantity: str, amount: str, method: PaymentMethod = PaymentMethod.CASH) -> SaleRequest:
    product = uuid.UUID(int=7)
    return SaleRequest(
        shift_id=uuid.UUID(int=3),
        items=(SaleItem(product, D(quantity), D("10.0"), None),),
        payments=(Tender(method, D(amount)),),
    )


def test_a_sale_written_with_other_zeros_is_the_same_sale() -> None:
    first = _sale("2", "20.00")
    assert first.matches(_sale("2.000", "20").digest())
    assert not first.matches(_sale("3", "20.00").digest())
    assert not first.matches(_sale("2", "20.00", PaymentMethod.CARD).digest())


def test_a_digest_written_before_decimals_counted_by_value_still_matches() -> None:
    """A sale committed by the previous release and retried after the upgrade."""
    request = _sale("2.000", "20.00")
    legacy = {
        "shift": str(request.shift_id),
        "items": [[str(uuid.UUID(int=7)), "2.000", "10.0", "None"]],
        "payments": [["cash", "20.00"]],
        "customer": "None",
        "discount": ["None", "None"],
    }
    stored = hashlib.sha256(json.dumps(legacy).encode()).hexdigest()
    assert stored != request.digest()
    assert request.matches(stored)
    assert not _sale("2", "20").matches(stored)  # then, "2" was another text


def test_a_return_written_with_other_zeros_is_the_same_return() -> None:
    def made(quantity: str) -> ReturnRequest:
        return ReturnRequest(uuid.UUID(int=1), (ReturnItem(uuid.UUID(int=2), D(quantity)),))

    assert made("1").matches(made("1.000").digest())
    assert not made("1").matches(made("2").digest())
    legacy = [str(uuid.UUID(int=1)), "None", f"{uuid.UUID(int=2)}:1.000"]
    assert made("1.000").matches(hashlib.sha256(json.dumps(legacy).encode()).hexdigest())

"""The group writer's plain parts: product entities made once per distinct row, and the
JSON its statements send."""

from __future__ import annotations

import json
import uuid
from decimal import Decimal

import pytest

from hub.adapters.db import cart_groups
from hub.adapters.db.cart_groups import json_text, product_of


def row(product_id: uuid.UUID, price: str, active: bool = True) -> tuple[object, ...]:
    return (product_id, "Milk", "M-1", "piece", Decimal(price), active, Decimal("20"), None)


def test_the_same_row_gives_the_same_entity_and_a_changed_row_a_new_one() -> None:
    milk = uuid.uuid4()
    first = product_of(row(milk, "1.50"))
    assert (first.id, first.name, first.price, first.is_active) == (
        milk,
        "Milk",
        Decimal("1.50"),
        True,
    )
    assert product_of(row(milk, "1.50")) is first
    repriced = product_of(row(milk, "1.75"))
    assert repriced is not first
    assert repriced.price == Decimal("1.75")
    assert first.price == Decimal("1.50")  # what an earlier group priced with is untouched
    withdrawn = product_of(row(milk, "1.75", active=False))
    assert withdrawn.is_active is False


def test_the_entities_kept_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cart_groups, "_PRODUCTS_MADE", {})
    monkeypatch.setattr(cart_groups, "_PRODUCTS_KEPT", 3)
    for _ in range(10):
        product_of(row(uuid.uuid4(), "2.00"))
        assert len(cart_groups._PRODUCTS_MADE) <= 3


def test_json_text_reads_back_as_the_standard_librarys() -> None:
    document = {
        "cart": str(uuid.uuid4()),
        "lines": [
            {"product": "p", "quantity": "2.000", "price": None, "name": "Хлеб «Бородинский»"}
        ],
        "version": 3,
        "flags": [True, False],
        7: "a key that is not a string",
        "empty": {},
    }
    assert json.loads(json_text(document)) == json.loads(json.dumps(document))

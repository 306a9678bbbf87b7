"""Sales history: every filter of `GET /api/sales/sales/` (shop, register, shift, cashier,
customer, payment method, period), alone and combined, in JSON and in the CSV and XLSX
downloads."""

from __future__ import annotations

import csv
import io
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx
import openpyxl
import pytest

from tests.e2e.test_sales import stocked
from tests.helpers import TenantKit, build_tenant, receive

SALES = "/api/sales/sales/"


async def open_till(
    client: httpx.AsyncClient, kit: TenantKit, role: str, shop: str | None = None
) -> tuple[str, str]:
    """(register, shift) of a new register with a shift opened by `role`."""
    register = await client.post(
        "/api/sales/cash-registers/",
        json={"name": f"Till {uuid.uuid4().hex[:6]}", "shop": shop or kit.shop_id},
        headers=kit.token("owner"),
    )
    assert register.status_code == 201, register.text
    shift = await client.post(
        "/api/sales/sessions/",
        json={"cash_register": register.json()["id"], "opening_cash": "100.00"},
        headers=kit.token(role),
    )
    assert shift.status_code == 201, shift.text
    return str(register.json()["id"]), str(shift.json()["id"])


async def new_customer(client: httpx.AsyncClient, kit: TenantKit, name: str) -> str:
    made = await client.post(
        "/api/customers/customers/",
        json={
            "name": name,
            "phone": f"+7916{uuid.uuid4().int % 10**7:07d}",
            "credit_limit": "1000.00",
        },
        headers=kit.token("owner"),
    )
    assert made.status_code == 201, made.text
    return str(made.json()["id"])


@dataclass
class History:
    kit: TenantKit
    registers: dict[str, str]
    shifts: dict[str, str]
    customers: dict[str, str]
    sales: dict[str, dict[str, Any]]  # s1..s5 as the API answered

    def ids(self, *names: str) -> set[str]:
        return {self.sales[n]["id"] for n in names}


async def make_history(client: httpx.AsyncClient) -> History:
    """Five sales: s1 cash and s2 card at the cashier's till A; s3 card + cash and s4 on
    credit at the manager's till B; s5 from the balance at the owner's till C in the
    second shop. Anna bought s2, s4 and s5."""
    kit = await build_tenant(client)
    tea = await stocked(client, kit, "10.00", "50")
    await receive(client, kit, tea, "10", shop=kit.second_shop_id)
    anna = await new_customer(client, kit, "Анна")
    top_up = await client.post(
        f"/api/customers/customers/{anna}/top-up/",
        json={"amount": "100.00"},
        headers=kit.token("owner"),
    )
    assert top_up.status_code == 200, top_up.text
    till_a = await open_till(client, kit, "cashier")
    till_b = await open_till(client, kit, "manager")
    till_c = await open_till(client, kit, "owner", shop=kit.second_shop_id)

    async def sell(
        role: str, shift: str, quantity: str, payments: list[dict[str, str]], **extra: str
    ) -> dict[str, Any]:
        made = await client.post(
            SALES,
            json={
                "session": shift,
                "items": [{"product": tea, "quantity": quantity}],
                "payments": payments,
                **extra,
            },
            headers=kit.token(role),
        )
        assert made.status_code == 201, made.text
        result: dict[str, Any] = made.json()
        return result

    sales = {
        "s1": await sell("cashier", till_a[1], "1", [{"method": "cash", "amount": "10.00"}]),
        "s2": await sell(
            "cashier", till_a[1], "2", [{"method": "card", "amount": "20.00"}], customer=anna
        ),
        "s3": await sell(
            "manager",
            till_b[1],
            "3",
            [{"method": "card", "amount": "5.00"}, {"method": "cash", "amount": "50.00"}],
        ),
        "s4": await sell(
            "manager", till_b[1], "4", [{"method": "credit", "amount": "40.00"}], customer=anna
        ),
        "s5": await sell(
            "owner", till_c[1], "5", [{"method": "balance", "amount": "50.00"}], customer=anna
        ),
    }
    return History(
        kit,
        {"a": till_a[0], "b": till_b[0], "c": till_c[0]},
        {"a": till_a[1], "b": till_b[1], "c": till_c[1]},
        {"anna": anna},
        sales,
    )


async def listed(
    client: httpx.AsyncClient, h: History, role: str = "owner", **params: str
) -> set[str]:
    response = await client.get(SALES, params=params, headers=h.kit.token(role))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["count"] == len(body["results"])
    return {s["id"] for s in body["results"]}


async def test_each_filter_alone_and_combined(client: httpx.AsyncClient) -> None:
    h = await make_history(client)
    kit = h.kit
    assert await listed(client, h) == h.ids("s1", "s2", "s3", "s4", "s5")
    by_method = {
        "cash": h.ids("s1", "s3"),
        "card": h.ids("s2", "s3"),
        "credit": h.ids("s4"),
        "balance": h.ids("s5"),
        "bonus": set(),
    }
    for method, expected in by_method.items():
        assert await listed(client, h, payment_method=method) == expected, method
    assert await listed(client, h, shop=kit.shop_id) == h.ids("s1", "s2", "s3", "s4")
    assert await listed(client, h, shop=kit.second_shop_id) == h.ids("s5")
    assert await listed(client, h, cash_register=h.registers["a"]) == h.ids("s1", "s2")
    assert await listed(client, h, cash_register=h.registers["c"]) == h.ids("s5")
    assert await listed(client, h, session=h.shifts["b"]) == h.ids("s3", "s4")
    assert await listed(client, h, cashier=kit.members["cashier"].id) == h.ids("s1", "s2")
    assert await listed(client, h, cashier=kit.members["manager"].id) == h.ids("s3", "s4")
    assert await listed(client, h, customer=h.customers["anna"]) == h.ids("s2", "s4", "s5")
    # Receipt numbers are per register: number 2 is s2 on till a and s4 on till b.
    assert await listed(client, h, number="2") == h.ids("s2", "s4")
    assert await listed(client, h, number="2", cash_register=h.registers["b"]) == h.ids("s4")
    # Filters combine with AND.
    assert await listed(
        client, h, payment_method="card", cashier=kit.members["manager"].id
    ) == h.ids("s3")
    assert await listed(client, h, payment_method="cash", customer=h.customers["anna"]) == set()
    assert await listed(
        client, h, customer=h.customers["anna"], shop=kit.shop_id, payment_method="credit"
    ) == h.ids("s4")
    # Staff see their own shops only, whatever they ask: a shop or a till that is not
    # theirs is none to them (404, as stock and analytics answer); other unknown ids
    # match nothing.
    assert await listed(client, h, customer=str(uuid.uuid4())) == set()
    for role, shop in (("cashier", kit.second_shop_id), ("owner", str(uuid.uuid4()))):
        refused = await client.get(SALES, params={"shop": shop}, headers=kit.token(role))
        assert refused.status_code == 404, refused.text
        assert refused.json()["error"]["fields"] == {"shop": "no such shop"}
    for role, till in (("cashier", h.registers["c"]), ("owner", str(uuid.uuid4()))):
        refused = await client.get(SALES, params={"cash_register": till}, headers=kit.token(role))
        assert refused.status_code == 404, refused.text
        assert list(refused.json()["error"]["fields"]) == ["cash_register"]
    assert await listed(client, h, "manager", payment_method="balance") == set()
    assert await listed(client, h, "cashier", payment_method="card") == h.ids("s2", "s3")


async def test_the_period(client: httpx.AsyncClient) -> None:
    h = await make_history(client)
    third = h.sales["s3"]["created_at"]
    assert await listed(client, h, date_from=third) == h.ids("s3", "s4", "s5")
    assert await listed(client, h, date_to=third) == h.ids("s1", "s2")  # until is exclusive
    assert await listed(
        client, h, date_from=h.sales["s2"]["created_at"], date_to=h.sales["s4"]["created_at"]
    ) == h.ids("s2", "s3")
    # Without an offset, or a bare date, a time is UTC.
    naive = datetime.fromisoformat(third).replace(tzinfo=None).isoformat()
    assert await listed(client, h, date_from=naive) == h.ids("s3", "s4", "s5")
    assert await listed(client, h, date_from="2000-01-01") == h.ids("s1", "s2", "s3", "s4", "s5")
    assert await listed(client, h, date_to="2000-01-01") == set()
    assert await listed(client, h, date_from="2999-12-31T00:00:00+03:00") == set()


@pytest.mark.parametrize(
    ("param", "value"),
    [
        ("payment_method", "cheque"),
        ("payment_method", "CARD"),
        ("payment_method", ""),
        ("cash_register", "till-1"),
        ("session", "1"),
        ("cashier", "me"),
        ("customer", "anna"),
        ("shop", "main"),
        ("date_from", "yesterday"),
        ("date_to", "2026-13-01"),
        ("format", "pdf"),
    ],
)
async def test_bad_filters_are_field_errors(
    client: httpx.AsyncClient, param: str, value: str
) -> None:
    kit = await build_tenant(client)
    for fmt in ("json", "csv"):
        params = {"format": fmt, param: value}
        response = await client.get(SALES, params=params, headers=kit.token("manager"))
        assert response.status_code == 400, (param, value, response.text)
        error = response.json()["error"]
        assert error["code"] == "validation_error"
        assert param in error["fields"]


async def test_filtered_downloads(client: httpx.AsyncClient) -> None:
    h = await make_history(client)
    card = await client.get(
        SALES, params={"payment_method": "card", "format": "csv"}, headers=h.kit.token("owner")
    )
    assert card.status_code == 200, card.text
    assert card.headers["content-type"].startswith("text/csv")
    assert "attachment" in card.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(card.content.decode("utf-8-sig"))))
    by_id = {r["id"]: r for r in rows}
    assert set(by_id) == h.ids("s2", "s3")
    s3 = by_id[h.sales["s3"]["id"]]
    assert (s3["total"], s3["card"], s3["cash"], s3["change"]) == (
        "30.00",
        "5.00",
        "25.00",
        "25.00",
    )
    assert (s3["cashier"], s3["cash_register"]) == (h.kit.members["manager"].id, h.registers["b"])
    s2 = by_id[h.sales["s2"]["id"]]
    assert (s2["total"], s2["card"], s2["customer"]) == ("20.00", "20.00", h.customers["anna"])

    anna = await client.get(
        SALES,
        params={"customer": h.customers["anna"], "format": "xlsx", "date_from": "2000-01-01"},
        headers=h.kit.token("owner"),
    )
    assert anna.status_code == 200, anna.text
    sheet = openpyxl.load_workbook(io.BytesIO(anna.content), read_only=True).worksheets[0]
    header, *lines = [list(r) for r in sheet.iter_rows(values_only=True)]
    table = [dict(zip(header, line, strict=True)) for line in lines]
    assert {r["id"] for r in table} == h.ids("s2", "s4", "s5")
    totals = {r["id"]: (r["total"], r["card"], r["credit"], r["balance"]) for r in table}
    assert totals == {
        h.sales["s2"]["id"]: (20, 20, 0, 0),
        h.sales["s4"]["id"]: (40, 0, 40, 0),
        h.sales["s5"]["id"]: (50, 0, 0, 50),
    }
    assert [r["number"] for r in table] == [1, 2, 2]  # s5, s4, s2: newest first
    # An empty match is a file with the header only.
    none = await client.get(
        SALES, params={"payment_method": "bonus", "format": "csv"}, headers=h.kit.token("owner")
    )
    assert none.content.decode("utf-8-sig").splitlines() == [",".join(header)]

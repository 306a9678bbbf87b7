"""Shift reports as files: the shift list and one shift's X- or Z-report as CSV and XLSX,
opened and checked figure by figure."""

from __future__ import annotations

import csv
import io
from datetime import datetime
from decimal import Decimal
from typing import Any

import httpx
import openpyxl

from tests.e2e.test_sales import stocked
from tests.e2e.test_sales_history import open_till
from tests.helpers import TenantKit, build_tenant

D = Decimal
SESSIONS = "/api/sales/sessions/"
METHODS = ("cash", "card", "credit", "bonus", "balance")


def csv_report(response: httpx.Response) -> dict[str, str]:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    assert "attachment" in response.headers["content-disposition"]
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert rows[0] == ["field", "value"]
    return dict(rows[1:])


def xlsx_rows(response: httpx.Response) -> list[list[Any]]:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/vnd.openxmlformats")
    book = openpyxl.load_workbook(io.BytesIO(response.content), read_only=True)
    return [list(row) for row in book.worksheets[0].iter_rows(values_only=True)]


async def busy_shift(client: httpx.AsyncClient, kit: TenantKit) -> tuple[str, str]:
    """(register, shift) of the cashier's shift: float 100.00; sales of 30.00 in cash
    (50.00 tendered), 20.00 by card and 9.00 in cash after a 10 % discount; 10.00 returned
    in cash; 15.00 in and 5.00 out."""
    tea = await stocked(client, kit, "10.00", "20")
    register, shift = await open_till(client, kit, "cashier")

    async def sell(quantity: str, method: str, amount: str, **line: str) -> str:
        made = await client.post(
            "/api/sales/sales/",
            json={
                "session": shift,
                "items": [{"product": tea, "quantity": quantity, **line}],
                "payments": [{"method": method, "amount": amount}],
            },
            headers=kit.token("cashier"),
        )
        assert made.status_code == 201, made.text
        return str(made.json()["id"])

    first = await sell("3", "cash", "50.00")
    await sell("2", "card", "20.00")
    await sell("1", "cash", "9.00", discount_percent="10")
    back = await client.post(
        "/api/sales/returns/",
        json={"sale": first, "items": [{"product": tea, "quantity": "1"}]},
        headers=kit.token("manager"),
    )
    assert back.status_code == 201, back.text
    for kind, amount in (("in", "15.00"), ("out", "5.00")):
        moved = await client.post(
            f"{SESSIONS}{shift}/cash/",
            json={"kind": kind, "amount": amount, "reason": "float"},
            headers=kit.token("cashier"),
        )
        assert moved.status_code == 200, moved.text
    return register, shift


EXPECTED = {
    "status": "open",
    "report": "x",
    "opening_cash": "100.00",
    "cash_in": "15.00",
    "cash_out": "5.00",
    "expected_cash": "139.00",  # 100 + (39 - 10) + 15 - 5
    "closing_cash": "",
    "difference": "",
    "receipts": "3",
    "returns": "1",
    "sales_total": "59.00",
    "returns_total": "10.00",
    "discounts_total": "1.00",
    "net_total": "49.00",
    "first_receipt": "1",
    "last_receipt": "3",
    "cash_sales": "39.00",
    "cash_refunds": "10.00",
    "cash_net": "29.00",
    "cash_count": "3",
    "card_sales": "20.00",
    "card_refunds": "0.00",
    "card_net": "20.00",
    "card_count": "1",
    "credit_net": "0.00",
    "bonus_count": "0",
    "balance_sales": "0.00",
}


async def test_an_x_then_a_z_report_as_files(client: httpx.AsyncClient) -> None:
    kit = await build_tenant(client)
    register, shift = await busy_shift(client, kit)
    x = csv_report(
        await client.get(f"{SESSIONS}{shift}/x-report/?format=csv", headers=kit.token("cashier"))
    )
    assert {k: x[k] for k in EXPECTED} == EXPECTED
    assert (x["id"], x["cash_register"], x["shop"]) == (shift, register, kit.shop_id)
    assert (x["cashier"], x["cashier_username"]) == (
        kit.members["cashier"].id,
        kit.members["cashier"].username,
    )
    assert x["cash_register_name"].startswith("Till ")
    assert datetime.fromisoformat(x["opened_at"]).tzinfo is not None
    # The file says what the JSON says.
    json_x = (await client.get(f"{SESSIONS}{shift}/x-report/", headers=kit.token("cashier"))).json()
    for field in ("expected_cash", "sales_total", "returns_total", "net_total", "receipts"):
        assert x[field] == str(json_x[field]), field
    for method in METHODS:
        for part in ("sales", "refunds", "net", "count"):
            assert x[f"{method}_{part}"] == str(json_x["payments"][method][part])

    closed = await client.post(
        f"{SESSIONS}{shift}/close/", json={"closing_cash": "140.00"}, headers=kit.token("cashier")
    )
    assert closed.status_code == 200, closed.text
    rows = xlsx_rows(
        await client.get(f"{SESSIONS}{shift}/?format=xlsx", headers=kit.token("manager"))
    )
    assert rows[0] == ["field", "value"]
    z = dict(rows[1:])
    assert (z["status"], z["report"]) == ("closed", "z")
    assert D(str(z["expected_cash"])) == D("139.00")
    assert (D(str(z["closing_cash"])), D(str(z["difference"]))) == (D("140.00"), D("1.00"))
    assert (z["receipts"], z["returns"], z["first_receipt"], z["last_receipt"]) == (3, 1, 1, 3)
    assert D(str(z["sales_total"])) == D("59.00")
    assert D(str(z["discounts_total"])) == D("1.00")
    assert (D(str(z["cash_net"])), D(str(z["card_sales"])), z["cash_count"]) == (
        D("29.00"),
        D("20.00"),
        3,
    )
    assert isinstance(z["closed_at"], datetime)
    # The same report, by either path, in either format.
    z_csv = csv_report(
        await client.get(f"{SESSIONS}{shift}/x-report/?format=csv", headers=kit.token("owner"))
    )
    assert (z_csv["report"], z_csv["difference"], z_csv["net_total"]) == ("z", "1.00", "49.00")


async def test_the_shift_list_as_files(client: httpx.AsyncClient) -> None:
    kit = await build_tenant(client)
    register, busy = await busy_shift(client, kit)
    other_register, quiet = await open_till(client, kit, "manager")
    await client.post(
        f"{SESSIONS}{busy}/close/", json={"closing_cash": "139.00"}, headers=kit.token("cashier")
    )
    listed = await client.get(SESSIONS, params={"format": "csv"}, headers=kit.token("owner"))
    assert listed.status_code == 200, listed.text
    rows = list(csv.DictReader(io.StringIO(listed.content.decode("utf-8-sig"))))
    assert [r["id"] for r in rows] == [quiet, busy]  # newest first
    by_id = {r["id"]: r for r in rows}
    assert by_id[busy]["status"] == "closed"
    assert (by_id[busy]["difference"], by_id[busy]["net_total"]) == ("0.00", "49.00")
    assert (by_id[busy]["cash_refunds"], by_id[busy]["card_net"]) == ("10.00", "20.00")
    assert (by_id[quiet]["status"], by_id[quiet]["receipts"]) == ("open", "0")
    assert (by_id[quiet]["cashier"], by_id[quiet]["expected_cash"]) == (
        kit.members["manager"].id,
        "100.00",
    )
    assert by_id[quiet]["first_receipt"] == ""

    # Filters apply to the file, and XLSX holds the same figures as numbers.
    mine = await client.get(
        SESSIONS,
        params={"format": "xlsx", "cashier": kit.members["cashier"].id},
        headers=kit.token("manager"),
    )
    header, *lines = xlsx_rows(mine)
    assert header[:3] == ["number", "id", "shop"]
    assert len(header) == 25 + 4 * len(METHODS)
    table = [dict(zip(header, line, strict=True)) for line in lines]
    assert [r["id"] for r in table] == [busy]
    assert table[0]["cash_register"] == register
    assert (table[0]["receipts"], table[0]["returns"]) == (3, 1)
    assert D(str(table[0]["sales_total"])) == D("59.00")
    assert D(str(table[0]["expected_cash"])) == D("139.00")
    open_only = await client.get(
        SESSIONS,
        params={"format": "csv", "status": "open", "cash_register": other_register},
        headers=kit.token("owner"),
    )
    assert [r["id"] for r in csv.DictReader(io.StringIO(open_only.text.lstrip("\ufeff")))] == [
        quiet
    ]
    nothing = await client.get(
        SESSIONS, params={"format": "csv", "date_from": "2999-01-01"}, headers=kit.token("owner")
    )
    assert nothing.content.decode("utf-8-sig").splitlines() == [",".join(header)]
    bad = await client.get(SESSIONS, params={"format": "pdf"}, headers=kit.token("owner"))
    assert bad.status_code == 400
    assert "format" in bad.json()["error"]["fields"]


async def test_downloads_keep_to_ones_shops(client: httpx.AsyncClient) -> None:
    kit = await build_tenant(client)
    _, far = await open_till(client, kit, "owner", shop=kit.second_shop_id)
    for role in ("manager", "cashier"):
        listed = await client.get(SESSIONS, params={"format": "csv"}, headers=kit.token(role))
        assert listed.content.decode("utf-8-sig").count("\n") == 1  # the header only
        report = await client.get(f"{SESSIONS}{far}/?format=csv", headers=kit.token(role))
        assert report.status_code == 404
    owner = csv_report(await client.get(f"{SESSIONS}{far}/?format=csv", headers=kit.token("owner")))
    assert owner["shop"] == kit.second_shop_id
    # A cashier downloads no X-report of someone else's shift, as in JSON.
    theirs = await client.get(
        f"{SESSIONS}{far}/x-report/?format=xlsx", headers=kit.token("cashier")
    )
    assert theirs.status_code == 404

"""A customer's statement: opening values, movements, closing values, as JSON, CSV and
XLSX (read back with openpyxl)."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import httpx
from openpyxl import load_workbook

from hub.adapters.db.types import utcnow
from hub.adapters.db.uow import UnitOfWork
from hub.services import customer_accounts
from tests.helpers import TenantKit, build_tenant

CUSTOMERS = "/api/customers/customers/"
HEADERS = [
    "time",
    "kind",
    "account",
    "amount",
    "balance",
    "debt",
    "bonus",
    "sale",
    "return",
    "reference",
    "note",
]


def today() -> date:
    return utcnow().astimezone(ZoneInfo("Europe/Moscow")).date()


async def history(client: httpx.AsyncClient, kit: TenantKit) -> tuple[str, uuid.UUID]:
    """40 days ago: 250.00 on credit; today: top-up 100, repayment 50.50."""
    owner = kit.token("owner")
    created = await client.post(
        CUSTOMERS,
        json={"name": "Мария", "phone": "+79161112233", "credit_limit": "1000"},
        headers=owner,
    )
    customer = created.json()["id"]
    sale = uuid.uuid4()
    db = client.app.state.deps.db  # type: ignore[attr-defined]
    async with UnitOfWork(db, uuid.UUID(kit.tenant_id), write=True) as uow:
        await customer_accounts.charge_credit(
            uow,
            uuid.UUID(customer),
            Decimal("250"),
            sale,
            None,
            now=utcnow() - timedelta(days=40),
        )
        await uow.commit()
    path = f"{CUSTOMERS}{customer}/"
    await client.post(path + "top-up/", json={"amount": "100", "note": "=cash"}, headers=owner)
    await client.post(path + "repay/", json={"amount": "50.50", "reference": "PP-1"}, headers=owner)
    return customer, sale


async def statement(
    client: httpx.AsyncClient, kit: TenantKit, customer: str, **query: Any
) -> httpx.Response:
    response = await client.get(
        f"{CUSTOMERS}{customer}/statement/", params=query, headers=kit.token("cashier")
    )
    assert response.status_code == 200, response.text
    return response


async def test_statement_json(client: httpx.AsyncClient) -> None:
    kit = await build_tenant(client, timezone="Europe/Moscow")
    customer, sale = await history(client, kit)
    week = today() - timedelta(days=7)
    body = (await statement(client, kit, customer, date_from=str(week))).json()
    assert (body["date_from"], body["date_to"]) == (str(week), str(today()))
    assert body["timezone"] == "Europe/Moscow"
    assert body["opening"] == {"balance": "0.00", "debt": "250.00", "bonus": "0.00"}
    assert [(m["kind"], m["amount"]) for m in body["movements"]] == [
        ("top_up", "100.00"),
        ("repayment", "-50.50"),
    ]
    assert body["closing"] == {"balance": "100.00", "debt": "199.50", "bonus": "0.00"}

    everything = (
        await statement(client, kit, customer, date_from=str(today() - timedelta(days=60)))
    ).json()
    assert everything["opening"] == {"balance": "0.00", "debt": "0.00", "bonus": "0.00"}
    assert everything["movements"][0]["sale"] == str(sale)
    assert len(everything["movements"]) == 3

    before = (
        await statement(
            client,
            kit,
            customer,
            date_from=str(today() - timedelta(days=60)),
            date_to=str(today() - timedelta(days=30)),
        )
    ).json()
    assert [m["kind"] for m in before["movements"]] == ["credit_charge"]
    assert before["closing"] == {"balance": "0.00", "debt": "250.00", "bonus": "0.00"}

    default = (await statement(client, kit, customer)).json()
    assert default["date_from"] == str(today().replace(day=1))

    bad = await client.get(
        f"{CUSTOMERS}{customer}/statement/?date_from={today()}&date_to={week}",
        headers=kit.token("owner"),
    )
    assert bad.status_code == 400
    unknown = await client.get(f"{CUSTOMERS}{uuid.uuid4()}/statement/", headers=kit.token("owner"))
    assert unknown.status_code == 404
    no_format = await client.get(
        f"{CUSTOMERS}{customer}/statement/?format=pdf", headers=kit.token("owner")
    )
    assert no_format.status_code == 400


async def test_statement_csv(client: httpx.AsyncClient) -> None:
    kit = await build_tenant(client, timezone="Europe/Moscow")
    customer, _ = await history(client, kit)
    week = today() - timedelta(days=7)
    response = await statement(client, kit, customer, date_from=str(week), format="csv")
    assert response.headers["content-type"].startswith("text/csv")
    disposition = response.headers["content-disposition"]
    assert disposition.startswith(f'attachment; filename="statement-{week}-{today()}-')
    assert disposition.endswith('.csv"')
    text = response.content.decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == HEADERS
    assert rows[1][:7] == [str(week), "opening", "", "", "0.00", "250.00", "0.00"]
    assert rows[2][1:7] == ["top_up", "balance", "100.00", "100.00", "250.00", "0.00"]
    assert rows[2][10] == "'=cash"  # user text that looks like a formula stays text
    assert rows[3][1:7] == ["repayment", "debt", "-50.50", "100.00", "199.50", "0.00"]
    assert rows[3][9] == "PP-1"
    assert rows[4][:7] == [str(today()), "closing", "", "", "100.00", "199.50", "0.00"]
    moment = datetime.fromisoformat(rows[2][0])
    assert moment.tzinfo is None  # local time of the tenant
    assert abs(moment - utcnow().astimezone(ZoneInfo("Europe/Moscow")).replace(tzinfo=None)) < (
        timedelta(minutes=5)
    )


async def test_statement_xlsx(client: httpx.AsyncClient) -> None:
    kit = await build_tenant(client, timezone="Europe/Moscow")
    customer, sale = await history(client, kit)
    start = today() - timedelta(days=60)
    response = await statement(client, kit, customer, date_from=str(start), format="xlsx")
    assert response.headers["content-type"] == (
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    )
    workbook = load_workbook(io.BytesIO(response.content), read_only=True)
    try:
        rows = list(workbook.worksheets[0].iter_rows(values_only=True))
    finally:
        workbook.close()
    assert list(rows[0]) == HEADERS
    assert rows[1][1] == "opening"
    assert [Decimal(str(v)) for v in rows[1][4:7]] == [0, 0, 0]
    kinds = [(r[1], Decimal(str(r[3]))) for r in rows[2:-1]]
    assert kinds == [
        ("credit_charge", Decimal("250")),
        ("top_up", Decimal("100")),
        ("repayment", Decimal("-50.5")),
    ]
    assert rows[2][7] == str(sale)
    assert isinstance(rows[2][0], datetime)
    closing = rows[-1]
    assert closing[1] == "closing"
    assert [Decimal(str(v)) for v in closing[4:7]] == [Decimal("100"), Decimal("199.5"), 0]

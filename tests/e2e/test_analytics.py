"""Analytics over HTTP: the pilot's daily report (current to the last sale, closed by the
worker after the day), top products net of returns, slow movers, RFM with its segments
and the at-risk list, stock snapshots; every report as CSV and XLSX."""

from __future__ import annotations

import io
import uuid
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import openpyxl
import pytest
from sqlalchemy import update

from hub.adapters.db.sales_tables import Sale
from hub.adapters.db.uow import UnitOfWork
from hub.analytics_worker import AnalyticsWorker
from hub.services import analytics
from tests import services
from tests.e2e.test_device_jobs import open_shift
from tests.helpers import TenantKit, build_tenant, create_product, receive, unique

store = services.stores_with_clusters()

D = Decimal
DAILY = "/api/analytics/daily/"


async def sell(
    client: httpx.AsyncClient,
    kit: TenantKit,
    shift: str,
    items: list[tuple[str, str]],
    payments: list[tuple[str, str]],
    **fields: Any,
) -> dict[str, Any]:
    response = await client.post(
        "/api/sales/sales/",
        json={
            "session": shift,
            "items": [{"product": p, "quantity": q} for p, q in items],
            "payments": [{"method": m, "amount": a} for m, a in payments],
            **fields,
        },
        headers=kit.token("cashier") | {"Idempotency-Key": uuid.uuid4().hex},
    )
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


async def give_back(
    client: httpx.AsyncClient, kit: TenantKit, sale: str, product: str, quantity: str
) -> dict[str, Any]:
    response = await client.post(
        "/api/sales/returns/",
        json={"sale": sale, "items": [{"product": product, "quantity": quantity}]},
        headers=kit.token("manager") | {"Idempotency-Key": uuid.uuid4().hex},
    )
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


async def stocked(
    client: httpx.AsyncClient, kit: TenantKit, name: str, price: str, cost: str, qty: str
) -> str:
    product = await create_product(client, kit, name=name, price=price, cost=cost)
    await receive(client, kit, product["id"], qty, cost=cost)
    return str(product["id"])


class TenantPass:
    """The analytics worker's pass over one tenant (the PostgreSQL store is shared by the
    tests' tenants; the worker's own loop covers them all)."""

    def __init__(self, client: httpx.AsyncClient, kit: TenantKit) -> None:
        self._worker = AnalyticsWorker(client.app.state.deps.db, every_seconds=3600)  # type: ignore[attr-defined]
        self._tenant = uuid.UUID(kit.tenant_id)

    async def run_once(self, now: datetime | None = None) -> dict[str, int]:
        return await self._worker.run_tenant(self._tenant, now)


def worker(client: httpx.AsyncClient, kit: TenantKit) -> TenantPass:
    return TenantPass(client, kit)


async def a_day_of_trading(client: httpx.AsyncClient, kit: TenantKit) -> dict[str, str]:
    """Tea 3 x 10.00 (cost 4.00), coffee 1 x 25.00 (cost 15.00), one tea back."""
    tea = await stocked(client, kit, "Tea", "10.00", "4.00", "20")
    coffee = await stocked(client, kit, "Coffee", "25.00", "15.00", "5")
    shift = await open_shift(client, kit)
    first = await sell(client, kit, shift, [(tea, "2")], [("cash", "50.00")])
    assert first["change"] == "30.00"
    await sell(
        client, kit, shift, [(tea, "1"), (coffee, "1")], [("card", "20.00"), ("cash", "15.00")]
    )
    await give_back(client, kit, first["id"], tea, "1")
    return {"tea": tea, "coffee": coffee, "shift": shift, "first": first["id"]}


async def test_the_daily_report_is_current_then_closed(client: httpx.AsyncClient) -> None:
    kit = await build_tenant(client)
    await a_day_of_trading(client, kit)
    response = await client.get(DAILY, params={"shop": kit.shop_id}, headers=kit.token("manager"))
    assert response.status_code == 200, response.text
    day = response.json()
    assert (day["status"], day["closed_at"], day["date"]) == (
        "open",
        None,
        datetime.now(UTC).date().isoformat(),
    )
    assert (day["receipts"], day["revenue"], day["average_ticket"]) == (2, "55.00", "27.50")
    assert day["returns"] == {"count": 1, "total": "10.00"}
    assert day["net_revenue"] == "45.00"
    # Cost: 3 tea x 4 + 1 coffee x 15 = 27, less the returned tea's 4.
    assert (day["cost"], day["gross_margin"], day["margin_percent"]) == ("23.00", "22.00", "48.89")
    assert day["payments"] == {
        "card": {"sales": "20.00", "refunds": "0.00", "net": "20.00"},
        "cash": {"sales": "35.00", "refunds": "10.00", "net": "25.00"},
    }
    assert sum(h["receipts"] for h in day["by_hour"]) == 2
    assert len(day["by_hour"]) == 24
    assert day["by_hour"][datetime.now(UTC).hour]["revenue"] == "55.00"  # the shop is in UTC

    # The worker closes ended days only: today stays open.
    first = await worker(client, kit).run_once()
    assert first["days_closed"] == 0
    assert first["snapshots"] >= 1
    # Just after midnight (the first shop is in UTC) its day is not closed yet: a last
    # sale may still be committing.
    midnight = datetime.combine(datetime.now(UTC).date() + timedelta(days=1), time(), UTC)
    await worker(client, kit).run_once(midnight + timedelta(minutes=5))
    waiting = await client.get(
        DAILY, params={"shop": kit.shop_id, "date": day["date"]}, headers=kit.token("owner")
    )
    assert waiting.json()["status"] == "open"
    # Tomorrow, today is closed and stored; a second pass closes nothing again.
    tomorrow = datetime.now(UTC) + timedelta(days=1)
    assert (await worker(client, kit).run_once(tomorrow))["days_closed"] >= 1
    assert (await worker(client, kit).run_once(tomorrow))["days_closed"] == 0
    closed = await client.get(
        DAILY, params={"shop": kit.shop_id, "date": day["date"]}, headers=kit.token("owner")
    )
    assert closed.json()["status"] == "closed"
    assert {k: v for k, v in closed.json().items() if k not in ("status", "closed_at")} == {
        k: v for k, v in day.items() if k not in ("status", "closed_at")
    }


async def test_reports_download_as_csv_and_xlsx(client: httpx.AsyncClient) -> None:
    kit = await build_tenant(client)
    await a_day_of_trading(client, kit)
    params = {"shop": kit.shop_id, "format": "csv"}
    csv = await client.get(DAILY, params=params, headers=kit.token("manager"))
    header, row = csv.text.lstrip("\ufeff").splitlines()
    assert header.split(",")[:4] == ["date", "status", "receipts", "revenue"]
    assert header.endswith("net_card,net_cash")
    assert row.split(",")[2:4] == ["2", "55.00"]
    xlsx = await client.get(
        "/api/analytics/top-products/", params={"format": "xlsx"}, headers=kit.token("manager")
    )
    sheet = openpyxl.load_workbook(io.BytesIO(xlsx.content)).active
    assert sheet is not None
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][:3] == ("product", "name", "units")
    assert [r[1] for r in rows[1:]] == ["Coffee", "Tea"]


async def test_top_products_are_net_of_returns(client: httpx.AsyncClient) -> None:
    kit = await build_tenant(client)
    await a_day_of_trading(client, kit)
    path = "/api/analytics/top-products/"
    by_revenue = (await client.get(path, headers=kit.token("manager"))).json()["results"]
    assert [(p["name"], p["units"], p["revenue"], p["cost"], p["margin"]) for p in by_revenue] == [
        ("Coffee", "1.000", "25.00", "15.00", "10.00"),
        ("Tea", "2.000", "20.00", "8.00", "12.00"),
    ]
    by_margin = await client.get(path, params={"order_by": "margin"}, headers=kit.token("manager"))
    assert [p["name"] for p in by_margin.json()["results"]] == ["Tea", "Coffee"]
    assert by_margin.json()["results"][0]["margin_percent"] == "60.00"
    top_one = await client.get(
        path,
        params={"order_by": "units", "limit": 1, "shop": kit.shop_id},
        headers=kit.token("owner"),
    )
    assert [p["name"] for p in top_one.json()["results"]] == ["Tea"]
    # A period before any sale is empty.
    empty = await client.get(
        path,
        params={"date_from": "2020-01-01", "date_to": "2020-01-31"},
        headers=kit.token("manager"),
    )
    assert empty.json()["results"] == []
    bad = await client.get(path, params={"order_by": "luck"}, headers=kit.token("manager"))
    assert bad.status_code == 400


async def test_slow_movers_are_in_stock_and_unsold(client: httpx.AsyncClient) -> None:
    kit = await build_tenant(client)
    trade = await a_day_of_trading(client, kit)
    dusty = await stocked(client, kit, "Dusty jar", "3.00", "1.00", "7")
    response = await client.get(
        "/api/analytics/slow-movers/",
        params={"shop": kit.shop_id, "days": 30},
        headers=kit.token("manager"),
    )
    results = response.json()["results"]
    assert [(r["product"], r["on_hand"], r["last_sold_at"]) for r in results] == [
        (dusty, "7.000", None)
    ]
    # With a window of 0 days everything in stock counts: the sold ones after the unsold.
    everything = await client.get(
        "/api/analytics/slow-movers/",
        params={"shop": kit.shop_id, "days": 1},
        headers=kit.token("manager"),
    )
    assert everything.json()["results"][0]["product"] == dusty
    assert trade["tea"] not in [r["product"] for r in results]


async def _customer(client: httpx.AsyncClient, kit: TenantKit, name: str) -> str:
    response = await client.post(
        "/api/customers/customers/",
        json={"name": name, "phone": f"+7916{uuid.uuid4().int % 10**7:07d}"},
        headers=kit.token("owner"),
    )
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def _backdate(client: httpx.AsyncClient, kit: TenantKit, sale_id: str, days: int) -> None:
    db = client.app.state.deps.db  # type: ignore[attr-defined]
    async with UnitOfWork(db, uuid.UUID(kit.tenant_id), write=True) as uow:
        await uow.session.execute(
            update(Sale)
            .where(Sale.id == uuid.UUID(sale_id))
            .values(created_at=datetime.now(UTC) - timedelta(days=days))
        )
        await uow.commit()


async def test_rfm_segments_and_the_at_risk_list(client: httpx.AsyncClient) -> None:
    kit = await build_tenant(client)
    tea = await stocked(client, kit, "Tea", "10.00", "4.00", "500")
    shift = await open_shift(client, kit)
    # (name, purchases: (days ago, quantity))
    plan = {
        "Champion Ann": [(1, "9"), (2, "9"), (3, "9"), (5, "9"), (6, "9")],
        "Faded Boris": [(200, "9"), (210, "9"), (220, "9"), (230, "9"), (240, "9")],
        "New Vera": [(0, "1")],
        "Lost Oleg": [(300, "1")],
        "Middle Ivan": [(30, "2"), (60, "2")],
    }
    ids = {}
    for name, purchases in plan.items():
        ids[name] = await _customer(client, kit, name)
        for days, quantity in purchases:
            total = str(D(quantity) * 10)
            sale = await sell(
                client, kit, shift, [(tea, quantity)], [("card", total)], customer=ids[name]
            )
            if days:
                await _backdate(client, kit, sale["id"], days)

    response = await client.get("/api/analytics/rfm/", headers=kit.token("manager"))
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body["segments"]) == {
        "champions",
        "loyal",
        "potential_loyalist",
        "new",
        "promising",
        "need_attention",
        "about_to_sleep",
        "at_risk",
        "cant_lose_them",
        "hibernating",
        "lost",
    }
    assert sum(body["segments"].values()) == 5
    by_name = {r["name"]: r for r in body["results"]}
    assert by_name["Champion Ann"]["segment"] == "champions"
    assert by_name["Champion Ann"]["segment_label"] == "Champions"
    assert (by_name["Champion Ann"]["orders"], by_name["Champion Ann"]["spent"]) == (5, "450.00")
    assert by_name["Faded Boris"]["segment"] in ("cant_lose_them", "at_risk")
    assert by_name["Lost Oleg"]["segment"] == "lost"
    assert by_name["New Vera"]["r"] == 5
    assert body["results"][0]["name"] == "Champion Ann"  # the best first

    at_risk = await client.get("/api/analytics/at-risk/", headers=kit.token("manager"))
    assert at_risk.json()["results"][0]["name"] == "Faded Boris"
    assert "Champion Ann" not in [r["name"] for r in at_risk.json()["results"]]
    only_lost = await client.get(
        "/api/analytics/rfm/", params={"segment": "lost"}, headers=kit.token("manager")
    )
    assert [r["name"] for r in only_lost.json()["results"]] == ["Lost Oleg"]
    csv = await client.get(
        "/api/analytics/rfm/", params={"format": "csv"}, headers=kit.token("manager")
    )
    assert len(csv.text.strip().splitlines()) == 6


async def test_stock_snapshots_keep_the_day(client: httpx.AsyncClient) -> None:
    kit = await build_tenant(client)
    tea = await stocked(client, kit, "Tea", "10.00", "4.00", "20")
    await receive(client, kit, tea, "5", cost="4.50")
    await worker(client, kit).run_once()
    today = datetime.now(UTC).date().isoformat()
    response = await client.get(
        "/api/analytics/stock-snapshots/",
        params={"shop": kit.shop_id, "date": today},
        headers=kit.token("manager"),
    )
    assert [(r["name"], r["on_hand"], r["value"]) for r in response.json()["results"]] == [
        ("Tea", "25.000", "102.50")  # 20 x 4.00 + 5 x 4.50
    ]
    assert (response.json()["products"], response.json()["value"]) == (1, "102.50")
    # The second shop has nothing in stock: its day is recorded, empty.
    empty = await client.get(
        "/api/analytics/stock-snapshots/",
        params={"shop": kit.second_shop_id, "date": today},
        headers=kit.token("owner"),
    )
    assert (empty.json()["products"], empty.json()["results"]) == (0, [])
    missing = await client.get(
        "/api/analytics/stock-snapshots/",
        params={"shop": kit.shop_id, "date": "2020-01-01"},
        headers=kit.token("owner"),
    )
    assert missing.status_code == 404
    # A later pass the same day keeps the first snapshot.
    shift = await open_shift(client, kit)
    await sell(client, kit, shift, [(tea, "2")], [("card", "20.00")])
    assert (await worker(client, kit).run_once())["snapshots"] == 0
    again = await client.get(
        "/api/analytics/stock-snapshots/",
        params={"shop": kit.shop_id, "date": today},
        headers=kit.token("manager"),
    )
    assert again.json()["results"][0]["on_hand"] == "25.000"


async def test_reports_are_for_managers_of_the_shop(client: httpx.AsyncClient) -> None:
    kit = await build_tenant(client)
    for role in ("cashier", "stockkeeper"):
        refused = await client.get(DAILY, params={"shop": kit.shop_id}, headers=kit.token(role))
        assert refused.status_code == 403
    other = await build_tenant(client)
    foreign = await client.get(DAILY, params={"shop": other.shop_id}, headers=kit.token("owner"))
    assert foreign.status_code == 404
    future = (datetime.now(UTC).date() + timedelta(days=2)).isoformat()
    ahead = await client.get(
        DAILY, params={"shop": kit.shop_id, "date": future}, headers=kit.token("owner")
    )
    assert ahead.status_code == 400
    shop_name = unique("Elsewhere")
    made = await client.post(
        "/api/core/shops/", json={"name": shop_name}, headers=kit.token("owner")
    )
    # A manager bound to the first shop only does not see the new one's report.
    hidden = await client.get(
        DAILY, params={"shop": made.json()["id"]}, headers=kit.token("manager")
    )
    assert hidden.status_code == 404


async def test_rfm_is_rescored_once_a_day_and_only_when_customers_bought(
    client: httpx.AsyncClient,
) -> None:
    kit = await build_tenant(client)
    db = client.app.state.deps.db  # type: ignore[attr-defined]
    now = datetime.now(UTC)

    async def stale() -> bool:
        async with UnitOfWork(db, uuid.UUID(kit.tenant_id)) as uow:
            return await analytics.rfm_is_stale(uow, now)

    assert await stale() is False  # nobody to score: no pass rescores it
    tea = await stocked(client, kit, "Tea", "10.00", "4.00", "5")
    shift = await open_shift(client, kit)
    anna = await _customer(client, kit, "Anna")
    await sell(client, kit, shift, [(tea, "1")], [("card", "10.00")], customer=anna)
    assert await stale() is True
    assert (await worker(client, kit).run_once(now))["rfm_scored"] == 1
    assert await stale() is False
    assert (await worker(client, kit).run_once(now + timedelta(days=1)))["rfm_scored"] == 1


async def _stamp(
    client: httpx.AsyncClient, kit: TenantKit, table: Any, row: str, at: datetime
) -> None:
    db = client.app.state.deps.db  # type: ignore[attr-defined]
    async with UnitOfWork(db, uuid.UUID(kit.tenant_id), write=True) as uow:
        await uow.session.execute(
            update(table).where(table.id == uuid.UUID(row)).values(created_at=at)
        )
        await uow.commit()


async def _summed_in_full(client: httpx.AsyncClient, kit: TenantKit, day: str) -> dict[str, Any]:
    db = client.app.state.deps.db  # type: ignore[attr-defined]
    async with UnitOfWork(db, uuid.UUID(kit.tenant_id)) as uow:
        shop = await uow.shops.get(uuid.UUID(kit.shop_id))
        assert shop is not None
        figures = await analytics._figures(uow, shop, datetime.fromisoformat(day).date())
        return analytics.report_document(shop, datetime.fromisoformat(day).date(), figures, None)


async def test_todays_report_sums_its_settled_part_once(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A busy day is not summed from its first sale on every request: the part that
    lies over ten minutes back (whole quarter hours) is kept by the process, and only
    what came after it is read again. Noon in the shop, sales at 08:00 and 11:58."""
    kit = await build_tenant(client)
    trading = await a_day_of_trading(client, kit)
    zone = ZoneInfo(
        (await client.get(f"/api/core/shops/{kit.shop_id}/", headers=kit.token("owner"))).json()[
            "timezone"
        ]
    )
    today = datetime.now(zone).date()
    noon = datetime.combine(today, time(12), zone)
    monkeypatch.setattr(analytics, "utcnow", lambda: noon.astimezone(UTC))
    sales = await client.get(
        "/api/sales/sales/", params={"session": trading["shift"]}, headers=kit.token("owner")
    )
    first, second = sorted(sales.json()["results"], key=lambda s: s["number"])
    await _stamp(client, kit, Sale, first["id"], noon - timedelta(hours=4))  # settled
    await _stamp(client, kit, Sale, second["id"], noon - timedelta(minutes=2))  # not yet
    ask = {"shop": kit.shop_id, "date": today.isoformat()}

    report = (await client.get(DAILY, params=ask, headers=kit.token("manager"))).json()
    assert report == await _summed_in_full(client, kit, today.isoformat())
    assert report["receipts"] == 2
    assert report["by_hour"][8]["receipts"] == 1

    # A sale after the settled part is in the next report at once.
    third = await sell(client, kit, trading["shift"], [(trading["tea"], "1")], [("cash", "10.00")])
    await _stamp(client, kit, Sale, third["id"], noon - timedelta(minutes=1))
    report = (await client.get(DAILY, params=ask, headers=kit.token("manager"))).json()
    assert report["receipts"] == 3
    assert report == await _summed_in_full(client, kit, today.isoformat())
    # The settled part is not read again: a sale stamped into it now (which a real
    # sale cannot be) is in a full sum, not in the report the process keeps current.
    await _stamp(client, kit, Sale, third["id"], noon - timedelta(hours=3))
    report = (await client.get(DAILY, params=ask, headers=kit.token("manager"))).json()
    assert report["receipts"] == 2
    assert (await _summed_in_full(client, kit, today.isoformat()))["receipts"] == 3

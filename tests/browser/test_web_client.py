"""The web client in Chromium: a cashier sells at the till (barcode from a keyboard-wedge
scanner, cash with change, the receipt), a manager's dashboard follows sales and carts
live, staff get a task at once and report it with a photo, both languages, returns."""

from __future__ import annotations

import asyncio
import json
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
from playwright.async_api import Browser, Page, Route, expect

from protocol import channels
from tests.browser.conftest import new_page
from tests.conftest import LiveHub
from tests.e2e.ws_support import api, hub_client, tenant
from tests.helpers import PASSWORD, TenantKit, create_product, ean13, png_bytes, receive, set_pin


async def sign_in(page: Page, hub: LiveHub, kit: TenantKit, role: str) -> None:
    await page.goto(hub.http + "/")
    await page.fill("#username", kit.members[role].username)
    await page.fill("#password", PASSWORD)
    await page.click("#login-submit")
    await expect(page.locator("#logout")).to_be_visible()


async def shop_with_goods(http: httpx.AsyncClient, kit: TenantKit) -> dict[str, Any]:
    barcode = ean13()
    product = await create_product(
        http, kit, name="Milk 3.2%", price="89.90", cost="60.00", barcodes=[barcode]
    )
    await receive(http, kit, product["id"], "20")
    register = await http.post(
        "/api/sales/cash-registers/",
        json={"name": "Till 1", "shop": kit.shop_id},
        headers=kit.token("owner"),
    )
    assert register.status_code == 201, register.text
    return {"product": product["id"], "barcode": barcode, "register": register.json()["id"]}


async def open_till(page: Page, goods: dict[str, Any]) -> None:
    await page.click(f"[data-register='{goods['register']}']")
    await page.fill("#opening-cash", "100.00")
    await page.click("#open-shift")
    await expect(page.locator("#scan")).to_be_focused()


async def test_a_cashier_sells_with_a_scanner_and_cash_change(
    live_hub: LiveHub, browser: Browser
) -> None:
    kit = await tenant(live_hub)
    async with api(live_hub) as http:
        goods = await shop_with_goods(http, kit)
        page = await new_page(browser, tablet=True)
        await sign_in(page, live_hub, kit, "cashier")
        await open_till(page, goods)

        # A keyboard-wedge scanner types the code and Enter, wherever the focus is.
        await page.locator("body").click()
        await page.keyboard.type(goods["barcode"])
        await page.keyboard.press("Enter")
        line = page.locator(f"tr.line[data-product='{goods['product']}']")
        await expect(line.locator(".quantity")).to_have_text("1")
        await page.keyboard.type(goods["barcode"] + "\n")
        await expect(line.locator(".quantity")).to_have_text("2")
        await expect(page.locator("#to-pay")).to_have_text("179.80")
        await line.locator(".qty-plus").click()
        await expect(page.locator("#to-pay")).to_have_text("269.70")
        # Two scans in a row, the second typed while the first is on its way: both count.
        await page.keyboard.type(f"{goods['barcode']}\n{goods['barcode']}\n")
        await expect(line.locator(".quantity")).to_have_text("5")
        await line.locator(".qty-minus").click()
        await line.locator(".qty-minus").click()
        await expect(page.locator("#to-pay")).to_have_text("269.70")

        await page.click("#pay")
        await page.fill("#pay-cash", "300")
        await expect(page.locator("#change")).to_have_text("30.30")
        await page.fill("#pay-cash", "200")
        await expect(page.locator("#pay-confirm")).to_be_disabled()
        await page.fill("#pay-cash", "300")
        await page.click("#pay-confirm")
        await expect(page.locator("#receipt-total")).to_have_text("269.70")
        await expect(page.locator("#receipt-change")).to_have_text("30.30")
        await expect(page.locator("#receipt h1")).to_have_text("Receipt № 1")

        sales = await http.get(
            "/api/sales/sales/",
            params={"cash_register": goods["register"]},
            headers=kit.token("manager"),
        )
        (sale,) = sales.json()["results"]
        assert (sale["total"], sale["change"], sale["tendered_cash"]) == (
            "269.70",
            "30.30",
            "300.00",
        )
        stock = await http.get(
            "/api/products/stock/",
            params={"shop": kit.shop_id, "product": goods["product"]},
            headers=kit.token("owner"),
        )
        assert stock.json()["on_hand"] == "17.000"

        # The next customer gets a new, empty cart; a reload keeps the till's cart.
        await page.click("#new-sale")
        await expect(page.locator("#to-pay")).to_have_text("0.00")
        await page.keyboard.type(goods["barcode"] + "\n")
        await expect(page.locator("#to-pay")).to_have_text("89.90")
        await page.reload()
        await expect(page.locator("#to-pay")).to_have_text("89.90")
        # A 10 % receipt discount, typed with a comma as a Russian keyboard gives it.
        await page.click("#receipt-discount")
        await page.fill("#ask-value", "10,0")
        await page.click("#ask-ok")
        await expect(page.locator("#to-pay")).to_have_text("80.91")


async def test_search_by_name_and_a_customer_with_a_group_discount(
    live_hub: LiveHub, browser: Browser
) -> None:
    kit = await tenant(live_hub)
    async with api(live_hub) as http:
        goods = await shop_with_goods(http, kit)
        group = await http.post(
            "/api/customers/groups/",
            json={"name": "VIP", "discount_percent": "10"},
            headers=kit.token("owner"),
        )
        customer = await http.post(
            "/api/customers/customers/",
            json={"name": "Anna Petrova", "phone": "+79161234567", "group": group.json()["id"]},
            headers=kit.token("owner"),
        )
        page = await new_page(browser)
        await sign_in(page, live_hub, kit, "cashier")
        await open_till(page, goods)
        await page.fill("#scan", "milk")
        await page.press("#scan", "Enter")
        await page.click(f"#search-results [data-product='{goods['product']}']")
        await expect(page.locator("#to-pay")).to_have_text("89.90")
        await page.fill("#customer-phone", "1234567")
        await page.click("#customer-find")
        await page.click(f"[data-customer='{customer.json()['id']}']")
        await expect(page.locator("#customer-name")).to_have_text("Anna Petrova")
        await expect(page.locator("#to-pay")).to_have_text("80.91")  # VIP 10 %
        await page.click("#pay")
        await page.click("#all-card")
        await page.click("#pay-confirm")
        await expect(page.locator("#receipt-total")).to_have_text("80.91")


async def test_the_dashboard_follows_sales_and_carts_live(
    live_hub: LiveHub, browser: Browser
) -> None:
    kit = await tenant(live_hub)
    t = uuid.UUID(kit.tenant_id)
    async with api(live_hub) as http:
        goods = await shop_with_goods(http, kit)
        shift = await http.post(
            "/api/sales/sessions/",
            json={"cash_register": goods["register"], "opening_cash": "0"},
            headers=kit.token("cashier"),
        )
        page = await new_page(browser)
        await sign_in(page, live_hub, kit, "manager")
        await expect(page.locator("#kpi-receipts .kpi-value")).to_have_text("0")
        await expect(page.locator("#live-carts")).to_contain_text("No till is building a cart")

        # A till builds a cart: the manager sees each line as it is scanned.
        async with hub_client(live_hub, kit.members["cashier"].token) as till:
            opened = await till.request("cart.open", {"session": shift.json()["id"]})
            cart = opened["cart"]
            added = await till.request(
                "cart.add",
                {"cart": cart["id"], "version": cart["version"], "barcode": goods["barcode"]},
            )
            live = page.locator(f"[data-cart='{cart['id']}']")
            await expect(live).to_contain_text("Milk 3.2%")
            await expect(live.locator(".cart-total")).to_have_text("89.90")
            await till.request(
                "cart.set_quantity",
                {
                    "cart": cart["id"],
                    "version": added["cart"]["version"],
                    "barcode": goods["barcode"],
                    "quantity": "3",
                },
            )
            await expect(live.locator(".cart-total")).to_have_text("269.70")
            paid = await till.request(
                "cart.pay",
                {
                    "cart": cart["id"],
                    "version": added["cart"]["version"] + 1,
                    "payments": [{"method": "card", "amount": "269.70"}],
                    "idempotency_key": uuid.uuid4().hex,
                },
            )
        # The sale lands in the feed and the KPIs, without a reload.
        feed = page.locator(f"#feed [data-sale='{paid['sale']['id']}']")
        await expect(feed).to_contain_text("269.70")
        await expect(feed).to_contain_text("Till 1")
        await expect(page.locator("#kpi-receipts .kpi-value")).to_have_text("1")
        await expect(page.locator("#kpi-revenue .kpi-value")).to_have_text("269.70")
        await expect(page.locator("#hourly rect.bar")).to_have_count(24)
        assert channels.sales(t, uuid.UUID(kit.shop_id)).name  # the channel the page follows


async def test_staff_get_a_task_at_once_and_report_it_with_a_photo(
    live_hub: LiveHub, browser: Browser, tmp_path: Any
) -> None:
    kit = await tenant(live_hub)
    async with api(live_hub) as http:
        page = await new_page(browser, tablet=True)
        await sign_in(page, live_hub, kit, "cashier")
        await page.click("[data-view='tasks']")
        await expect(page.locator("#tasks")).to_contain_text("No tasks")
        made = await http.post(
            "/api/tasks/tasks/",
            json={
                "title": "Face the dairy shelf",
                "shop": kit.shop_id,
                "assignee": kit.members["cashier"].id,
                "priority": "high",
                "requires_photo": True,
            },
            headers=kit.token("manager"),
        )
        task = made.json()
        # Pushed over the websocket: a toast and the list, no reload.
        await expect(page.locator(".toast")).to_contain_text("New task: Face the dairy shelf")
        await page.click(f"[data-task='{task['id']}']")
        await expect(page.locator("#task-status")).to_have_text("new")
        await page.click("#task-moves [data-status='in_progress']")
        await expect(page.locator("#task-status")).to_have_text("in progress")
        photo = tmp_path / "shelf.png"
        photo.write_bytes(png_bytes((200, 150)))
        await page.set_input_files("#task-photo", str(photo))
        await expect(page.locator("#task-photos img.thumb")).to_have_count(1)
        await page.fill("#task-comment", "all faced")
        await page.click("#task-moves [data-status='on_review']")
        await expect(page.locator("#task-status")).to_have_text("on review")

        stored = await http.get(f"/api/tasks/tasks/{task['id']}/", headers=kit.token("manager"))
        assert stored.json()["status"] == "on_review"
        assert len(stored.json()["photos"]) == 1
        assert stored.json()["comments"][-1]["body"] == "all faced"


async def test_a_manager_creates_a_task_for_a_role(live_hub: LiveHub, browser: Browser) -> None:
    kit = await tenant(live_hub)
    async with api(live_hub) as http:
        page = await new_page(browser)
        await sign_in(page, live_hub, kit, "manager")
        await page.click("[data-view='tasks']")
        await page.click("#new-task")
        await page.fill("#new-title", "Count the stock room")
        await page.select_option("#new-assignee", "role:stockkeeper")
        await page.select_option("#new-priority", "urgent")
        await page.click("#new-task-save")
        await expect(page.locator("#task-title")).to_have_text("Count the stock room")
        listed = await http.get(
            "/api/tasks/tasks/", params={"mine": "true"}, headers=kit.token("stockkeeper")
        )
        (task,) = listed.json()["results"]
        assert (task["assignee_role"], task["priority"]) == ("stockkeeper", "urgent")


async def test_russian_by_default_and_english_on_request(
    live_hub: LiveHub, browser: Browser
) -> None:
    kit = await tenant(live_hub)
    page = await new_page(browser, locale="ru-RU")
    await page.goto(live_hub.http + "/")
    await expect(page.locator("h1")).to_have_text("Вход")
    await page.fill("#username", kit.members["cashier"].username)
    await page.fill("#password", "wrong-password")
    await page.click("#login-submit")
    await expect(page.locator("#login-error")).to_have_text("Неверный логин или пароль")
    await page.select_option("#language", "en")
    await expect(page.locator("h1")).to_have_text("Sign in")
    await page.reload()
    await expect(page.locator("h1")).to_have_text("Sign in")  # the choice is kept


async def test_a_cashier_returns_goods_with_a_managers_pin(
    live_hub: LiveHub, browser: Browser
) -> None:
    kit = await tenant(live_hub)
    async with api(live_hub) as http:
        goods = await shop_with_goods(http, kit)
        assert (await set_pin(http, kit.token("manager"), "7391")).status_code == 200
        page = await new_page(browser)
        await sign_in(page, live_hub, kit, "cashier")
        await open_till(page, goods)
        await page.keyboard.type(goods["barcode"] + "\n")
        await page.keyboard.type(goods["barcode"] + "\n")
        await expect(page.locator("#to-pay")).to_have_text("179.80")
        await page.click("#pay")
        await page.click("#pay-confirm")  # exact cash
        await expect(page.locator("#receipt-change")).to_have_text("0.00")
        await page.click("#new-sale")

        await page.click("#return")
        await page.fill("#return-number", "1")
        await page.click("#return-find")
        await page.fill(".return-qty", "1")
        await page.fill("#return-pin", "0000")
        await page.click("#return-confirm")
        await expect(page.locator("dialog .error")).not_to_be_empty()
        await page.fill("#return-pin", "7391")
        await page.click("#return-confirm")
        await expect(page.locator(".toast").last).to_contain_text("89.90")
        returns = await http.get(
            "/api/sales/sales/", params={"number": 1}, headers=kit.token("manager")
        )
        assert returns.status_code == 200
        stock = await http.get(
            "/api/products/stock/",
            params={"shop": kit.shop_id, "product": goods["product"]},
            headers=kit.token("owner"),
        )
        assert stock.json()["on_hand"] == "19.000"


async def test_a_payment_is_for_the_cart_on_the_screen(live_hub: LiveHub, browser: Browser) -> None:
    kit = await tenant(live_hub)
    async with api(live_hub) as http:
        goods = await shop_with_goods(http, kit)
        page = await new_page(browser)
        await sign_in(page, live_hub, kit, "cashier")
        await open_till(page, goods)
        await page.keyboard.type(goods["barcode"] + "\n")
        await expect(page.locator("#to-pay")).to_have_text("89.90")

        # Card for part: the cash box follows what is left, so the change shown is true.
        await page.click("#pay")
        await page.fill("#pay-card", "50")
        await expect(page.locator("#pay-cash")).to_have_value("39.90")
        await expect(page.locator("#change")).to_have_text("0.00")

        # Meanwhile the till's scanner (another connection) adds a second unit.
        async with hub_client(live_hub, kit.members["cashier"].token) as scanner:
            opened = await scanner.request(
                "cart.open", {"session": (await current_shift(http, kit, goods))}
            )
            cart = opened["cart"]
            await scanner.request(
                "cart.add",
                {"cart": cart["id"], "version": cart["version"], "barcode": goods["barcode"]},
            )
        await page.click("#pay-confirm")
        await expect(page.locator(".toast")).to_contain_text("The cart changed while paying")
        await expect(page.locator("#to-pay")).to_have_text("179.80")
        sales = await http.get(
            "/api/sales/sales/",
            params={"cash_register": goods["register"]},
            headers=kit.token("manager"),
        )
        assert sales.json()["count"] == 0  # nothing was sold for the old total

        await page.click("#pay")
        await page.click("#all-card")
        await page.click("#pay-confirm")
        await expect(page.locator("#receipt-total")).to_have_text("179.80")


async def current_shift(http: httpx.AsyncClient, kit: TenantKit, goods: dict[str, Any]) -> str:
    shifts = await http.get(
        "/api/sales/sessions/",
        params={"cash_register": goods["register"], "status": "open"},
        headers=kit.token("cashier"),
    )
    return str(shifts.json()["results"][0]["id"])


async def test_a_stockkeeper_adds_a_product_and_receives_goods(
    live_hub: LiveHub, browser: Browser
) -> None:
    kit = await tenant(live_hub)
    async with api(live_hub) as http:
        page = await new_page(browser, tablet=True)
        await sign_in(page, live_hub, kit, "stockkeeper")  # lands on the goods
        await expect(page.locator("#stock-table")).to_contain_text("Nothing found")
        barcode = ean13()
        await page.click("#new-product")
        await page.fill("#product-name", "Oat milk 1 l")
        await page.fill("#product-price", "129,90")
        await page.fill("#product-cost", "80")
        await page.fill("#product-barcode", barcode)
        await page.click("#product-save")
        row = page.locator(".stock-row", has_text="Oat milk 1 l")
        await expect(row.locator(".on-hand")).to_have_text("0")

        await row.locator(".receive").click()
        await page.fill("#receive-quantity", "12")
        await page.fill("#receive-batch", "B-77")
        await page.fill("#receive-expiry", "2030-01-31")
        await page.click("#receive-confirm")
        await expect(row.locator(".on-hand")).to_have_text("12")
        await expect(row.locator(".available")).to_have_text("12")

        # A scanned barcode finds it too.
        await page.fill("#stock-search", barcode)
        await page.press("#stock-search", "Enter")
        await expect(page.locator(".stock-row")).to_have_count(1)

        found = await http.get(
            "/api/products/products/", params={"barcode": barcode}, headers=kit.token("owner")
        )
        (product,) = found.json()["results"]
        assert (product["price"], product["cost"]) == ("129.90", "80.00")
        batches = await http.get(
            "/api/products/batches/", params={"product": product["id"]}, headers=kit.token("owner")
        )
        (batch,) = batches.json()["results"]
        assert (batch["batch_number"], batch["expiry_date"], batch["remaining"]) == (
            "B-77",
            "2030-01-31",
            "12.000",
        )


async def test_a_cashier_registers_a_new_customer_at_the_till(
    live_hub: LiveHub, browser: Browser
) -> None:
    kit = await tenant(live_hub)
    async with api(live_hub) as http:
        goods = await shop_with_goods(http, kit)
        page = await new_page(browser, locale="ru-RU")
        await sign_in(page, live_hub, kit, "cashier")
        await open_till(page, goods)
        await page.fill("#customer-phone", "8 916 555-12-34")
        await page.click("#customer-find")
        await expect(page.locator("#customer-results")).to_contain_text("Покупатель не найден")
        await page.click("#customer-new")
        await expect(page.locator("#customer-phone-new")).to_have_value("8 916 555-12-34")
        await page.fill("#customer-name-new", "Ольга Смирнова")
        await page.click("#customer-save")
        await expect(page.locator("#customer-name")).to_have_text("Ольга Смирнова")
        found = await http.get(
            "/api/customers/customers/", params={"search": "5551234"}, headers=kit.token("owner")
        )
        (customer,) = found.json()["results"]
        assert customer["phone"] == "+79165551234"  # a Russian 8… number, stored in E.164


async def test_the_client_sends_a_read_again_while_the_hub_is_unavailable(
    live_hub: LiveHub, browser: Browser
) -> None:
    """A database restart or a move of the business to another cluster answers 503 with
    Retry-After; the dashboard's reads are sent again, and the page loads, not an error.
    The first two answers of the daily report are made 503 in the browser's network."""
    kit = await tenant(live_hub)
    refused: list[str] = []

    async def unavailable_twice(route: Route) -> None:
        if len(refused) < 2:
            refused.append(route.request.url)
            await route.fulfill(
                status=503,
                headers={"Retry-After": "1", "Content-Type": "application/json"},
                body=json.dumps({"error": {"code": "service_unavailable", "message": "moving"}}),
            )
        else:
            await route.continue_()

    page = await new_page(browser)
    await page.route("**/api/analytics/daily/**", unavailable_twice)
    await sign_in(page, live_hub, kit, "manager")
    await expect(page.locator("#kpi-receipts .kpi-value")).to_have_text("0")
    assert len(refused) == 2


async def test_a_stockkeeper_counts_goods_and_writes_off_the_damaged(
    live_hub: LiveHub, browser: Browser
) -> None:
    kit = await tenant(live_hub)
    async with api(live_hub) as http:
        goods = await shop_with_goods(http, kit)  # 20 of milk on hand
        page = await new_page(browser, tablet=True)
        await sign_in(page, live_hub, kit, "stockkeeper")
        row = page.locator(".stock-row", has_text="Milk 3.2%")
        await expect(row.locator(".on-hand")).to_have_text("20")

        # The shelf holds 17: on hand becomes 17.
        await row.locator(".count").click()
        await expect(page.locator("#count-quantity")).to_have_value("20")
        await page.fill("#count-quantity", "17")
        await page.fill("#count-reason", "monthly count")
        await page.click("#count-confirm")
        await expect(row.locator(".on-hand")).to_have_text("17")

        # Two bottles broke: written off with the reason.
        await row.locator(".write-off").click()
        await page.fill("#write-off-quantity", "2")
        await page.fill("#write-off-reason", "broken bottles")
        await page.click("#write-off-confirm")
        await expect(row.locator(".on-hand")).to_have_text("15")
        await expect(row.locator(".available")).to_have_text("15")

        # More than there is: the hub refuses, the dialog says why and stays open.
        await row.locator(".write-off").click()
        await page.fill("#write-off-quantity", "99")
        await page.fill("#write-off-reason", "lost")
        await page.click("#write-off-confirm")
        await expect(page.locator("dialog .error, .modal .error").first).not_to_be_empty()

        moves = await http.get(
            "/api/products/stock/movements/",
            params={"shop": kit.shop_id, "product": goods["product"]},
            headers=kit.token("owner"),
        )
        kinds = [(m["kind"], m["quantity"]) for m in moves.json()["results"]]
        assert ("adjustment", "-3.000") in kinds
        assert ("write_off", "-2.000") in kinds


async def customer_with_credit(
    http: httpx.AsyncClient, kit: TenantKit, name: str, phone: str
) -> str:
    made = await http.post(
        "/api/customers/customers/",
        json={"name": name, "phone": phone, "credit_limit": "500"},
        headers=kit.token("owner"),
    )
    assert made.status_code == 201, made.text
    return str(made.json()["id"])


async def sell_on_credit(
    http: httpx.AsyncClient, kit: TenantKit, shift: str, customer: str, product: str, quantity: int
) -> None:
    """Goods at 89.90 (`shop_with_goods`) on credit, through the REST door."""
    sale = await http.post(
        "/api/sales/sales/",
        json={
            "session": shift,
            "customer": customer,
            "items": [{"product": product, "quantity": str(quantity)}],
            "payments": [{"method": "credit", "amount": str(Decimal("89.90") * quantity)}],
        },
        headers=kit.token("cashier"),
    )
    assert sale.status_code == 201, sale.text


async def test_a_customer_repays_debt_in_cash_at_the_till(
    live_hub: LiveHub, browser: Browser
) -> None:
    kit = await tenant(live_hub)
    async with api(live_hub) as http:
        goods = await shop_with_goods(http, kit)
        customer = await customer_with_credit(http, kit, "Anna Petrova", "+79161234567")
        page = await new_page(browser)
        await sign_in(page, live_hub, kit, "cashier")
        await open_till(page, goods)
        shift = await current_shift(http, kit, goods)
        await sell_on_credit(http, kit, shift, customer, goods["product"], 2)
        await page.fill("#customer-phone", "1234567")
        await page.click("#customer-find")
        await page.click(f"[data-customer='{customer}']")
        await expect(page.locator("#customer-debt")).to_have_text("Owes 179.80")
        await page.click("#repay")
        await expect(page.locator("#desk-amount")).to_have_value("179.80")
        await page.fill("#desk-amount", "100")
        await page.select_option("#desk-method", "cash")
        await page.click("#desk-confirm")
        await expect(page.locator("#customer-debt")).to_have_text("Owes 79.80")
        # The rest goes on the balance, by card: no drawer moves for it.
        await page.click("#top-up")
        await page.fill("#desk-amount", "50")
        await page.select_option("#desk-method", "card")
        await page.click("#desk-confirm")
        await expect(page.locator("#customer-balance")).to_have_text("Balance 50.00")
        # The repayment's cash is in the drawer the cashier will count at closing.
        x = await http.get(f"/api/sales/sessions/{shift}/x-report/", headers=kit.token("cashier"))
        assert (x.json()["cash_in"], x.json()["expected_cash"]) == ("100.00", "200.00")
        ledger = await http.get(
            f"/api/customers/customers/{customer}/ledger/",
            params={"kind": "repayment"},
            headers=kit.token("owner"),
        )
        assert [e["amount"] for e in ledger.json()["results"]] == ["-100.00"]


async def test_a_manager_finds_who_owes_takes_a_transfer_and_downloads_a_statement(
    live_hub: LiveHub, browser: Browser
) -> None:
    kit = await tenant(live_hub)
    async with api(live_hub) as http:
        goods = await shop_with_goods(http, kit)
        debtor = await customer_with_credit(http, kit, "Boris Debtov", "+79160000001")
        payer = await customer_with_credit(http, kit, "Vera Payeva", "+79160000002")
        shift = await http.post(
            "/api/sales/sessions/",
            json={"cash_register": goods["register"], "opening_cash": "0"},
            headers=kit.token("cashier"),
        )
        await sell_on_credit(http, kit, shift.json()["id"], debtor, goods["product"], 3)
        page = await new_page(browser)
        await sign_in(page, live_hub, kit, "manager")
        await page.click("[data-view='customers']")
        await page.check("#customers-owing")
        rows = page.locator(".customer-row")
        await expect(rows).to_have_count(1)
        row = page.locator(f".customer-row[data-customer='{debtor}']")
        await expect(row.locator(".debt")).to_have_text("269.70")
        # A bank transfer: the debt falls, no drawer is involved.
        await row.locator(".repay").click()
        await page.fill("#desk-amount", "200")
        await page.fill("#desk-reference", "transfer 17")
        await page.click("#desk-confirm")
        await expect(row.locator(".debt")).to_have_text("69.70")
        await row.locator(".history").click()
        ledger = page.locator("#ledger-table .ledger-row")
        await expect(ledger).to_have_count(2)
        await expect(ledger.first).to_contain_text("Debt repaid")
        await expect(ledger.first).to_contain_text("transfer 17")
        await page.click("#ledger-close")
        async with page.expect_download() as downloading:
            await row.locator(".statement").click()
        download = await downloading.value
        saved = await asyncio.to_thread(Path(await download.path()).read_bytes)
        assert saved[:2] == b"PK"  # an XLSX is a zip
        assert download.suggested_filename == "statement-Boris Debtov.xlsx"
        await row.locator(".limit").click()
        await page.fill("#credit-limit", "1000")
        await page.click("#credit-limit-save")
        await expect(page.locator(".toast").last).to_contain_text("credit limit 1")
        # A cashier finds the customer too, but takes money only at the till (a drawer).
        cashier = await new_page(browser)
        await sign_in(cashier, live_hub, kit, "cashier")
        await cashier.goto(live_hub.http + "/#/customers")
        listed = cashier.locator(f".customer-row[data-customer='{debtor}']")
        await expect(listed.locator(".debt")).to_have_text("69.70")
        await expect(listed.locator(".repay, .top-up, .limit")).to_have_count(0)
    view = await http_customer(live_hub, kit, debtor)
    assert (view["debt"], view["credit_limit"]) == ("69.70", "1000.00")
    assert (await http_customer(live_hub, kit, payer))["debt"] == "0.00"


async def http_customer(hub: LiveHub, kit: TenantKit, customer: str) -> dict[str, Any]:
    async with api(hub) as http:
        found = await http.get(f"/api/customers/customers/{customer}/", headers=kit.token("owner"))
        assert found.status_code == 200, found.text
        result: dict[str, Any] = found.json()
        return result


async def test_a_cashier_moves_cash_reads_the_x_report_and_closes_the_shift(
    live_hub: LiveHub, browser: Browser
) -> None:
    kit = await tenant(live_hub)
    async with api(live_hub) as http:
        goods = await shop_with_goods(http, kit)
        page = await new_page(browser)
        await sign_in(page, live_hub, kit, "cashier")
        await open_till(page, goods)  # 100.00 in the drawer
        for kind, amount, reason in (("in", "50", "change"), ("out", "30", "to the safe")):
            await page.click("#cash-move")
            await page.select_option("#cash-kind", kind)
            await page.fill("#cash-amount", amount)
            await page.fill("#cash-reason", reason)
            await page.click("#cash-confirm")
            await expect(page.locator("dialog")).to_have_count(0)
        # More out than the drawer holds stays in the dialog, refused.
        await page.click("#cash-move")
        await page.select_option("#cash-kind", "out")
        await page.fill("#cash-amount", "1000")
        await page.fill("#cash-reason", "too much")
        await page.click("#cash-confirm")
        await expect(page.locator("dialog .error")).not_to_be_empty()
        await page.click("dialog header button")
        await page.click("#x-report")
        await expect(page.locator("#x-expected")).to_have_text("120.00")
        await expect(page.locator("#x-cash-in")).to_have_text("50.00")
        await expect(page.locator("#x-cash-out")).to_have_text("30.00")
        moves = page.locator("#x-movements li")
        await expect(moves).to_have_count(2)
        await expect(moves.last).to_contain_text("to the safe")
        shift = await current_shift(http, kit, goods)
        x = await http.get(f"/api/sales/sessions/{shift}/x-report/", headers=kit.token("manager"))
        assert x.json()["expected_cash"] == "120.00"
        # Closing with 5.00 short: the Z-report says so.
        await page.click("#x-close")
        await page.click("#close-shift")
        await page.fill("#closing-cash", "115")
        await page.click("#close-shift-confirm")
        await expect(page.locator("#z-report")).to_contain_text("-5.00")
        closed = await http.get(f"/api/sales/sessions/{shift}/", headers=kit.token("manager"))
        assert (closed.json()["status"], closed.json()["difference"]) == ("closed", "-5.00")

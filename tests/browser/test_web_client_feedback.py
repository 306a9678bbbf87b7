"""What the web client tells its user: the hub's refusals in the user's language and in
the dialog that caused them, no error for the till's own cancel or close, long names and
comments, amounts typed with thousands spaces, the cash handed over on the receipt, a
header that fits a 768 px tablet, and the dashboard's feed on the shop's clock."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from playwright.async_api import Browser, Page, expect

from tests.browser.conftest import new_page
from tests.browser.test_web_client import current_shift, open_till, shop_with_goods, sign_in
from tests.conftest import LiveHub
from tests.e2e.ws_support import api, hub_client, tenant
from tests.helpers import TenantKit, create_product, ean13, set_pin

NNBSP = "\u202f"  # the client's thousands separator in money


def page_errors(page: Page) -> list[str]:
    """Uncaught errors and rejections of the page, as they happen."""
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    return errors


async def selling_one_milk(
    browser: Browser, live_hub: LiveHub, kit: TenantKit, goods: dict[str, Any]
) -> tuple[Page, list[str]]:
    """A cashier's till with one milk (89.90) scanned; the page and its uncaught errors."""
    page = await new_page(browser)
    errors = page_errors(page)
    await sign_in(page, live_hub, kit, "cashier")
    await open_till(page, goods)
    await page.keyboard.type(goods["barcode"] + "\n")
    await expect(page.locator("#to-pay")).to_have_text("89.90")
    return page, errors


async def test_refusals_are_told_in_russian_where_they_happen(
    live_hub: LiveHub, browser: Browser
) -> None:
    kit = await tenant(live_hub)
    async with api(live_hub) as http:
        goods = await shop_with_goods(http, kit)  # 20 of milk at 89.90
        empty = await create_product(http, kit, name="Kefir", price="70.00", barcodes=[ean13()])
        assert (await set_pin(http, kit.token("manager"), "7391")).status_code == 200
        page = await new_page(browser, locale="ru-RU")
        errors = page_errors(page)
        await sign_in(page, live_hub, kit, "cashier")
        await page.click(f"[data-register='{goods['register']}']")
        await page.fill("#opening-cash", "1 000,50")  # a thousands space, a decimal comma
        await page.click("#open-shift")
        await expect(page.locator("#scan")).to_be_focused()
        shift = await http.get(
            f"/api/sales/sessions/{await current_shift(http, kit, goods)}/",
            headers=kit.token("manager"),
        )
        assert shift.json()["opening_cash"] == "1000.50"

        # Nothing of it on hand: the hub's "only 0.000 available", in Russian.
        await page.keyboard.type(empty["barcodes"][0]["code"] + "\n")
        await expect(page.locator(".toast-error").last).to_have_text(
            "Недостаточно товара: доступно только 0"
        )

        # A discount the hub would refuse is corrected in the dialog, which stays open.
        await page.keyboard.type(goods["barcode"] + "\n")
        await expect(page.locator("#to-pay")).to_have_text("89.90")
        await page.click(f"tr.line[data-product='{goods['product']}'] .line-discount")
        for typed, said in (
            ("150", "Процент от 0 до 100"),
            ("33,333", "Не более 2 знаков после запятой"),
        ):
            await page.fill("#ask-value", typed)
            await page.click("#ask-ok")
            await expect(page.locator("dialog .error")).to_have_text(said)
        await page.fill("#ask-value", "10")
        await page.click("#ask-ok")
        await expect(page.locator("#to-pay")).to_have_text("80.91")

        # Cash: more out than the drawer holds, and a reason of blanks.
        await page.click("#cash-move")
        await page.select_option("#cash-kind", "out")
        await page.fill("#cash-amount", "5 000")
        await page.fill("#cash-reason", "в сейф")
        await page.click("#cash-confirm")
        await expect(page.locator("dialog .error")).to_have_text(
            "Столько наличных нет: в ящике должно быть 1000.50"
        )
        await page.fill("#cash-amount", "10")
        await page.fill("#cash-reason", "   ")
        await page.click("#cash-confirm")
        await expect(page.locator("dialog .error")).to_have_text("Укажите причину")
        await page.click("dialog header button")

        # A return: a wrong PIN, then more than was sold.
        await page.click("#pay")
        await page.click("#pay-confirm")
        await page.click("#new-sale")
        await page.click("#return")
        await page.fill("#return-number", "1")
        await page.click("#return-find")
        await page.fill(".return-qty", "1")
        await page.fill("#return-pin", "0000")
        await page.click("#return-confirm")
        await expect(page.locator("dialog .error")).to_have_text("PIN менеджера не принят")
        await page.fill(".return-qty", "3")
        await page.fill("#return-pin", "7391")
        await page.click("#return-confirm")
        await expect(page.locator("dialog .error")).to_have_text(
            "Больше, чем продано: можно вернуть ещё не более 1"
        )
        assert errors == []


async def test_the_tills_own_cancel_and_close_are_not_errors(
    live_hub: LiveHub, browser: Browser
) -> None:
    kit = await tenant(live_hub)
    async with api(live_hub) as http:
        goods = await shop_with_goods(http, kit)
        page, errors = await selling_one_milk(browser, live_hub, kit, goods)
        await page.click("#cancel-cart")
        await expect(page.locator("#to-pay")).to_have_text("0.00")
        await expect(page.locator("#cancel-cart")).to_be_disabled()  # the new, empty cart

        # Cancelled on another screen: that is news, and the till goes on with a new cart.
        await page.keyboard.type(goods["barcode"] + "\n")
        await expect(page.locator("#to-pay")).to_have_text("89.90")
        async with hub_client(live_hub, kit.members["cashier"].token) as other:
            shift = await current_shift(http, kit, goods)
            cart = (await other.request("cart.open", {"session": shift}))["cart"]
            await other.request("cart.cancel", {"cart": cart["id"], "version": cart["version"]})
        await expect(page.locator(".toast-error")).to_have_text("The cart was closed: cancelled")
        await expect(page.locator("#to-pay")).to_have_text("0.00")
        await expect(page.locator(".toast-error")).to_have_count(0, timeout=8_000)

        # Closing the shift expires its cart: the Z-report, and nothing else.
        await page.keyboard.type(goods["barcode"] + "\n")
        await expect(page.locator("#to-pay")).to_have_text("89.90")
        await page.click("#close-shift")
        await page.fill("#closing-cash", "100")
        await page.click("#close-shift-confirm")
        await expect(page.locator("#z-report")).to_contain_text("100.00")
        await asyncio.sleep(0.5)  # a late cart.closed would have drawn its toast by now
        await expect(page.locator(".toast-error")).to_have_count(0)
        assert errors == []


async def test_long_names_and_comments(live_hub: LiveHub, browser: Browser) -> None:
    kit = await tenant(live_hub)
    async with api(live_hub) as http:
        goods = await shop_with_goods(http, kit)
        name = "Oat milk " + "extra long description " * 10  # over 200 characters
        keeper = await new_page(browser, tablet=True)
        errors = page_errors(keeper)
        await sign_in(keeper, live_hub, kit, "stockkeeper")
        await keeper.click("#new-product")
        await keeper.fill("#product-name", name)
        await keeper.fill("#product-price", "1 129,90")
        await keeper.fill("#product-barcode", ean13())
        await keeper.click("#product-save")
        # The list shows it, found by its whole name.
        await expect(keeper.locator(".stock-row")).to_have_count(1)
        await expect(keeper.locator(".stock-row .name")).to_have_text(name.strip())
        await expect(keeper.locator(".stock-row .num").first).to_have_text(f"1{NNBSP}129.90")
        assert errors == []

        cashier = await new_page(browser)
        errors = page_errors(cashier)
        await sign_in(cashier, live_hub, kit, "cashier")
        await open_till(cashier, goods)
        await cashier.fill("#scan", name.strip())
        await cashier.press("#scan", "Enter")
        await expect(cashier.locator("#search-results .result")).to_have_count(1)

        # A comment longer than the hub takes: the field stops at 4000; one put there by
        # a script is refused in the form, with the reason.
        made = await http.post(
            "/api/tasks/tasks/",
            json={"title": "Count", "shop": kit.shop_id, "assignee": kit.members["cashier"].id},
            headers=kit.token("manager"),
        )
        await cashier.click("[data-view='tasks']")
        await cashier.click(f"[data-task='{made.json()['id']}']")
        await expect(cashier.locator("#task-comment")).to_have_attribute("maxlength", "4000")
        await cashier.locator("#task-comment").evaluate("(box) => (box.value = 'x'.repeat(4001))")
        await cashier.click("#task-comment-send")
        await expect(cashier.locator("#task-comment-error")).to_have_text("At most 4000 characters")
        await cashier.fill("#task-comment", "counted")
        await cashier.click("#task-comment-send")
        await expect(cashier.locator("#task-timeline")).to_contain_text("counted")
        assert errors == []


async def test_the_receipt_shows_the_cash_handed_over(live_hub: LiveHub, browser: Browser) -> None:
    kit = await tenant(live_hub)
    async with api(live_hub) as http:
        goods = await shop_with_goods(http, kit)
        page, _ = await selling_one_milk(browser, live_hub, kit, goods)
        await page.click("#pay")
        await page.fill("#pay-cash", "1 000")  # as the client prints money
        await expect(page.locator("#change")).to_have_text("910.10")
        await page.click("#pay-confirm")
        await expect(page.locator("#receipt-total")).to_have_text("89.90")
        await expect(page.locator("#receipt-tendered")).to_have_text(f"1{NNBSP}000.00")
        await expect(page.locator("#receipt-change")).to_have_text("910.10")


async def test_the_header_fits_a_768_pixel_tablet(live_hub: LiveHub, browser: Browser) -> None:
    kit = await tenant(live_hub)
    wide = "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
    for role, views in (
        ("manager", ("dashboard", "stock", "customers", "tasks")),
        ("cashier", ("till", "stock", "customers", "tasks")),
    ):
        page = await new_page(browser, locale="ru-RU", size=(768, 1024))
        await sign_in(page, live_hub, kit, role)
        for view in views:
            await page.click(f"[data-view='{view}']")
            await expect(page.locator(f"[data-view='{view}']")).to_have_class("active")
            await expect(page.locator(".loading")).to_have_count(0)
            assert await page.evaluate(wide) == 0, f"{role}: {view} scrolls sideways"
            box = await page.locator("#logout").bounding_box()
            assert box is not None
            assert box["x"] + box["width"] <= 768


async def test_the_feed_tells_the_shops_time(live_hub: LiveHub, browser: Browser) -> None:
    """A manager in New York watching a shop in Moscow: the feed's times are Moscow's, as
    the hourly chart's are."""
    kit = await tenant(live_hub)
    async with api(live_hub) as http:
        goods = await shop_with_goods(http, kit)
        shop = await http.patch(
            f"/api/core/shops/{kit.shop_id}/",
            json={"timezone": "Europe/Moscow"},
            headers=kit.token("owner"),
        )
        assert shop.status_code == 200, shop.text
        shift = await http.post(
            "/api/sales/sessions/",
            json={"cash_register": goods["register"], "opening_cash": "0"},
            headers=kit.token("cashier"),
        )
        sale = await http.post(
            "/api/sales/sales/",
            json={
                "session": shift.json()["id"],
                "items": [{"product": goods["product"], "quantity": "1"}],
                "payments": [{"method": "card", "amount": "89.90"}],
            },
            headers=kit.token("cashier"),
        )
        assert sale.status_code == 201, sale.text
        created = datetime.fromisoformat(sale.json()["created_at"])
        moscow = created.astimezone(ZoneInfo("Europe/Moscow")).strftime("%H:%M")
        assert created.astimezone(ZoneInfo("America/New_York")).strftime("%H:%M") != moscow
        page = await new_page(browser, locale="ru-RU", timezone="America/New_York")
        await sign_in(page, live_hub, kit, "manager")
        when = page.locator(f"#feed [data-sale='{sale.json()['id']}'] .when")
        await expect(when).to_have_text(moscow)


async def test_a_receipt_with_nothing_to_pay_is_sold(live_hub: LiveHub, browser: Browser) -> None:
    """A 100 % discount leaves 0.00 to pay: the till sells it with no payments (it used
    to send cash 0.00, which the hub refuses)."""
    kit = await tenant(live_hub)
    async with api(live_hub) as http:
        goods = await shop_with_goods(http, kit)
        page, errors = await selling_one_milk(browser, live_hub, kit, goods)
        await page.click("#receipt-discount")
        await page.fill("#ask-value", "100")
        await page.click("#ask-ok")
        await expect(page.locator("#to-pay")).to_have_text("0.00")
        await page.click("#pay")
        await page.click("#pay-confirm")
        await expect(page.locator("#receipt-total")).to_have_text("0.00")
        sales = await http.get(
            "/api/sales/sales/",
            params={"cash_register": goods["register"]},
            headers=kit.token("manager"),
        )
    (sale,) = sales.json()["results"]
    assert (sale["total"], sale["payments"]) == ("0.00", [])
    assert errors == []

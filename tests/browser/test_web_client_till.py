"""The till: discounts by amount as well as by percent (on a line and on the receipt,
totals computed by the hub, refusals told in the dialog), percents printed with two
decimals, and the receipt and X-report on the shop's clock rather than the browser's."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import httpx
from playwright.async_api import Browser, expect

from tests.browser.conftest import new_page
from tests.browser.test_web_client import current_shift, open_till, shop_with_goods, sign_in
from tests.browser.test_web_client_feedback import page_errors
from tests.conftest import LiveHub
from tests.e2e.ws_support import api, tenant
from tests.helpers import TenantKit


async def open_cart(http: httpx.AsyncClient, kit: TenantKit, goods: dict[str, Any]) -> Any:
    """The till's open cart as the hub has it."""
    found = await http.get(
        "/api/sales/carts/",
        params={"cash_register": goods["register"], "status": "open"},
        headers=kit.token("manager"),
    )
    assert found.status_code == 200, found.text
    (cart,) = found.json()["results"]
    return cart


async def test_amount_discounts_on_a_line_and_on_the_receipt(
    live_hub: LiveHub, browser: Browser
) -> None:
    kit = await tenant(live_hub)
    async with api(live_hub) as http:
        goods = await shop_with_goods(http, kit)  # milk at 89.90
        page = await new_page(browser)
        errors = page_errors(page)
        await sign_in(page, live_hub, kit, "cashier")
        await open_till(page, goods)
        await page.keyboard.type(f"{goods['barcode']}\n{goods['barcode']}\n")
        line = page.locator(f"tr.line[data-product='{goods['product']}']")
        await expect(page.locator("#to-pay")).to_have_text("179.80")

        # More off the line than it is worth: the hub refuses, told in the dialog.
        await line.locator(".line-discount").click()
        await expect(page.locator("#discount-percent")).to_be_checked()
        await page.check("#discount-amount")
        await expect(page.locator("label[for='ask-value']")).to_have_text("Amount")
        await page.fill("#ask-value", "200")
        await page.click("#ask-ok")
        await expect(page.locator("dialog .error")).to_have_text(
            "The discount may be at most 179.80"
        )
        await expect(page.locator(".toast-error")).to_have_count(0)  # said once, where typed
        await page.fill("#ask-value", "15,50")
        await page.click("#ask-ok")
        await expect(page.locator("dialog")).to_have_count(0)
        await expect(line.locator(".discount")).to_have_text("−15.50")
        await expect(page.locator("#to-pay")).to_have_text("164.30")

        await page.click("#receipt-discount")
        await page.check("#discount-amount")
        await page.fill("#ask-value", "4.30")
        await page.click("#ask-ok")
        await expect(page.locator("#to-pay")).to_have_text("160.00")
        await expect(page.locator("#discount-total")).to_have_text("19.80")

        cart = await open_cart(http, kit, goods)
        (hub_line,) = cart["lines"]
        assert (hub_line["discount_amount"], hub_line["discount_percent"]) == ("15.50", None)
        assert (hub_line["line_discount"], hub_line["receipt_discount"]) == ("15.50", "4.30")
        assert (cart["discount_amount"], cart["discount_percent"]) == ("4.30", None)
        assert (cart["discount_total"], cart["to_pay"]) == ("19.80", "160.00")

        # The dialog opens on the discount the line has, as an amount.
        await line.locator(".line-discount").click()
        await expect(page.locator("#discount-amount")).to_be_checked()
        await expect(page.locator("#ask-value")).to_have_value("15.50")
        await page.click("dialog header button")

        await page.click("#pay")
        await page.click("#pay-confirm")
        await expect(page.locator("#receipt-total")).to_have_text("160.00")
        sales = await http.get(
            "/api/sales/sales/",
            params={"cash_register": goods["register"]},
            headers=kit.token("manager"),
        )
        (sale,) = sales.json()["results"]
        assert (sale["subtotal"], sale["discount_total"], sale["total"]) == (
            "179.80",
            "19.80",
            "160.00",
        )
        assert sale["items"][0]["discount"] == "19.80"

        # A percent is printed as the client prints decimals: two places.
        await page.click("#new-sale")
        await expect(page.locator("#to-pay")).to_have_text("0.00")
        await page.keyboard.type(goods["barcode"] + "\n")
        await expect(page.locator("#to-pay")).to_have_text("89.90")
        await line.locator(".line-discount").click()
        await expect(page.locator("#discount-percent")).to_be_checked()
        await page.fill("#ask-value", "12,5")
        await page.click("#ask-ok")
        await expect(line.locator(".discount")).to_have_text("−12.50%")
        await expect(page.locator("#to-pay")).to_have_text("78.66")
        assert errors == []


async def test_the_receipt_and_x_report_tell_the_shops_time(
    live_hub: LiveHub, browser: Browser
) -> None:
    """A till in a Tokyo shop on a browser set to New York: the receipt's and the
    X-report's times are Tokyo's."""
    kit = await tenant(live_hub)
    async with api(live_hub) as http:
        goods = await shop_with_goods(http, kit)
        shop = await http.patch(
            f"/api/core/shops/{kit.shop_id}/",
            json={"timezone": "Asia/Tokyo"},
            headers=kit.token("owner"),
        )
        assert shop.status_code == 200, shop.text
        page = await new_page(browser, locale="ru-RU", timezone="America/New_York")
        await sign_in(page, live_hub, kit, "cashier")
        await open_till(page, goods)
        await page.keyboard.type(goods["barcode"] + "\n")
        await expect(page.locator("#to-pay")).to_have_text("89.90")
        await page.click("#pay")
        await page.click("#pay-confirm")
        await expect(page.locator("#receipt-total")).to_have_text("89.90")
        sales = await http.get(
            "/api/sales/sales/",
            params={"cash_register": goods["register"]},
            headers=kit.token("manager"),
        )
        (sale,) = sales.json()["results"]
        sold = clock(sale["created_at"], "Asia/Tokyo")
        assert clock(sale["created_at"], "America/New_York") != sold
        await expect(page.locator("#receipt-when")).to_have_text(f"Till 1 · {sold}")

        await page.click("#new-sale")
        await page.click("#cash-move")
        await page.select_option("#cash-kind", "in")
        await page.fill("#cash-amount", "50")
        await page.fill("#cash-reason", "размен")
        await page.click("#cash-confirm")
        await expect(page.locator("dialog")).to_have_count(0)
        shift = await current_shift(http, kit, goods)
        moves = await http.get(f"/api/sales/sessions/{shift}/cash/", headers=kit.token("manager"))
        moved = [m for m in moves.json()["results"] if m["kind"] == "in"]
        assert len(moved) == 1, moves.text
        await page.click("#x-report")
        await expect(page.locator("#x-movements li")).to_have_count(1)
        text = await page.locator("#x-movements li").text_content()
        assert text is not None
        assert text.startswith(clock(moved[0]["created_at"], "Asia/Tokyo")), text


def clock(iso: str, zone: str) -> str:
    return datetime.fromisoformat(iso).astimezone(ZoneInfo(zone)).strftime("%H:%M")

"""The till: the receipt and X-report on the shop's clock rather than the browser's."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from playwright.async_api import Browser, expect

from tests.browser.conftest import new_page
from tests.browser.test_web_client import current_shift, open_till, shop_with_goods, sign_in
from tests.conftest import LiveHub
from tests.e2e.ws_support import api, tenant


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

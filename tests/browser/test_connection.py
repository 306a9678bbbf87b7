"""The web client's websocket: the same user on two screens at once (a second tab, a
phone and a PC), and a hello that arrives inside a batch."""

from __future__ import annotations

import json

from playwright.async_api import Browser, WebSocketRoute, expect

from tests.browser.conftest import new_page
from tests.browser.test_web_client import open_till, shop_with_goods, sign_in
from tests.conftest import LiveHub
from tests.e2e.ws_support import api, tenant


async def test_the_same_user_works_on_two_screens_at_once(
    live_hub: LiveHub, browser: Browser
) -> None:
    kit = await tenant(live_hub)
    async with api(live_hub) as http:
        goods = await shop_with_goods(http, kit)
        # Two managers' screens: both dashboards load (no endless "Loading…").
        desk = await new_page(browser)
        phone = await new_page(browser)
        for page in (desk, phone):
            await sign_in(page, live_hub, kit, "manager")
        for page in (desk, phone):
            await expect(page.locator("#kpi-receipts .kpi-value")).to_have_text("0")
            await expect(page.locator("#connection")).to_have_class("connection online")

        # A cashier's two screens on one till: both reach the cart, and a scan on one
        # shows on the other (the second follows the cart's channel).
        first = await new_page(browser, tablet=True)
        await sign_in(first, live_hub, kit, "cashier")
        await open_till(first, goods)
        second = await new_page(browser, tablet=True)
        await sign_in(second, live_hub, kit, "cashier")
        await second.click(f"[data-register='{goods['register']}']")
        await expect(second.locator("#to-pay")).to_have_text("0.00")
        await first.keyboard.type(goods["barcode"] + "\n")
        await expect(first.locator("#to-pay")).to_have_text("89.90")
        await expect(second.locator("#to-pay")).to_have_text("89.90")


async def test_a_hello_inside_a_batch_is_understood(live_hub: LiveHub, browser: Browser) -> None:
    """An older hub sent the hello in one batch with the frame after it; the client takes
    the hello from the batch and dispatches the rest. The browser's websocket is routed
    so that the hub's first two frames arrive as such a batch."""
    kit = await tenant(live_hub)
    batched: list[str] = []

    def join_first_two(ws: WebSocketRoute) -> None:
        server = ws.connect_to_server()
        held: list[object] = []

        def from_hub(message: str | bytes) -> None:
            if len(batched) < 1 and len(held) < 2:
                held.append(json.loads(message))
                if len(held) == 2:
                    batch = json.dumps({"type": "batch", "payload": held})
                    batched.append(batch)
                    ws.send(batch)
                return
            ws.send(message)

        server.on_message(from_hub)
        ws.on_message(server.send)

    page = await new_page(browser)
    await page.context.route_web_socket("**/ws", join_first_two)
    await sign_in(page, live_hub, kit, "manager")
    await expect(page.locator("#kpi-receipts .kpi-value")).to_have_text("0")
    (batch,) = batched
    assert json.loads(batch)["payload"][0]["type"] == "hello"

"""The web client's directories (`#/catalogue`): categories, suppliers and customer groups
added and edited in Chromium, checked through the REST API; who sees and who edits
which follows the permission matrix."""

from __future__ import annotations

from playwright.async_api import Browser, expect

from tests.browser.conftest import new_page
from tests.browser.test_web_client import sign_in
from tests.conftest import LiveHub
from tests.e2e.ws_support import api, tenant


async def test_a_manager_keeps_categories_suppliers_and_customer_groups(
    live_hub: LiveHub, browser: Browser
) -> None:
    kit = await tenant(live_hub)
    async with api(live_hub) as http:
        page = await new_page(browser, tablet=True)
        await sign_in(page, live_hub, kit, "manager")
        await page.click("a[data-view=catalogue]")

        # A category, and one under it.
        await page.click("#new-categories")
        await page.fill("#categories-name", "Dairy")
        await page.click("#categories-save")
        await expect(page.locator(".categories-row", has_text="Dairy")).to_have_count(1)
        await page.click("#new-categories")
        await page.fill("#categories-name", "Milk")
        await page.select_option("#categories-parent", label="Dairy")
        await page.click("#categories-save")
        milk = page.locator(".categories-row", has_text="Milk")
        await expect(milk.locator("td").nth(1)).to_have_text("Dairy")
        # Dairy cannot be put under Milk, its own child: Milk is not offered.
        dairy = page.locator(".categories-row").filter(
            has=page.locator("td:first-child", has_text="Dairy")
        )
        await dairy.locator(".edit").click()
        options = await page.locator("#categories-parent option").all_inner_texts()
        assert "Milk" not in options
        assert "Dairy" not in options
        await page.keyboard.press("Escape")

        # A supplier, then made inactive.
        await page.click("#new-suppliers")
        await page.fill("#suppliers-name", "Farm Fresh LLC")
        await page.fill("#suppliers-phone", "+7 900 123-45-67")
        await page.fill("#suppliers-tax_id", "7701234567")
        await page.click("#suppliers-save")
        supplier = page.locator(".suppliers-row", has_text="Farm Fresh LLC")
        await expect(supplier).to_contain_text("Yes")
        await supplier.locator(".edit").click()
        await page.uncheck("#suppliers-is_active")
        await page.click("#suppliers-save")
        await expect(supplier).to_contain_text("No")

        # A customer group; a discount the hub refuses is told in the dialog, which stays.
        await page.click("#new-groups")
        await page.fill("#groups-name", "Neighbours")
        await page.fill("#groups-discount", "150")
        await page.click("#groups-save")
        await expect(page.locator("dialog .error")).not_to_be_empty()
        await page.fill("#groups-discount", "7,5")
        await page.click("#groups-save")
        group = page.locator(".groups-row", has_text="Neighbours")
        await expect(group).to_contain_text("7.50 %")
        await expect(group).to_contain_text("the business's rate")
        await group.locator(".edit").click()
        await page.fill("#groups-bonus", "3")
        await page.click("#groups-save")
        await expect(group).to_contain_text("3.00 %")

        owner = kit.token("owner")
        categories = {
            c["name"]: c
            for c in (await http.get("/api/products/categories/", headers=owner)).json()["results"]
        }
        assert categories["Milk"]["parent"] == categories["Dairy"]["id"]
        assert categories["Dairy"]["parent"] is None
        (found,) = (await http.get("/api/products/suppliers/", headers=owner)).json()["results"]
        assert (found["name"], found["phone"], found["tax_id"], found["is_active"]) == (
            "Farm Fresh LLC",
            "+7 900 123-45-67",
            "7701234567",
            False,
        )
        groups = (await http.get("/api/customers/groups/", headers=owner)).json()["results"]
        (neighbours,) = [g for g in groups if g["name"] == "Neighbours"]
        assert (neighbours["discount_percent"], neighbours["bonus_rate"]) == ("7.50", "3.00")

        # Dairy holds Milk: deleting it is refused in the dialog; Milk goes, then Dairy.
        await dairy.locator(".delete").click()
        await page.click("#categories-delete-confirm")
        refused = page.locator("dialog .error")
        await expect(refused).to_have_text("It is in use and cannot be removed")
        await page.keyboard.press("Escape")
        await milk.locator(".delete").click()
        await page.click("#categories-delete-confirm")
        await expect(milk).to_have_count(0)
        await dairy.locator(".delete").click()
        await page.click("#categories-delete-confirm")
        await expect(page.locator(".categories-row")).to_have_count(0)
        left = (await http.get("/api/products/categories/", headers=owner)).json()["results"]
        assert left == []

        await group.locator(".delete").click()
        await page.click("#groups-delete-confirm")
        await expect(group).to_have_count(0)
        groups = (await http.get("/api/customers/groups/", headers=owner)).json()["results"]
        assert "Neighbours" not in [g["name"] for g in groups]


async def test_who_edits_which_directory(live_hub: LiveHub, browser: Browser) -> None:
    """A stockkeeper edits categories and suppliers and does not see customer groups; a
    cashier sees all three and edits none."""
    kit = await tenant(live_hub)
    page = await new_page(browser, tablet=True)
    await sign_in(page, live_hub, kit, "stockkeeper")
    await page.click("a[data-view=catalogue]")
    await expect(page.locator("#categories-section")).to_be_visible()
    await expect(page.locator("#new-categories")).to_be_visible()
    await expect(page.locator("#new-suppliers")).to_be_visible()
    await expect(page.locator("#groups-section")).to_have_count(0)
    await page.click("#logout")

    await sign_in(page, live_hub, kit, "cashier")
    await page.click("a[data-view=catalogue]")
    await expect(page.locator("#groups-section")).to_be_visible()
    await expect(page.locator("#categories-section")).to_be_visible()
    for button in ("#new-categories", "#new-suppliers", "#new-groups", ".edit", ".delete"):
        await expect(page.locator(button)).to_have_count(0)

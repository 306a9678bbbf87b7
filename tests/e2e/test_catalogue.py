"""Catalogue over HTTP: categories, products, barcodes, lookup and search."""

from __future__ import annotations

import httpx

from tests.helpers import build_tenant, create_product, ean13


async def test_appendix_a_category_and_product(client: httpx.AsyncClient) -> None:
    kit = await build_tenant(client)
    owner = kit.token("owner")
    root = await client.post(
        "/api/products/categories/", json={"name": "Drinks", "parent": None}, headers=owner
    )
    assert root.status_code == 201, root.text
    juice = await client.post(
        "/api/products/categories/",
        json={"name": "Juice", "parent": root.json()["id"]},
        headers=owner,
    )
    assert juice.status_code == 201
    code = ean13(4600000000)
    product = await client.post(
        "/api/products/products/",
        json={
            "name": "Сок яблочный 1 л",
            "price": "129.90",
            "sku": "JUICE-1",
            "category": juice.json()["id"],
            "cost": "80.00",
            "barcodes": [code],
            "unit": "piece",
            "vat_rate": "20",
        },
        headers=owner,
    )
    assert product.status_code == 201, product.text
    body = product.json()
    assert body["price"] == "129.90"
    assert body["cost"] == "80.00"
    assert body["vat_rate"] == "20.00"
    assert body["barcodes"] == [{"code": code, "kind": "ean13"}]

    by_code = await client.get("/api/products/products/", params={"barcode": code}, headers=owner)
    assert by_code.json()["count"] == 1
    assert by_code.json()["results"][0]["id"] == body["id"]
    assert by_code.json()["next"] is None

    # Cyrillic, case-insensitive, any fragment; and the parent category includes children.
    for term in ("ЯБЛОЧ", "сок", "Juice-1"):
        found = await client.get("/api/products/products/", params={"search": term}, headers=owner)
        ids = [p["id"] for p in found.json()["results"]]
        assert ids == ([body["id"]] if term != "Juice-1" else []), term
    found = await client.get("/api/products/products/", params={"search": "JUICE-1"}, headers=owner)
    assert [p["id"] for p in found.json()["results"]] == [body["id"]]
    under_root = await client.get(
        "/api/products/products/", params={"category": root.json()["id"]}, headers=owner
    )
    assert [p["id"] for p in under_root.json()["results"]] == [body["id"]]


async def test_barcode_validation(client: httpx.AsyncClient) -> None:
    kit = await build_tenant(client)
    bad = ean13(123)[:-1] + str((int(ean13(123)[-1]) + 1) % 10)
    for codes, expected in (
        ([bad], "wrong check digit"),
        (["12345"], None),  # free-form: Code 128
        (["036000291452"], None),  # a real UPC-A
        (["036000291453"], "wrong check digit"),
        (["96385074"], None),  # a valid EAN-8
        (["96385075"], "wrong check digit"),
        (["has space"], None),
        (["кириллица"], "printable ASCII"),
    ):
        response = await client.post(
            "/api/products/products/",
            json={"name": "x", "price": "1.00", "barcodes": codes},
            headers=kit.token("owner"),
        )
        if expected is None:
            assert response.status_code == 201, (codes, response.text)
        else:
            assert response.status_code == 400, (codes, response.text)
            error = response.json()["error"]
            assert error["code"] == "validation_error"
            assert expected in error["fields"]["barcodes"]
    kinds = await client.post(
        "/api/products/products/",
        json={"name": "x", "price": "1", "barcodes": [{"code": "ABC-1", "kind": "internal"}]},
        headers=kit.token("owner"),
    )
    assert kinds.json()["barcodes"] == [{"code": "ABC-1", "kind": "internal"}]


async def test_duplicate_barcodes_refused_in_a_tenant_allowed_across(
    client: httpx.AsyncClient,
) -> None:
    a = await build_tenant(client)
    b = await build_tenant(client)
    code = ean13()
    first = await create_product(client, a, barcodes=[code])
    again = await client.post(
        "/api/products/products/",
        json={"name": "twin", "price": "1.00", "barcodes": [code]},
        headers=a.token("owner"),
    )
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "barcode_taken"
    twice = await client.post(
        "/api/products/products/",
        json={"name": "twin", "price": "1.00", "barcodes": [code, code]},
        headers=a.token("owner"),
    )
    assert twice.status_code == 400
    other = await create_product(client, b, barcodes=[code])
    assert other["barcodes"][0]["code"] == code
    # Each tenant's lookup finds its own product.
    for kit, product in ((a, first), (b, other)):
        found = await client.get(
            "/api/products/products/", params={"barcode": code}, headers=kit.token("cashier")
        )
        assert [p["id"] for p in found.json()["results"]] == [product["id"]]
    # Moving a barcode: taken from one product, it can go to another.
    second = await create_product(client, a)
    freed = await client.patch(
        f"/api/products/products/{first['id']}/", json={"barcodes": []}, headers=a.token("owner")
    )
    assert freed.json()["barcodes"] == []
    moved = await client.patch(
        f"/api/products/products/{second['id']}/",
        json={"barcodes": [code]},
        headers=a.token("owner"),
    )
    assert moved.status_code == 200
    assert [b["code"] for b in moved.json()["barcodes"]] == [code]


async def test_sku_unique_and_money_is_exact(client: httpx.AsyncClient) -> None:
    kit = await build_tenant(client)
    await create_product(client, kit, sku="A-1", price="0.10")
    clash = await client.post(
        "/api/products/products/",
        json={"name": "y", "price": "1.00", "sku": "A-1"},
        headers=kit.token("owner"),
    )
    assert clash.status_code == 409
    assert clash.json()["error"]["code"] == "sku_taken"
    for price in ("1.005", "-1", "NaN", "1e20"):
        response = await client.post(
            "/api/products/products/",
            json={"name": "y", "price": price},
            headers=kit.token("owner"),
        )
        assert response.status_code == 400, price
        assert "price" in response.json()["error"]["fields"]


async def test_vat_rates_are_tenant_data(client: httpx.AsyncClient) -> None:
    kit = await build_tenant(client)
    refused = await client.post(
        "/api/products/products/",
        json={"name": "y", "price": "1.00", "vat_rate": "18"},
        headers=kit.token("owner"),
    )
    assert refused.status_code == 400
    assert "vat_rate" in refused.json()["error"]["fields"]
    changed = await client.patch(
        "/api/core/tenant/",
        json={"settings": {"vat_rates": ["0", "18"]}},
        headers=kit.token("owner"),
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["settings"]["vat_rates"] == ["0", "18"]
    accepted = await create_product(client, kit, vat_rate="18")
    assert accepted["vat_rate"] == "18.00"


async def test_category_tree_rules(client: httpx.AsyncClient) -> None:
    kit = await build_tenant(client)
    owner = kit.token("owner")

    async def category(name: str, parent: str | None = None) -> str:
        response = await client.post(
            "/api/products/categories/", json={"name": name, "parent": parent}, headers=owner
        )
        assert response.status_code == 201, response.text
        return str(response.json()["id"])

    top = await category("Food")
    middle = await category("Dairy", top)
    leaf = await category("Milk", middle)
    cycle = await client.patch(
        f"/api/products/categories/{top}/", json={"parent": leaf}, headers=owner
    )
    assert cycle.status_code == 400
    assert "parent" in cycle.json()["error"]["fields"]
    twin = await client.post(
        "/api/products/categories/", json={"name": "dairy", "parent": top}, headers=owner
    )
    assert twin.status_code == 409
    await create_product(client, kit, category=leaf)
    busy = await client.delete(f"/api/products/categories/{middle}/", headers=owner)
    assert busy.status_code == 409
    assert busy.json()["error"]["code"] == "in_use"
    roots = await client.get("/api/products/categories/", params={"roots": "true"}, headers=owner)
    assert [c["id"] for c in roots.json()["results"]] == [top]
    moved = await client.patch(
        f"/api/products/categories/{leaf}/", json={"parent": None}, headers=owner
    )
    assert moved.json()["parent"] is None
    assert (
        await client.delete(f"/api/products/categories/{middle}/", headers=owner)
    ).status_code == 204


async def test_product_edit_and_delete(client: httpx.AsyncClient) -> None:
    kit = await build_tenant(client)
    product = await create_product(client, kit, attributes={"colour": "red"})
    edited = await client.patch(
        f"/api/products/products/{product['id']}/",
        json={"price": "12.50", "attributes": {"size": "L"}, "unit": "kg"},
        headers=kit.token("stockkeeper"),
    )
    assert edited.status_code == 200, edited.text
    assert edited.json()["price"] == "12.50"
    assert edited.json()["attributes"] == {"size": "L"}
    assert edited.json()["unit"] == "kg"
    assert edited.json()["barcodes"] == product["barcodes"]
    gone = await client.delete(
        f"/api/products/products/{product['id']}/", headers=kit.token("owner")
    )
    assert gone.status_code == 204
    missing = await client.get(
        f"/api/products/products/{product['id']}/", headers=kit.token("owner")
    )
    assert missing.status_code == 404


async def test_suppliers(client: httpx.AsyncClient) -> None:
    kit = await build_tenant(client)
    owner = kit.token("owner")
    made = await client.post(
        "/api/products/suppliers/",
        json={"name": "ООО Ромашка", "tax_id": "7707083893"},
        headers=owner,
    )
    assert made.status_code == 201, made.text
    supplier = made.json()["id"]
    product = await create_product(client, kit, supplier=supplier)
    assert product["supplier"] == supplier
    found = await client.get("/api/products/suppliers/", params={"search": "7707"}, headers=owner)
    assert [s["id"] for s in found.json()["results"]] == [supplier]
    by_supplier = await client.get(
        "/api/products/products/", params={"supplier": supplier}, headers=owner
    )
    assert [p["id"] for p in by_supplier.json()["results"]] == [product["id"]]

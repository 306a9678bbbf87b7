"""Catalogue import and export: a shop's first day from CSV or XLSX, all or nothing, bad
rows named by line; exports that read back in."""

from __future__ import annotations

import io
from decimal import Decimal

import httpx
from openpyxl import Workbook, load_workbook

from tests.helpers import TenantKit, build_tenant, create_product, ean13, stock_of

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def csv_file(*lines: str) -> bytes:
    return ("\n".join(lines) + "\n").encode("utf-8")


def xlsx_file(rows: list[list[object]]) -> bytes:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


async def send(
    client: httpx.AsyncClient,
    kit: TenantKit,
    data: bytes,
    media: str = "text/csv",
    role: str = "owner",
    **params: str,
) -> httpx.Response:
    return await client.post(
        "/api/products/import/",
        params=params,
        content=data,
        headers={**kit.token(role), "content-type": media},
    )


async def count_products(client: httpx.AsyncClient, kit: TenantKit) -> int:
    listed = await client.get("/api/products/products/", headers=kit.token("owner"))
    return int(listed.json()["count"])


async def test_csv_first_day_with_stock(client: httpx.AsyncClient) -> None:
    kit = await build_tenant(client)
    milk, bread = ean13(1), ean13(2)
    data = csv_file(
        "name;sku;barcodes;category;unit;price;cost;vat_rate;supplier;quantity;batch_number;expiry_date",
        f"Молоко 3,2%;MILK;{milk};Молочное / Молоко;piece;89,90;60;10;Ферма;24;L1;31.12.2030",
        f"Хлеб;BREAD;{bread};Выпечка;piece;45.00;30;10%;;10;;",
        "Сыр весовой;CHEESE;;Молочное;kg;1 299,00;800;20;Ферма;3.250;;",
    )
    report = await send(client, kit, data, shop=kit.shop_id)
    assert report.status_code == 200, report.text
    assert report.json() == {"rows": 3, "created": 3, "updated": 0, "stocked": 3, "dry_run": False}
    found = await client.get(
        "/api/products/products/", params={"barcode": milk}, headers=kit.token("cashier")
    )
    product = found.json()["results"][0]
    assert (product["name"], product["price"], product["vat_rate"]) == (
        "Молоко 3,2%",
        "89.90",
        "10.00",
    )
    cheese = (
        await client.get(
            "/api/products/products/", params={"sku": "CHEESE"}, headers=kit.token("owner")
        )
    ).json()["results"][0]
    assert (cheese["unit"], cheese["price"]) == ("kg", "1299.00")
    assert (await stock_of(client, kit, product["id"]))["on_hand"] == "24.000"
    assert (await stock_of(client, kit, cheese["id"]))["on_hand"] == "3.250"
    # Categories were made as a tree, once.
    cats = await client.get("/api/products/categories/", headers=kit.token("owner"))
    names = sorted(c["name"] for c in cats.json()["results"])
    assert names == ["Выпечка", "Молоко", "Молочное"]
    batches = await client.get(
        "/api/products/batches/", params={"product": product["id"]}, headers=kit.token("owner")
    )
    assert [(b["batch_number"], b["expiry_date"]) for b in batches.json()["results"]] == [
        ("L1", "2030-12-31")
    ]


async def test_one_bad_row_imports_nothing_and_is_named(client: httpx.AsyncClient) -> None:
    kit = await build_tenant(client)
    taken = ean13(7)
    await create_product(client, kit, barcodes=[taken])
    bad_check = ean13(8)[:-1] + str((int(ean13(8)[-1]) + 1) % 10)
    data = csv_file(
        "name,sku,barcodes,price,quantity,unit",
        "Good one,G1,,10.00,1,piece",
        "No price,G2,,,1,piece",
        f"Bad code,G3,{bad_check},5.00,1,piece",
        f"Taken code,G4,{taken},5.00,1,piece",
        "Half a piece,G5,,5.00,0.5,piece",
        "Dup sku,G1,,5.00,1,piece",
        "Weird unit,G6,,5.00,1,bucket",
    )
    before = await count_products(client, kit)
    response = await send(client, kit, data, shop=kit.shop_id)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert "nothing was imported" in error["message"]
    fields = error["fields"]
    assert set(fields) == {
        "line 3.price",
        "line 4.barcodes",
        "line 5.barcodes",
        "line 6.quantity",
        "line 7.sku",
        "line 8.unit",
    }, fields
    assert "check digit" in fields["line 4.barcodes"]
    assert "another product" in fields["line 5.barcodes"]
    assert "line 2" in fields["line 7.sku"]
    assert await count_products(client, kit) == before


async def test_xlsx_import_updates_by_sku_and_dry_run(client: httpx.AsyncClient) -> None:
    kit = await build_tenant(client)
    existing = await create_product(client, kit, sku="TEA", price="100.00")
    rows: list[list[object]] = [
        ["Name", "SKU", "Price", "Quantity"],
        ["Green tea", "TEA", 120.5, 4],
        ["Black tea", "TEA2", 99, None],
    ]
    dry = await send(client, kit, xlsx_file(rows), XLSX, shop=kit.shop_id, dry_run="true")
    assert dry.json() == {"rows": 2, "created": 1, "updated": 1, "stocked": 1, "dry_run": True}
    assert await count_products(client, kit) == 1
    done = await send(client, kit, xlsx_file(rows), XLSX, shop=kit.shop_id)
    assert done.json()["created"] == 1
    assert done.json()["updated"] == 1
    updated = await client.get(
        f"/api/products/products/{existing['id']}/", headers=kit.token("owner")
    )
    assert (updated.json()["name"], updated.json()["price"]) == ("Green tea", "120.50")
    assert updated.json()["barcodes"] == existing["barcodes"]
    assert Decimal((await stock_of(client, kit, existing["id"]))["on_hand"]) == 4


async def test_unreadable_files_and_missing_columns(client: httpx.AsyncClient) -> None:
    kit = await build_tenant(client)
    for data, media, field in (
        (b"\xff\xfe\x00garbage", "text/csv", "file"),
        (b"PK\x03\x04 not really a zip", XLSX, "file"),
        (csv_file("sku,barcodes", "A,"), "text/csv", "header"),
        (csv_file("name,price"), "text/csv", "file"),
    ):
        response = await send(client, kit, data, media)
        assert response.status_code == 400, response.text
        assert field in response.json()["error"]["fields"], response.text
    quantities_without_shop = await send(client, kit, csv_file("name,price,quantity", "A,1,2"))
    assert "line 2.quantity" in quantities_without_shop.json()["error"]["fields"]
    cashier = await send(client, kit, csv_file("name,price", "A,1"), role="cashier")
    assert cashier.status_code == 403


async def test_export_reads_back_in(client: httpx.AsyncClient) -> None:
    kit = await build_tenant(client)
    code = ean13(42)
    await create_product(
        client, kit, name='=HYPERLINK("x")', sku="SAFE", barcodes=[code], price="7.25"
    )
    for fmt in ("csv", "xlsx"):
        response = await client.get(
            "/api/products/products/", params={"format": fmt}, headers=kit.token("cashier")
        )
        assert response.status_code == 200
        assert f".{fmt}" in response.headers["content-disposition"]
        if fmt == "csv":
            text = response.content.decode("utf-8-sig")
            header, row = text.splitlines()[:2]
            assert header.split(",")[:4] == ["id", "name", "sku", "barcodes"]
            assert "'=HYPERLINK" in row  # a formula stays text
            assert code in row
        else:
            book = load_workbook(io.BytesIO(response.content))
            sheet = book.worksheets[0]
            values = list(sheet.iter_rows(values_only=True))
            assert values[0][:4] == ("id", "name", "sku", "barcodes")
            assert values[1][2:4] == ("SAFE", code)
            assert str(values[1][6]) == "7.25"
    # The export is a valid import: it updates the same product by SKU.
    again = await send(client, kit, response.content, XLSX)
    assert again.status_code == 200, again.text
    assert again.json()["updated"] == 1


async def test_text_quoted_as_formulas_reads_back_as_it_was(client: httpx.AsyncClient) -> None:
    """Export quotes text that starts like a formula (`'=1+1`); import takes the quote
    off again, so the same products are updated, not copied under a quoted SKU."""
    kit = await build_tenant(client)
    await create_product(client, kit, name="+Promo pack", sku="=1+1", price="3.00")
    await create_product(client, kit, name="-50% shelf", sku="@home", price="4.00")
    for fmt, media in (("csv", "text/csv"), ("xlsx", XLSX)):
        exported = await client.get(
            "/api/products/products/", params={"format": fmt}, headers=kit.token("owner")
        )
        assert exported.status_code == 200
        again = await send(client, kit, exported.content, media)
        assert again.status_code == 200, again.text
        assert (again.json()["created"], again.json()["updated"]) == (0, 2), (fmt, again.json())
    listed = await client.get("/api/products/products/", headers=kit.token("owner"))
    assert sorted((p["sku"], p["name"]) for p in listed.json()["results"]) == [
        ("=1+1", "+Promo pack"),
        ("@home", "-50% shelf"),
    ]

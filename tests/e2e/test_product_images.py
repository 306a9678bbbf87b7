"""Product pictures: the type is read from the bytes, damaged or oversized files are
refused with a clear code, a thumbnail is made, and files live behind the storage."""

from __future__ import annotations

import io
import struct
import zlib

import httpx
import pytest
from PIL import Image

from tests.helpers import build_tenant, create_product, png_bytes, upload_image


def picture(fmt: str, size: tuple[int, int] = (800, 600), mode: str = "RGB") -> bytes:
    out = io.BytesIO()
    Image.new(mode, size, "blue").save(out, format=fmt)
    return out.getvalue()


@pytest.mark.parametrize(
    ("fmt", "mode", "media"),
    [("JPEG", "RGB", "image/jpeg"), ("PNG", "RGBA", "image/png"), ("WEBP", "RGB", "image/webp")],
)
async def test_upload_read_thumbnail_delete(
    client: httpx.AsyncClient, fmt: str, mode: str, media: str
) -> None:
    kit = await build_tenant(client)
    product = await create_product(client, kit)
    data = picture(fmt, mode=mode)
    image = await upload_image(client, kit, product["id"], data)
    assert (image["content_type"], image["width"], image["height"]) == (media, 800, 600)
    assert image["size"] == len(data)
    base = f"/api/products/products/{product['id']}/images/{image['id']}/"
    full = await client.get(base, headers=kit.token("cashier"))
    assert full.status_code == 200
    assert full.headers["content-type"] == media
    assert full.content == data
    thumb = await client.get(base, params={"thumbnail": "true"}, headers=kit.token("cashier"))
    assert thumb.headers["content-type"] == "image/webp"
    with Image.open(io.BytesIO(thumb.content)) as small:
        assert small.format == "WEBP"
        assert max(small.size) == 320
        assert small.size == (320, 240)
    listed = await client.get(
        f"/api/products/products/{product['id']}/images/", headers=kit.token("cashier")
    )
    assert [i["id"] for i in listed.json()["results"]] == [image["id"]]
    gone = await client.delete(base, headers=kit.token("owner"))
    assert gone.status_code == 204
    assert (await client.get(base, headers=kit.token("owner"))).status_code == 404
    media_dir = client.app.state.deps.storage.root  # type: ignore[attr-defined]
    assert not [p for p in media_dir.rglob("*") if p.is_file()]


async def test_bad_pictures_are_refused(client: httpx.AsyncClient) -> None:
    kit = await build_tenant(client)
    product = await create_product(client, kit)
    path = f"/api/products/products/{product['id']}/images/"
    owner = kit.token("owner")
    good = png_bytes()
    cases = [
        (b"not a picture at all", "image/png", 400, "invalid_image"),
        (good[: len(good) // 2], "image/png", 400, "invalid_image"),  # truncated
        (picture("GIF"), "image/png", 400, "invalid_image"),  # the bytes say GIF
        (b"%PDF-1.4 fake", "application/pdf", 415, "unsupported_media_type"),
        (good, "", 415, "unsupported_media_type"),
    ]
    for data, media, status, code in cases:
        response = await client.post(path, content=data, headers={**owner, "content-type": media})
        assert response.status_code == status, (media, response.text)
        assert response.json()["error"]["code"] == code
    listed = await client.get(path, headers=owner)
    assert listed.json()["results"] == []


@pytest.mark.parametrize(
    "settings", [{"max_image_bytes": 4096, "max_image_pixels": 10_000}], indirect=True
)
async def test_size_and_pixel_limits(client: httpx.AsyncClient) -> None:
    kit = await build_tenant(client)
    product = await create_product(client, kit)
    path = f"/api/products/products/{product['id']}/images/"
    headers = {**kit.token("owner"), "content-type": "image/png"}
    too_big = await client.post(path, content=b"\x89PNG" + b"0" * 5000, headers=headers)
    assert too_big.status_code == 413
    assert too_big.json()["error"]["code"] == "payload_too_large"
    # Small file, huge canvas: a decompression bomb is refused before decoding.
    bomb = picture("PNG", size=(200, 200))
    assert len(bomb) < 4096
    refused = await client.post(path, content=bomb, headers=headers)
    assert refused.status_code == 400
    assert "pixels" in refused.json()["error"]["message"]
    fine = await client.post(path, content=picture("PNG", size=(90, 90)), headers=headers)
    assert fine.status_code == 201, fine.text


def png_header(width: int, height: int) -> bytes:
    """A PNG that is all header: any size claimed in a few dozen bytes."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body))
            + kind
            + body
            + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 7)
    chunks = chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")
    return b"\x89PNG\r\n\x1a\n" + chunks


async def test_a_huge_canvas_is_too_large_whichever_guard_sees_it(
    client: httpx.AsyncClient,
) -> None:
    """7000x7000 is past the hub's limit (40 Mpx); 10000x10000 is past Pillow's own
    decompression-bomb guard too, which fires first: one answer for both."""
    kit = await build_tenant(client)
    product = await create_product(client, kit)
    path = f"/api/products/products/{product['id']}/images/"
    headers = {**kit.token("owner"), "content-type": "image/png"}
    answers = []
    for side in (7000, 10000, 20000):
        response = await client.post(path, content=png_header(side, side), headers=headers)
        assert response.status_code == 400, response.text
        answers.append(response.json()["error"])
    assert answers[0]["code"] == "invalid_image"
    assert answers[0]["message"] == "picture larger than 40000000 pixels"
    assert answers[1] == answers[0]
    assert answers[2] == answers[0]


async def test_pictures_are_served_with_nosniff(client: httpx.AsyncClient) -> None:
    """A PNG with HTML appended is a valid PNG; the browser must not sniff it as a page."""
    kit = await build_tenant(client)
    product = await create_product(client, kit)
    data = picture("PNG") + b"<html><script>alert(1)</script></html>"
    image = await upload_image(client, kit, product["id"], data)
    base = f"/api/products/products/{product['id']}/images/{image['id']}/"
    for params in ({}, {"thumbnail": "true"}):
        served = await client.get(base, params=params, headers=kit.token("cashier"))
        assert served.status_code == 200
        assert served.headers["x-content-type-options"] == "nosniff"

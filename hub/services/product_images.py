"""Product pictures: upload (checked and thumbnailed), list, read, delete."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass

from hub.adapters.db.catalogue_tables import ProductImage
from hub.adapters.db.uow import UnitOfWork
from hub.adapters.images import EXTENSIONS, BadImage, check_image
from hub.adapters.storage import Storage
from hub.domain.errors import Conflict, DomainError, NotFound
from hub.domain.ids import new_id
from hub.domain.permissions import Permission
from hub.services.catalogue import get_product
from hub.services.principal import Principal
from protocol.errors import ErrorCode

MAX_IMAGES_PER_PRODUCT = 10


@dataclass(frozen=True)
class ImageLimits:
    max_bytes: int
    max_pixels: int


async def upload(
    uow: UnitOfWork,
    principal: Principal,
    storage: Storage,
    product_id: uuid.UUID,
    data: bytes,
    limits: ImageLimits,
) -> ProductImage:
    principal.require(Permission.CATALOGUE_MANAGE)
    product = await get_product(uow, product_id)
    if len(data) > limits.max_bytes:
        raise DomainError(
            f"picture larger than {limits.max_bytes} bytes", code=ErrorCode.PAYLOAD_TOO_LARGE
        )
    if len(await uow.products.images_of(product.id)) >= MAX_IMAGES_PER_PRODUCT:
        raise Conflict(f"at most {MAX_IMAGES_PER_PRODUCT} pictures per product")
    try:
        checked = await asyncio.to_thread(check_image, data, max_pixels=limits.max_pixels)
    except BadImage as exc:
        raise DomainError(str(exc), code=ErrorCode.INVALID_IMAGE) from None
    image_id = new_id()
    base = f"{uow.tenant_id.hex}/products/{product.id.hex}/{image_id.hex}"
    image = ProductImage(
        id=image_id,
        product_id=product.id,
        content_type=checked.content_type,
        width=checked.width,
        height=checked.height,
        size=len(data),
        storage_key=f"{base}.{EXTENSIONS[checked.content_type]}",
        thumb_key=f"{base}-thumb.webp",
    )
    # Files first, then the row: a crash between leaves an orphan file, never a row
    # pointing at nothing.
    await storage.put(image.storage_key, data)
    await storage.put(image.thumb_key, checked.thumbnail)
    uow.products.add_image(image)
    try:
        await uow.commit()
    except BaseException:
        await storage.delete(image.storage_key)
        await storage.delete(image.thumb_key)
        raise
    return image


async def list_images(
    uow: UnitOfWork, principal: Principal, product_id: uuid.UUID
) -> list[ProductImage]:
    principal.require(Permission.CATALOGUE_VIEW)
    await get_product(uow, product_id)
    return await uow.products.images_of(product_id)


async def _image(uow: UnitOfWork, product_id: uuid.UUID, image_id: uuid.UUID) -> ProductImage:
    image = await uow.products.image(product_id, image_id)
    if image is None:
        raise NotFound("no such picture")
    return image


async def read_image(
    uow: UnitOfWork,
    principal: Principal,
    storage: Storage,
    product_id: uuid.UUID,
    image_id: uuid.UUID,
    *,
    thumbnail: bool,
) -> tuple[str, bytes]:
    principal.require(Permission.CATALOGUE_VIEW)
    image = await _image(uow, product_id, image_id)
    data = await storage.get(image.thumb_key if thumbnail else image.storage_key)
    if data is None:
        raise NotFound("the picture's file is missing")
    return ("image/webp" if thumbnail else image.content_type), data


async def delete_image(
    uow: UnitOfWork,
    principal: Principal,
    storage: Storage,
    product_id: uuid.UUID,
    image_id: uuid.UUID,
) -> None:
    principal.require(Permission.CATALOGUE_MANAGE)
    image = await _image(uow, product_id, image_id)
    await uow.products.delete_image(image)
    await uow.commit()
    await storage.delete(image.storage_key)
    await storage.delete(image.thumb_key)

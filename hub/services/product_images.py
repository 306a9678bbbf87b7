"""Product pictures: upload (checked and thumbnailed), list, read, delete."""

from __future__ import annotations

import uuid

from hub.adapters.db.catalogue_tables import ProductImage
from hub.adapters.db.uow import UnitOfWork
from hub.adapters.storage import Storage
from hub.domain.errors import Conflict, NotFound
from hub.domain.ids import new_id
from hub.domain.permissions import Permission
from hub.services import pictures
from hub.services.catalogue import get_product
from hub.services.pictures import ImageLimits
from hub.services.principal import Principal

MAX_IMAGES_PER_PRODUCT = 10


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
    if len(await uow.products.images_of(product.id)) >= MAX_IMAGES_PER_PRODUCT:
        raise Conflict(f"at most {MAX_IMAGES_PER_PRODUCT} pictures per product")
    image_id = new_id()
    base = f"{uow.tenant_id.hex}/products/{product.id.hex}/{image_id.hex}"
    picture = await pictures.store(storage, data, limits, base)
    image = ProductImage(id=image_id, product_id=product.id, **picture.columns())
    uow.products.add_image(image)
    await pictures.commit(uow, storage, picture)
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
    return await pictures.read(storage, image, thumbnail=thumbnail)


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
    await pictures.remove(storage, image.storage_key, image.thumb_key)

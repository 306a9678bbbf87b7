"""Uploaded pictures (product images, task photo reports): checked from their bytes,
size-limited, thumbnailed, and stored as two files before the row that names them."""

from __future__ import annotations

import asyncio
from dataclasses import asdict, dataclass
from typing import Any, Protocol

from hub.adapters.db.uow import UnitOfWork
from hub.adapters.images import EXTENSIONS, BadImage, check_image
from hub.adapters.storage import Storage
from hub.domain.errors import DomainError, NotFound
from protocol.errors import ErrorCode


@dataclass(frozen=True)
class ImageLimits:
    max_bytes: int
    max_pixels: int


@dataclass(frozen=True)
class StoredPicture:
    content_type: str
    width: int
    height: int
    size: int
    storage_key: str
    thumb_key: str

    def columns(self) -> dict[str, Any]:
        """What a picture's row records of it (the row adds what it belongs to)."""
        return asdict(self)


async def store(storage: Storage, data: bytes, limits: ImageLimits, base_key: str) -> StoredPicture:
    """Check the picture and write it and its WebP thumbnail under `base_key`."""
    if len(data) > limits.max_bytes:
        raise DomainError(
            f"picture larger than {limits.max_bytes} bytes", code=ErrorCode.PAYLOAD_TOO_LARGE
        )
    try:
        checked = await asyncio.to_thread(check_image, data, max_pixels=limits.max_pixels)
    except BadImage as exc:
        raise DomainError(str(exc), code=ErrorCode.INVALID_IMAGE) from None
    picture = StoredPicture(
        content_type=checked.content_type,
        width=checked.width,
        height=checked.height,
        size=len(data),
        storage_key=f"{base_key}.{EXTENSIONS[checked.content_type]}",
        thumb_key=f"{base_key}-thumb.webp",
    )
    # Files first, then the row: a crash between leaves an orphan file, never a row
    # pointing at nothing.
    await storage.put(picture.storage_key, data)
    await storage.put(picture.thumb_key, checked.thumbnail)
    return picture


async def commit(uow: UnitOfWork, storage: Storage, picture: StoredPicture) -> None:
    """Commit the row naming the picture; if that fails, its files go too."""
    try:
        await uow.commit()
    except BaseException:
        await remove(storage, picture.storage_key, picture.thumb_key)
        raise


class PictureRow(Protocol):
    """A row that names a stored picture (a product image, a task photo)."""

    content_type: str
    storage_key: str
    thumb_key: str


async def read(storage: Storage, row: PictureRow, *, thumbnail: bool) -> tuple[str, bytes]:
    """The picture's media type and bytes, or its WebP thumbnail's."""
    data = await storage.get(row.thumb_key if thumbnail else row.storage_key)
    if data is None:
        raise NotFound("the picture's file is missing")
    return ("image/webp" if thumbnail else row.content_type), data


async def remove(storage: Storage, *keys: str) -> None:
    for key in keys:
        await storage.delete(key)

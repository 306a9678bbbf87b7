from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, Field

from hub.adapters.db.tables import DeviceToken
from hub.web.schemas.common import In, PageQuery


class DeviceTokenOut(BaseModel):
    id: uuid.UUID
    name: str
    shop: uuid.UUID
    token_prefix: str = Field(description="first characters of the token, to tell them apart")
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None

    @classmethod
    def of(cls, device: DeviceToken) -> DeviceTokenOut:
        return cls(
            id=device.id,
            name=device.name,
            shop=device.shop_id,
            token_prefix=device.token_prefix,
            created_at=device.created_at,
            last_used_at=device.last_used_at,
            revoked_at=device.revoked_at,
        )


class DeviceTokenCreatedOut(DeviceTokenOut):
    token: str = Field(description="the secret; shown only in this response")


class DeviceTokenCreateIn(In):
    name: str = Field(min_length=1, max_length=100)
    shop: uuid.UUID


class DeviceTokenQuery(PageQuery):
    shop: uuid.UUID | None = None
    include_revoked: bool = False

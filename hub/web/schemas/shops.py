from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from hub.web.schemas.common import In, PageQuery


class ShopOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    name: str
    address: str
    timezone: str
    is_active: bool
    created_at: datetime


class ShopCreateIn(In):
    name: str = Field(min_length=1, max_length=200)
    address: str = Field(default="", max_length=500)
    timezone: str | None = Field(default=None, max_length=64)


class ShopUpdateIn(In):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    address: str | None = Field(default=None, max_length=500)
    timezone: str | None = Field(default=None, max_length=64)
    is_active: bool | None = None


class ShopQuery(PageQuery):
    is_active: bool | None = None
    search: str | None = Field(default=None, max_length=100)

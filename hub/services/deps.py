"""What use cases need besides a unit of work, built once per process."""

from __future__ import annotations

from dataclasses import dataclass, field

from redis.asyncio import Redis

from hub.adapters.broker.base import Broker
from hub.adapters.db.database import Database
from hub.adapters.ratelimit import RateLimiter
from hub.adapters.security.passwords import Passwords
from hub.adapters.security.tokens import AccessTokens
from hub.adapters.storage import Storage
from hub.services.cart_groups import CartGroups
from hub.services.settled_sums import SettledSums
from hub.settings import Settings


@dataclass(frozen=True)
class Deps:
    settings: Settings
    db: Database
    passwords: Passwords
    access_tokens: AccessTokens
    limiter: RateLimiter
    redis: Redis | None
    broker: Broker
    storage: Storage
    # The settled part of open days' reports (hub/services/settled_sums.py).
    report_sums: SettledSums = field(default_factory=SettledSums)
    # Cart opens, line changes and pays by group commit (PostgreSQL, `POS_CART_GROUPS`);
    # None: one at a time.
    cart_groups: CartGroups | None = None

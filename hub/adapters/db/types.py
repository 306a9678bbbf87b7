"""Column types that behave the same on PostgreSQL and SQLite."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, BigInteger, DateTime, Dialect, Numeric
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.types import TypeDecorator, TypeEngine


class UtcDateTime(TypeDecorator[datetime]):
    """Timezone-aware datetimes in, timezone-aware UTC datetimes out.

    SQLite keeps no offset, so values are stored as UTC and the offset is put back on read.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a timezone-aware column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


JsonDocument = JSON().with_variant(JSONB(), "postgresql")


def utcnow() -> datetime:
    return datetime.now(UTC)


class ValueOutOfRange(ValueError):
    """A number with more integer digits than its column keeps."""


class ExactDecimal(TypeDecorator[Decimal]):
    """Money and quantities: NUMERIC on PostgreSQL; on SQLite, whose numbers are binary
    floats, an integer count of the smallest unit (cents, grams), so sums and comparisons
    in SQL stay exact. Values with more decimals than `scale` are refused, not rounded."""

    impl = Numeric
    cache_ok = True

    def __init__(self, precision: int, scale: int) -> None:
        super().__init__()
        self.precision = precision
        self.scale = scale
        # Computed once: every money and quantity bound or read passes here.
        self._step = Decimal(1).scaleb(-scale)
        self._limit = Decimal(10) ** (precision - scale)

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(BigInteger())
        return dialect.type_descriptor(Numeric(self.precision, self.scale, asdecimal=True))

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        amount = value if isinstance(value, Decimal) else Decimal(value)
        exact = amount.quantize(self._step)
        if exact != amount:
            raise ValueError(f"{amount} has more than {self.scale} decimals")
        # PostgreSQL refuses it too (numeric overflow); SQLite's integer would not: both
        # stores refuse the same amounts.
        if not -self._limit < exact < self._limit:
            raise ValueOutOfRange(f"{amount} does not fit NUMERIC({self.precision}, {self.scale})")
        return int(exact.scaleb(self.scale)) if dialect.name == "sqlite" else exact

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        if dialect.name == "sqlite":
            return (Decimal(int(value)).scaleb(-self.scale)).quantize(self._step)
        return Decimal(value).quantize(self._step)


def Money() -> ExactDecimal:
    return ExactDecimal(14, 2)


def Quantity() -> ExactDecimal:
    return ExactDecimal(14, 3)

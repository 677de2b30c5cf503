"""Column types that keep money exact and timestamps in UTC on every backend."""
from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal

from sqlalchemy import DateTime, Numeric, String, Text
from sqlalchemy.types import TypeDecorator

from ledgerbridge import jsonutil


class Money(TypeDecorator):
    """Numeric(19, 4) on PostgreSQL; a decimal string on SQLite, whose REAL would round amounts."""

    impl = Numeric(19, 4)
    cache_ok = True

    def load_dialect_impl(self, dialect):
        if dialect.name == "sqlite":
            return dialect.type_descriptor(String(32))
        return dialect.type_descriptor(Numeric(19, 4, asdecimal=True))

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if not isinstance(value, Decimal):
            raise TypeError(f"money must be Decimal, got {type(value).__name__} {value!r}")
        return format(value, "f") if dialect.name == "sqlite" else value

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        return Decimal(value)


class ExchangeRate(Money):
    """A rate (home currency per unit of foreign currency): ten decimal places, as QuickBooks quotes them."""

    impl = Numeric(20, 10)
    cache_ok = True

    def load_dialect_impl(self, dialect):
        if dialect.name == "sqlite":
            return dialect.type_descriptor(String(32))
        return dialect.type_descriptor(Numeric(20, 10, asdecimal=True))


class UTCDateTime(TypeDecorator):
    """Timezone-aware UTC datetimes in, aware UTC datetimes out (SQLite keeps no offset)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: give timestamps with a timezone")
        return value.astimezone(timezone.utc)

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


class DecimalJSON(TypeDecorator):
    """JSON kept as text so that Decimal amounts inside payloads survive exactly."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value, dialect):
        return None if value is None else jsonutil.dumps(value)

    def process_result_value(self, value, dialect):
        return None if value is None else jsonutil.loads(value)


def utcnow() -> datetime:
    return datetime.now(timezone.utc)

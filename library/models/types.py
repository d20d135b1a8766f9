"""Column types shared by the models."""

from datetime import UTC, datetime

from sqlalchemy import BigInteger, DateTime, Integer
from sqlalchemy.types import TypeDecorator

# 64-bit ids on PostgreSQL; SQLite needs INTEGER PRIMARY KEY for its rowid alias.
Id = BigInteger().with_variant(Integer(), "sqlite")

# The table options of a table that every issue and return updates (book, reader): on
# PostgreSQL each page keeps a tenth free, so an updated row's new version stays on its
# page and the update writes none of the table's indexes (a HOT update; migration 0010).
ROOM_FOR_UPDATES = {"postgresql_with": {"fillfactor": 90}}


def utcnow():
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator):
    """Aware UTC datetimes in and out, on every database.

    PostgreSQL keeps `timestamptz`; SQLite keeps text without an offset, which this
    type writes in UTC and reads back as UTC. A naive datetime is refused rather than
    guessed at.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTCDateTime column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)

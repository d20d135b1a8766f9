from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, case, func, select, text
from sqlalchemy.orm import Mapped, aliased, column_property, mapped_column, relationship

from ..extensions import db
from .book import Book
from .reader import Reader
from .types import Id, UTCDateTime

ACTIVE = text("status IN ('waiting', 'ready')")
STATUSES = ("waiting", "ready", "fulfilled", "cancelled", "expired")


class Hold(db.Model):
    """A reader waiting for a book whose copies are all out (SPEC section 7).

    `waiting` in the book's queue (first come, first served, by id); `ready` when a
    returned copy is kept for the reader until `expires_at`; then `fulfilled` (issued
    to them), `cancelled` or `expired`. A ready hold holds one copy: for every book,
    copies_available + ready holds + open loans = copies_total.
    """

    __tablename__ = "hold"
    __table_args__ = (
        # One active hold per reader and book.
        Index(
            "uq_hold_active_reader_book",
            "reader_id",
            "book_id",
            unique=True,
            sqlite_where=ACTIVE,
            postgresql_where=ACTIVE,
        ),
        Index("ix_hold_book_status_id", "book_id", "status", "id"),
        Index("ix_hold_reader_id_id", "reader_id", "id"),
        Index(
            "ix_hold_ready_expires_at",
            "expires_at",
            sqlite_where=text("status = 'ready'"),
            postgresql_where=text("status = 'ready'"),
        ),  # fmt: skip
        CheckConstraint(
            "status IN ('waiting', 'ready', 'fulfilled', 'cancelled', 'expired')",
            name="status_known",
        ),
        CheckConstraint(
            "status != 'ready' OR (ready_at IS NOT NULL AND expires_at IS NOT NULL)",
            name="ready_has_deadline",
        ),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    book_id: Mapped[int] = mapped_column(ForeignKey("book.id"))
    reader_id: Mapped[int] = mapped_column(ForeignKey("reader.id"))
    status: Mapped[str] = mapped_column(String(16), default="waiting")
    placed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ready_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    placed_by: Mapped[int | None] = mapped_column(ForeignKey("librarian.id"))

    book: Mapped[Book] = relationship(lazy="joined", innerjoin=True)
    reader: Mapped[Reader] = relationship(lazy="joined", innerjoin=True)

    def __repr__(self):
        return f"<Hold {self.id} book={self.book_id} reader={self.reader_id} {self.status}>"


_ahead = aliased(Hold)
# Place in the book's queue (1 = next), for a waiting hold; read in the same query as
# the hold, so a page of holds stays one statement.
Hold.position = column_property(
    case(
        (
            Hold.status == "waiting",
            select(func.count())
            .where(
                _ahead.book_id == Hold.book_id,
                _ahead.status == "waiting",
                _ahead.id <= Hold.id,
            )
            .correlate_except(_ahead)
            .scalar_subquery(),
        ),
        else_=None,
    )
)

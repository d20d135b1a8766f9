from datetime import datetime

from sqlalchemy import CheckConstraint, Index, String, Text, event, text
from sqlalchemy.orm import Mapped, mapped_column

from ..circulation.values import search_text
from ..extensions import db
from .types import ROOM_FOR_UPDATES, Id, UTCDateTime, utcnow

ACTIVE = text("withdrawn_at IS NULL")


class Book(db.Model):
    """A catalog record with its copy counts; withdrawn books keep their loan history."""

    __tablename__ = "book"
    __table_args__ = (
        CheckConstraint("copies_total BETWEEN 0 AND 10000", name="copies_total_range"),
        CheckConstraint(
            "copies_available BETWEEN 0 AND copies_total", name="copies_available_range"
        ),
        # A withdrawn book frees its ISBN for a new record.
        Index(
            "uq_book_isbn_active",
            "isbn",
            unique=True,
            sqlite_where=ACTIVE,
            postgresql_where=ACTIVE,
        ),
        ROOM_FOR_UPDATES,
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    title: Mapped[str] = mapped_column(String(300))
    author: Mapped[str] = mapped_column(String(300))
    isbn: Mapped[str | None] = mapped_column(String(13))
    year: Mapped[int | None]
    description: Mapped[str | None] = mapped_column(Text)
    copies_total: Mapped[int] = mapped_column(default=1)
    copies_available: Mapped[int] = mapped_column(default=1)
    # Folded title and author words (circulation.values.search_text), kept in step
    # by the mapper events below.
    search_text: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    withdrawn_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    @property
    def copies_on_loan(self):
        return self.copies_total - self.copies_available

    def __repr__(self):
        return f"<Book {self.id} {self.title!r}>"


@event.listens_for(Book, "before_insert")
@event.listens_for(Book, "before_update")
def _refresh_book_search_text(_mapper, _connection, book):
    book.search_text = search_text(book.title, book.author)

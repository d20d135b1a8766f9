from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from .book import Book
from .reader import Reader
from .types import Id, UTCDateTime

OPEN = text("returned_at IS NULL")


class Loan(db.Model):
    """One copy of a book lent to a reader. Never deleted: it is the reader's history."""

    __tablename__ = "loan"
    __table_args__ = (
        # A reader never holds two open loans of the same book.
        Index(
            "uq_loan_open_reader_book",
            "reader_id",
            "book_id",
            unique=True,
            sqlite_where=OPEN,
            postgresql_where=OPEN,
        ),
        Index("ix_loan_open_due_at", "due_at", sqlite_where=OPEN, postgresql_where=OPEN),
        Index("ix_loan_reader_id_id", "reader_id", "id"),
        Index("ix_loan_book_id_id", "book_id", "id"),
        CheckConstraint("renewals >= 0", name="renewals_not_negative"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    book_id: Mapped[int] = mapped_column(ForeignKey("book.id"))
    reader_id: Mapped[int] = mapped_column(ForeignKey("reader.id"))
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    returned_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    renewals: Mapped[int] = mapped_column(default=0)
    # The last renewal: the "due soon" reminder counts from it (or from issued_at).
    renewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    issued_by: Mapped[int | None] = mapped_column(ForeignKey("librarian.id"))
    returned_by: Mapped[int | None] = mapped_column(ForeignKey("librarian.id"))

    # Joined eagerly: every view of a loan shows its book and reader, and a page of
    # loans must stay one query whatever its size.
    book: Mapped[Book] = relationship(lazy="joined", innerjoin=True)
    reader: Mapped[Reader] = relationship(lazy="joined", innerjoin=True)

    @property
    def status(self):
        return "open" if self.returned_at is None else "returned"

    def is_overdue(self, now):
        return self.returned_at is None and self.due_at < now

    def __repr__(self):
        return f"<Loan {self.id} book={self.book_id} reader={self.reader_id}>"

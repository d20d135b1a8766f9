from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, Index, String, Text, event, text
from sqlalchemy.orm import Mapped, mapped_column

from ..circulation.values import search_text
from ..extensions import db
from .types import ROOM_FOR_UPDATES, Id, UTCDateTime, utcnow

ACTIVE = text("deleted_at IS NULL")


class Reader(db.Model):
    """A patron. Deleted readers are hidden but keep their loan history."""

    __tablename__ = "reader"
    __table_args__ = (
        CheckConstraint("open_loans >= 0", name="open_loans_not_negative"),
        Index(
            "uq_reader_email_active",
            "email",
            unique=True,
            sqlite_where=ACTIVE,
            postgresql_where=ACTIVE,
        ),
        ROOM_FOR_UPDATES,
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    # The number printed on the library card, scanned at the desk; never reused.
    card_number: Mapped[str] = mapped_column(String(20), unique=True)
    name: Mapped[str] = mapped_column(String(300))
    email: Mapped[str] = mapped_column(String(254))
    phone: Mapped[str | None] = mapped_column(String(40))
    telegram_chat_id: Mapped[int | None] = mapped_column(BigInteger)
    language: Mapped[str] = mapped_column(String(8), default="en")
    # Open loans, counted by issue and return in the same statements that move the
    # book's copies: the loan limit is then one conditional UPDATE.
    open_loans: Mapped[int] = mapped_column(default=0)
    search_text: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    def __repr__(self):
        return f"<Reader {self.id} {self.card_number}>"


@event.listens_for(Reader, "before_insert")
@event.listens_for(Reader, "before_update")
def _refresh_reader_search_text(_mapper, _connection, reader):
    reader.search_text = search_text(reader.name)

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Index,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from .types import Id, UTCDateTime

CHANNELS = ("email", "telegram")
STATUSES = ("pending", "sent", "failed", "skipped")
PENDING = text("status = 'pending'")


class Notification(db.Model):
    """One message to one recipient on one channel: the outbox (SPEC section 5).

    Written in the transaction of the event that causes it, delivered later by a
    worker. A pending entry is due when `next_attempt_at` has passed; a worker claims it
    by pushing `next_attempt_at` past its lease, so a crashed worker's entry comes due
    again. The body is rendered at delivery from `kind` and the loan, librarian or
    reader it names; the subject is fixed when queued.
    """

    __tablename__ = "notification"
    __table_args__ = (
        # Each reminder or notice once per loan, kind, due date, period and channel,
        # however often `reminders run` runs (NULLs, as in an issue mail, never clash).
        UniqueConstraint(
            "loan_id", "kind", "due_at", "period", "channel", name="uq_notification_once_per_period"
        ),
        CheckConstraint("status IN ('pending', 'sent', 'failed', 'skipped')", name="status_known"),
        CheckConstraint("channel IN ('email', 'telegram')", name="channel_known"),
        CheckConstraint("attempts >= 0", name="attempts_not_negative"),
        Index(
            "ix_notification_due", "next_attempt_at", sqlite_where=PENDING, postgresql_where=PENDING
        ),
        Index("ix_notification_status_id", "status", "id"),
        # Only the entries that have one: a loan's notices (nearly all) hold neither, and
        # an index of NULLs would be written for each of them (migration 0009).
        *(
            Index(f"ix_notification_{column}", column, sqlite_where=known, postgresql_where=known)
            for column, known in (
                ("hold_id", text("hold_id IS NOT NULL")),
                ("librarian_id", text("librarian_id IS NOT NULL")),
            )
        ),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    channel: Mapped[str] = mapped_column(String(16))
    # The email address, or the Telegram chat id as a string.
    recipient: Mapped[str] = mapped_column(String(254))
    subject: Mapped[str] = mapped_column(String(500))
    language: Mapped[str] = mapped_column(String(8))
    # Indexed by uq_notification_once_per_period, which leads with it.
    loan_id: Mapped[int | None] = mapped_column(ForeignKey("loan.id"))
    reader_id: Mapped[int | None] = mapped_column(ForeignKey("reader.id"), index=True)
    hold_id: Mapped[int | None] = mapped_column(ForeignKey("hold.id"))
    librarian_id: Mapped[int | None] = mapped_column(ForeignKey("librarian.id"))
    # The loan's due date this reminder or notice is about (a hold's pickup deadline
    # for "ready for pickup"), and the overdue period
    # (0 for the first notice, at due_at; n for the one at due_at + n * every).
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    period: Mapped[int | None] = mapped_column()
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    def __repr__(self):
        return f"<Notification {self.id} {self.kind} {self.channel} {self.status}>"


class TelegramLink(db.Model):
    """A one-time code a reader sends the bot (`/start <code>`) to link their chat."""

    __tablename__ = "telegram_link"

    code: Mapped[str] = mapped_column(String(64), primary_key=True)
    reader_id: Mapped[int] = mapped_column(ForeignKey("reader.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    chat_id: Mapped[int | None] = mapped_column(BigInteger)


class TelegramPoll(db.Model):
    """Where `getUpdates` polling goes on from: one row, locked by the polling worker."""

    __tablename__ = "telegram_poll"

    id: Mapped[int] = mapped_column(primary_key=True)
    next_offset: Mapped[int] = mapped_column(BigInteger, default=0)

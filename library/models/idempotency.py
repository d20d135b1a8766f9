from datetime import datetime

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from .types import Id, UTCDateTime


class IdempotencyKey(db.Model):
    """A librarian's `Idempotency-Key` and the response it got (SPEC section 3).

    Claimed (no response yet) in a transaction of its own before the request runs; the
    response is stored in the request's own transaction, so a stored response always
    matches a committed write, and a crash leaves no answer to replay.
    """

    __tablename__ = "idempotency_key"

    librarian_id: Mapped[int] = mapped_column(Id, ForeignKey("librarian.id"), primary_key=True)
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    # sha256 of method, path and body: the same key with another request is refused.
    fingerprint: Mapped[str] = mapped_column(String(64))
    response_status: Mapped[int | None] = mapped_column()
    response_body: Mapped[str | None] = mapped_column(Text)
    response_headers: Mapped[str | None] = mapped_column(Text)  # JSON object
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from .types import Id, UTCDateTime, utcnow


class Librarian(db.Model):
    """A staff account. The first one registered is the admin."""

    __tablename__ = "librarian"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(300), default="")
    password_hash: Mapped[str] = mapped_column(String(255))
    is_admin: Mapped[bool] = mapped_column(default=False)
    is_active: Mapped[bool] = mapped_column(default=True)
    language: Mapped[str | None] = mapped_column(String(8))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    def __repr__(self):
        return f"<Librarian {self.id} {self.email}>"


class RevokedToken(db.Model):
    """A signed-out token's id, refused until it would have expired anyway."""

    __tablename__ = "revoked_token"

    jti: Mapped[str] = mapped_column(String(64), primary_key=True)
    librarian_id: Mapped[int] = mapped_column(Id, db.ForeignKey("librarian.id"))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)

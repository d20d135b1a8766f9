"""Librarian accounts: registration policy, sign-in, sign-out, deactivation."""

from datetime import UTC, datetime, timedelta

from flask import current_app
from flask_jwt_extended import create_access_token
from sqlalchemy import exists, func, select
from sqlalchemy.exc import IntegrityError

from ..circulation.common import on_postgresql, paginate
from ..circulation.errors import (
    AccountDisabled,
    EmailTaken,
    InvalidCredentials,
    LibrarianNotFound,
    RegistrationClosed,
)
from ..circulation.values import valid_id
from ..extensions import db
from ..models import Librarian, RevokedToken
from ..notifications.outbox import queue_welcome
from .passwords import hash_password, verify_password

REGISTRATION_LOCK = 0x4C49_4252  # an advisory lock key of our own ("LIBR")


def any_librarian():
    return db.session.scalar(select(exists().where(Librarian.id.is_not(None))))


def _serialize_registrations():
    """One registration at a time decides who is first (and so the admin).

    Two sign-ups on an empty database could otherwise both see no librarian and both
    become admin. PostgreSQL: a transaction-scoped advisory lock; SQLite: the write
    lock that BEGIN IMMEDIATE already holds.
    """
    if on_postgresql():
        db.session.execute(select(func.pg_advisory_xact_lock(REGISTRATION_LOCK)))


def register_librarian(*, email, password, name=None, actor=None, now):
    """Create a librarian account. The first one is the admin.

    Allowed to anyone while no librarian exists or REGISTRATION_OPEN is set; otherwise
    only to an admin (`actor`). Raises RegistrationClosed, EmailTaken.
    """
    _serialize_registrations()
    first = not any_librarian()
    allowed = first or current_app.config["REGISTRATION_OPEN"] or (actor and actor.is_admin)
    if not allowed:
        raise RegistrationClosed()
    if db.session.scalar(select(exists().where(Librarian.email == email))):
        raise EmailTaken(email=email)
    librarian = Librarian(
        email=email,
        name=name or "",
        password_hash=hash_password(password),
        is_admin=first,
        is_active=True,
        created_at=now,
    )
    db.session.add(librarian)
    try:
        db.session.flush()
    except IntegrityError as exc:
        raise EmailTaken(email=email) from exc
    queue_welcome(librarian, now=now)
    current_app.logger.info("librarian registered id=%s admin=%s", librarian.id, first)
    return librarian


def authenticate(email, password):
    """The librarian with this email and password.

    Raises InvalidCredentials (unknown email and wrong password alike, in the same
    time), AccountDisabled (right password, deactivated account).
    """
    librarian = db.session.scalar(select(Librarian).where(Librarian.email == email))
    if not verify_password(password, librarian.password_hash if librarian else None):
        raise InvalidCredentials()
    if not librarian.is_active:
        raise AccountDisabled()
    return librarian


def issue_access_token(librarian):
    """A new access token for `librarian` and its lifetime in seconds.

    The lifetime is read from ACCESS_TOKEN_MINUTES now, so the token's `exp` and the
    `expires_in` told to the client always agree.
    """
    lifetime = timedelta(minutes=current_app.config["ACCESS_TOKEN_MINUTES"])
    token = create_access_token(identity=librarian, expires_delta=lifetime)
    return token, int(lifetime.total_seconds())


def revoke_token(jti, librarian_id, expires_at):
    """Refuse this token from now on (sign-out)."""
    db.session.merge(RevokedToken(jti=jti, librarian_id=librarian_id, expires_at=expires_at))


def is_revoked(jti):
    return db.session.scalar(select(exists().where(RevokedToken.jti == jti)))


def get_librarian(librarian_id):
    librarian = db.session.get(Librarian, librarian_id) if valid_id(librarian_id) else None
    if librarian is None:
        raise LibrarianNotFound(librarian_id=librarian_id)
    return librarian


def list_librarians(page=1, per_page=20):
    return paginate(select(Librarian).order_by(Librarian.id), page, per_page)


def deactivate_librarian(librarian_id):
    """The librarian can no longer sign in, and their tokens stop working at once.

    Raises LibrarianNotFound.
    """
    librarian = get_librarian(librarian_id)
    librarian.is_active = False
    db.session.flush()
    current_app.logger.info("librarian deactivated id=%s", librarian.id)
    return librarian


def token_expiry(payload):
    return datetime.fromtimestamp(payload["exp"], UTC)

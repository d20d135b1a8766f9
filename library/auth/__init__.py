"""Sign-in for librarians: argon2 password hashes and JWT access tokens."""

from flask import g
from flask_jwt_extended import current_user
from sqlalchemy import bindparam, exists, select

from ..circulation.statements import loaded
from ..circulation.values import valid_id
from ..database import read_ahead
from ..extensions import db, jwt
from ..models import Librarian, RevokedToken
from .service import is_revoked

# Every request with a token asks two things: was it revoked (signed out), and who is
# its librarian. One statement answers both (issue 8: the desk's hot path).
_librarian = Librarian.__table__
_TOKEN_HOLDER = select(
    *_librarian.c, exists().where(RevokedToken.jti == bindparam("jti")).label("revoked")
).where(_librarian.c.id == bindparam("librarian_id"))
_UNCHECKED = object()


def current_librarian():
    """The signed-in librarian of this request (flask-jwt-extended's user loader)."""
    return current_user


def _librarian_id(payload):
    try:
        librarian_id = int(payload["sub"])
    except (KeyError, TypeError, ValueError):
        return None
    return librarian_id if valid_id(librarian_id) else None


@jwt.user_identity_loader
def _identity(librarian):
    return str(librarian.id) if isinstance(librarian, Librarian) else str(librarian)


@jwt.token_in_blocklist_loader
def _revoked(_header, payload):
    """Whether the token was revoked; its librarian, loaded by the same statement, is
    kept for `_load_librarian` (flask-jwt-extended asks this first)."""
    librarian_id = _librarian_id(payload)
    with read_ahead(db.session()):
        row = (
            librarian_id
            and db.session.execute(
                _TOKEN_HOLDER, {"jti": payload["jti"], "librarian_id": librarian_id}
            ).first()
        )
        if not row:  # no such librarian: 401 either way; say "revoked" if it was
            g.token_librarian = None
            return is_revoked(payload["jti"])
    *columns, revoked = row
    g.token_librarian = loaded(Librarian, dict(zip(_librarian.c.keys(), columns, strict=True)))
    return revoked


@jwt.user_lookup_loader
def _load_librarian(_header, payload):
    """A token of a deleted or deactivated librarian no longer identifies anyone (401)."""
    librarian = g.pop("token_librarian", _UNCHECKED)
    if librarian is _UNCHECKED:
        librarian_id = _librarian_id(payload)
        librarian = librarian_id and db.session.get(Librarian, librarian_id)
    return librarian if librarian and librarian.is_active else None

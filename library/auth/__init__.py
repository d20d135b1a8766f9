"""Sign-in for librarians: argon2 password hashes and JWT access tokens."""

from flask_jwt_extended import current_user

from ..circulation.values import valid_id
from ..extensions import db, jwt
from ..models import Librarian
from .service import is_revoked


def current_librarian():
    """The signed-in librarian of this request (flask-jwt-extended's user loader)."""
    return current_user


@jwt.user_identity_loader
def _identity(librarian):
    return str(librarian.id) if isinstance(librarian, Librarian) else str(librarian)


@jwt.user_lookup_loader
def _load_librarian(_header, payload):
    """A token of a deleted or deactivated librarian no longer identifies anyone (401)."""
    try:
        librarian_id = int(payload["sub"])
    except (KeyError, TypeError, ValueError):
        return None
    if not valid_id(librarian_id):
        return None
    librarian = db.session.get(Librarian, librarian_id)
    return librarian if librarian is not None and librarian.is_active else None


@jwt.token_in_blocklist_loader
def _revoked(_header, payload):
    return is_revoked(payload["jti"])

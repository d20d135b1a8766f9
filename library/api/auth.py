"""/api/v1/auth: register, sign in, sign out, who am I; /api/v1/librarians."""

from flask import current_app, url_for
from flask_jwt_extended import current_user, get_jwt, verify_jwt_in_request

from ..auth import service
from ..auth.throttle import throttled
from ..extensions import db
from .base import Blueprint, now
from .schemas import LibrarianOut, LoginIn, PageArgs, RegisterIn, TokenOut, page_of

blp = Blueprint(
    "auth", __name__, url_prefix="/api/v1/auth", description="Librarian accounts and access tokens"
)
librarians = Blueprint(
    "librarians",
    __name__,
    url_prefix="/api/v1/librarians",
    description="Librarian accounts (admin)",
)


@blp.post("/register")
@blp.arguments(RegisterIn)
@blp.response(201, LibrarianOut)
@blp.problems(401, 403, 409, 422)
@blp.doc(security=[{}, {"bearerAuth": []}])
def register(args):
    """Create a librarian account.

    Open to anyone while no librarian exists (the first becomes admin) or while
    REGISTRATION_OPEN is set; otherwise an admin's token is needed.
    """
    verify_jwt_in_request(optional=True, locations=["headers"])  # a token, if sent, must be valid
    librarian = service.register_librarian(actor=current_user or None, now=now(), **args)
    db.session.commit()
    location = url_for("librarians.get_librarian", librarian_id=librarian.id)
    return librarian, 201, {"Location": location}


@blp.post("/login")
@throttled()
@blp.arguments(LoginIn, location="json_or_form")
@blp.response(200, TokenOut)
@blp.problems(401, 403, 422, 429)
@blp.doc(security=[])
def login(args):
    """Exchange email and password for an access token (also the OAuth2 password flow)."""
    librarian = service.authenticate(args["email"], args["password"])
    token, expires_in = service.issue_access_token(librarian)
    current_app.logger.info("librarian signed in id=%s", librarian.id)
    return {"access_token": token, "token_type": "bearer", "expires_in": expires_in}


@blp.post("/logout")
@blp.response(204)
@blp.authenticated
def logout():
    """Revoke the token this request carries."""
    payload = get_jwt()
    service.revoke_token(payload["jti"], current_user.id, service.token_expiry(payload))
    db.session.commit()
    current_app.logger.info("librarian signed out id=%s", current_user.id)


@blp.get("/me")
@blp.response(200, LibrarianOut)
@blp.authenticated
def me():
    """The signed-in librarian."""
    return current_user


@librarians.get("")
@librarians.arguments(PageArgs, location="query")
@librarians.response(200, page_of(LibrarianOut))
@librarians.problems(422)
@librarians.authenticated(admin=True)
def list_librarians(args):
    """All librarian accounts."""
    return service.list_librarians(**args)


@librarians.get("/<int:librarian_id>")
@librarians.response(200, LibrarianOut)
@librarians.problems(404)
@librarians.authenticated(admin=True)
def get_librarian(librarian_id):
    """One librarian account."""
    return service.get_librarian(librarian_id)


@librarians.post("/<int:librarian_id>/deactivate")
@librarians.response(204)
@librarians.problems(404)
@librarians.authenticated(admin=True)
def deactivate_librarian(librarian_id):
    """Stop a librarian from signing in; every token of theirs gets 401 from now on."""
    service.deactivate_librarian(librarian_id)
    db.session.commit()

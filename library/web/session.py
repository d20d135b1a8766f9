"""Signing in on the pages: the JWT in an HttpOnly cookie, CSRF on every write.

The cookie carries the same access token as the API's bearer header. While a librarian
keeps working, every page answered in the second half of a token's life carries a
fresh one, so a working session never hits the 30-minute wall; an idle one does, and
goes to the sign-in page, then back where it was.
"""

import functools
from datetime import UTC, datetime
from urllib.parse import urlsplit

from flask import current_app, g, redirect, request, url_for
from flask_babel import get_locale
from flask_jwt_extended import (
    create_access_token,
    current_user,
    get_jwt,
    set_access_cookies,
    unset_access_cookies,
    verify_jwt_in_request,
)
from flask_jwt_extended.exceptions import JWTExtendedException
from jwt import PyJWTError

from ..extensions import csrf
from . import bp

COOKIE = ["cookies"]


@bp.before_request
def _check_csrf():
    """Every state-changing request of the pages carries the CSRF token (form or header)."""
    csrf.protect()


def signed_in():
    """The librarian whose valid cookie this request carries, or None."""
    try:
        verify_jwt_in_request(optional=True, locations=COOKIE)
    except (JWTExtendedException, PyJWTError):
        return None
    if not get_jwt():
        return None
    g.web_token = get_jwt()
    g.web_librarian = current_user._get_current_object()
    return g.web_librarian


@bp.app_context_processor
def _template_globals():
    def librarian():
        if "web_librarian" not in g:
            try:
                g.web_librarian = signed_in()
            except Exception:  # noqa: BLE001 - an error page must render even then
                g.web_librarian = None
        return g.web_librarian

    return {"current_user": librarian(), "current_locale": lambda: str(get_locale())}


def login_required(view):
    """Send a visitor without a valid session to sign in, and back here afterwards."""

    @functools.wraps(view)
    def wrapped(*args, **kwargs):
        if signed_in() is None:
            return to_sign_in()
        return view(*args, **kwargs)

    return wrapped


def to_sign_in():
    target = url_for("web.login", next=_here())
    if request.headers.get("HX-Request") == "true":
        # htmx would swap the sign-in page into a table cell; make it navigate instead.
        return "", 200, {"HX-Redirect": target}
    return redirect(target)


def _here():
    """The page the librarian was on: for htmx and form posts, the page that sent them."""
    if request.method == "GET" and request.headers.get("HX-Request") != "true":
        return request.full_path.rstrip("?")
    return referring_path()


def referring_path():
    """The path of the page of this site that sent this request, or None."""
    source = request.headers.get("HX-Current-URL") or request.referrer or ""
    parts = urlsplit(source)
    if not parts.path or (parts.netloc and parts.netloc != request.host):
        return None
    return parts.path + (f"?{parts.query}" if parts.query else "")


def safe_next(target):
    """`target` if it is a path on this site, else the dashboard (no open redirects)."""
    if target:
        parts = urlsplit(target)
        if (
            not parts.scheme
            and not parts.netloc
            and target.startswith("/")
            and not target.startswith("//")
            and "\\" not in target
        ):
            return target
    return url_for("web.dashboard")


def start_session(response, librarian):
    set_access_cookies(response, create_access_token(identity=librarian))
    return response


def end_session(response):
    unset_access_cookies(response)
    return response


@bp.after_request
def _refresh_token(response):
    """Give an active librarian a new token once half of the current one's life is gone."""
    payload = g.get("web_token")
    if payload:  # signing out drops it, so no fresh token follows a sign-out
        lifetime = current_app.config["JWT_ACCESS_TOKEN_EXPIRES"].total_seconds()
        left = payload["exp"] - datetime.now(UTC).timestamp()
        if 0 < left < lifetime / 2 and current_user:
            set_access_cookies(response, create_access_token(identity=current_user))
    return response

"""What every response gets: security headers, a request id, and one log line.

The Content-Security-Policy allows nothing inline and nothing from another origin:
every script and style is a file under /static (htmx runs with `allowEval: false`).
The request id comes from the caller's `X-Request-ID` when it is a sane token (a
proxy's or a script's), else is made here; it is sent back, and every log line of the
request can be matched by it.
"""

import json
import logging
import re
import time
import uuid

from flask import g, request
from sqlalchemy import inspect

CSP = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}
REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")

log = logging.getLogger("library.request")


def request_id():
    return getattr(g, "request_id", None)


def init_app(app):
    @app.before_request
    def _start():
        given = request.headers.get("X-Request-ID", "")
        g.request_id = given if REQUEST_ID.fullmatch(given) else uuid.uuid4().hex
        g.request_started = time.perf_counter()

    @app.after_request
    def _finish(response):
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        if app.config["LIBRARY_ENV"] == "production":
            response.headers.setdefault("Strict-Transport-Security", "max-age=31536000")
        rid = request_id()
        if rid:
            response.headers["X-Request-ID"] = rid
            _log_request(response, rid)
        return response


def _librarian_id():
    """The signed-in librarian's id, if this request had one (never the token)."""
    from flask_jwt_extended import get_current_user

    try:
        user = get_current_user()
    except RuntimeError:  # no token was checked on this request
        return None
    # From the identity map, not the row: after a rollback the instance is expired, and
    # reloading it would ask the database again (gone, if that is why we rolled back).
    state = inspect(user, raiseerr=False) if user is not None else None
    if state is not None and state.identity:
        return state.identity[0]
    return getattr(user, "id", None)


def _log_request(response, rid):
    """One JSON line: who asked what, the answer, and how long it took.

    Only the path is logged, not the query string or any header or body: those may
    carry a password, a token or a cookie.
    """
    started = getattr(g, "request_started", None)
    line = {
        "event": "request",
        "request_id": rid,
        "method": request.method,
        "path": request.path,
        "status": response.status_code,
        "ms": round((time.perf_counter() - started) * 1000, 1) if started else None,
        "librarian_id": _librarian_id(),
        "remote_addr": request.remote_addr,
    }
    log.info(json.dumps(line, ensure_ascii=False))

"""Sign-in throttling: too many failed sign-ins for one email, or from one address,
get 429 with Retry-After until the window has passed (flask-limiter).

Only failures count (a 401 answer), so a librarian who signs in right is never slowed
down; the counters are shared by the API and the sign-in page, and, with Redis, by
every worker and host.
"""

import time

from flask import current_app, request
from flask_limiter.util import get_remote_address

from ..extensions import limiter


def _email_key():
    """The email being tried (JSON `email`, or the form's `email` / OAuth2 `username`)."""
    try:
        data = request.get_json(silent=True) if request.is_json else request.form
    except RecursionError:  # absurdly nested JSON: the view answers 400
        data = None
    email = ""
    if isinstance(data, dict):
        email = data.get("email") or data.get("username") or ""
    # flask-limiter skips (and logs an error for) an empty key: no email is a key too.
    return str(email).strip().lower()[:254] or "(no email)"


def _failed(response):
    return response.status_code == 401


def throttled(on_breach=None):
    """Decorate a sign-in view: per-email and per-address limits on failed attempts."""

    def decorator(fn):
        for scope, key_func, setting in (
            ("login-address", get_remote_address, "LOGIN_LIMIT_PER_ADDRESS"),
            ("login-email", _email_key, "LOGIN_LIMIT_PER_EMAIL"),
        ):
            fn = limiter.shared_limit(
                lambda setting=setting: current_app.config[setting],
                scope=scope,
                key_func=key_func,
                methods=["POST"],
                deduct_when=_failed,
                on_breach=on_breach,
                error_message="Too many failed sign-ins; try again later.",
            )(fn)
        return fn

    return decorator


def retry_after(request_limit):
    """Seconds until a breached limit lets the next attempt through."""
    return max(1, int(request_limit.reset_at - time.time()))

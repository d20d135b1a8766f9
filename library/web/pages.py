"""Error pages of the web face: a readable page, never a raw traceback or JSON."""

from flask import current_app, g, request
from flask_babel import gettext as _

from ..api.problems import status_of
from ..extensions import db
from ..i18n import error_detail, status_title
from .render import render

MESSAGES = {
    400: lambda: _("The request could not be read. Go back, reload the page and try again."),
    403: lambda: _("You are not allowed to do that."),
    404: lambda: _("There is nothing at this address."),
    405: lambda: _("This address does not accept that kind of request."),
    413: lambda: _("What you sent is too large."),
    429: lambda: _("Too many attempts. Wait a moment and try again."),
    500: lambda: _("Something went wrong on our side; it has been logged."),
    503: lambda: _("The library's database is unavailable for a moment. Try again shortly."),
}


def error_page(status, message):
    # Roll back before rendering: the page must not commit half of the failed request.
    db.session.rollback()
    return render(
        "error.html",
        block="content",
        status=status,
        status_phrase=status_title(status),
        message=message,
    )


def library_error_page(exc):
    return error_page(status_of(exc), error_detail(exc))


def http_error_page(exc):
    if getattr(exc, "response", None) is not None:
        return exc.response  # made for this error already (the throttled sign-in form)
    status = exc.code or 500
    if getattr(exc, "description", None) and status == 400 and "CSRF" in exc.description:
        message = _(
            "This form has expired or was not sent from this site. Reload the page and try again."
        )
    else:
        message = MESSAGES.get(status, lambda: status_title(status))()
    response = error_page(status, message)
    for key, value in exc.get_headers():
        if key.lower() not in ("content-type", "content-length"):
            response.headers[key] = value
    return response


def unavailable_page(exc):
    current_app.logger.error("database unavailable on %s %s: %s", request.method, request.path, exc)
    # Render as signed out: looking the librarian up (or reloading them after the
    # rollback) would ask the absent database again, and wait its connect timeout again.
    g.web_librarian = None
    g.pop("web_token", None)  # nor make them a fresh token (session._refresh_token)
    response = error_page(503, MESSAGES[503]())
    response.headers["Retry-After"] = "5"
    return response


def unexpected_page(exc):
    current_app.logger.exception("unhandled error on %s %s", request.method, request.path)
    return error_page(500, MESSAGES[500]())

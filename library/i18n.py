"""Languages (SPEC section 9): which one a request is answered in, and the domain's
messages translated at the edges.

The circulation module stays free of Flask: its errors carry an English message
template (marked with `N_` so `pybabel extract` finds it) and the values to fill in.
Each face translates the template, then fills it in (`error_detail`).
"""

import re
from http import HTTPStatus

from flask import current_app, g, has_request_context, request, session
from flask_babel import gettext, lazy_gettext

from .circulation.errors import N_
from .circulation.values import ISBN_REASONS, NOT_AN_ISBN

__all__ = [
    "LANGUAGE_NAMES",
    "N_",
    "error_detail",
    "field_message",
    "select_locale",
    "select_timezone",
    "status_title",
]

SESSION_KEY = "language"

# Each language by its own name: how the header switch and the reader form offer them.
LANGUAGE_NAMES = {"en": "English", "ru": "Русский"}

# Problem `title`s and the heading of error pages, one per status the app answers with.
# Spelled here rather than taken from `HTTPStatus`, whose phrases change between Python
# versions (422 is "Unprocessable Entity" in 3.11, "Unprocessable Content" in 3.13).
TITLES = {
    400: lazy_gettext("Bad Request"),
    401: lazy_gettext("Unauthorized"),
    403: lazy_gettext("Forbidden"),
    404: lazy_gettext("Not Found"),
    405: lazy_gettext("Method Not Allowed"),
    409: lazy_gettext("Conflict"),
    413: lazy_gettext("Request Entity Too Large"),
    415: lazy_gettext("Unsupported Media Type"),
    422: lazy_gettext("Unprocessable Entity"),
    429: lazy_gettext("Too Many Requests"),
    500: lazy_gettext("Internal Server Error"),
    503: lazy_gettext("Service Unavailable"),
}


def status_title(status):
    """The short name of an HTTP status, in the request's language."""
    title = TITLES.get(status)
    return str(title) if title is not None else HTTPStatus(status).phrase


def error_detail(exc):
    """A domain error's message in the request's language: the template is translated,
    then filled in with the error's values (so the values are never translated)."""
    return gettext(exc.message).format(**exc.params)


# Field messages of the schemas (the API's `errors`, `books import`'s rejected rows), given
# in the request's language: marshmallow's own and ours that have no values in them;
# others stay as written.
FIELD_MESSAGES = frozenset(
    {
        N_("Missing data for required field."),
        N_("Field may not be null."),
        N_("Unknown field."),
        N_("Invalid input type."),
        N_("Invalid value."),
        N_("Not a valid string."),
        N_("Not a valid integer."),
        N_("Not a valid number."),
        N_("Not a valid boolean."),
        N_("Not a valid email address."),
        N_("Not a valid datetime."),
        N_("Not a valid list."),
        N_("Not a valid mapping type."),
        N_("Must not contain NUL characters or unpaired surrogates."),
        NOT_AN_ISBN,
        *ISBN_REASONS.values(),
        N_("A card number is 4 to 20 digits."),
        N_("Give `email` (or `username`)."),
    }
)


# marshmallow's messages with values in them (Length, Range, OneOf), as its validators
# word them: recognised by their wording, then given in the request's language with the
# same values.
FIELD_TEMPLATES = (
    N_("Shorter than minimum length {min}."),
    N_("Longer than maximum length {max}."),
    N_("Length must be between {min} and {max}."),
    N_("Length must be {equal}."),
    N_("Must be greater than or equal to {min} and less than or equal to {max}."),
    N_("Must be greater than or equal to {min}."),
    N_("Must be less than or equal to {max}."),
    N_("Must be one of: {choices}."),
    N_("Must be between {min} and {max}."),  # ours: a book's year (api/schemas.py)
)


def _pattern(template):
    """A pattern that matches `template` filled in, each value a named group."""
    parts = re.split(r"\{(\w+)\}", template)
    return re.compile(
        "".join(re.escape(p) if i % 2 == 0 else f"(?P<{p}>.+)" for i, p in enumerate(parts))
    )


# The wordiest first: "... {min}." would also match the text of "... {min} and ... {max}.".
_TEMPLATE_PATTERNS = [
    (_pattern(t), t) for t in sorted(FIELD_TEMPLATES, key=lambda t: -len(re.sub(r"\{\w+\}", "", t)))
]


def field_message(message):
    """A schema's message for a field, in the request's language when we have it."""
    message = str(message)
    if message in FIELD_MESSAGES:
        return gettext(message)
    for pattern, template in _TEMPLATE_PATTERNS:
        if found := pattern.fullmatch(message):
            return gettext(template).format(**found.groupdict())
    return message


def languages():
    return current_app.config["LANGUAGES"]


def default_language():
    """DEFAULT_LANGUAGE, or the first language we have if it names none of them."""
    default = current_app.config["DEFAULT_LANGUAGE"]
    return default if default in languages() else languages()[0]


def select_locale():
    """The language of this request's answer.

    Pages: the signed-in librarian's choice (the header switch), else the choice made
    with that switch while signed out (kept in the session), else `Accept-Language`,
    else DEFAULT_LANGUAGE. The API: `Accept-Language`, else DEFAULT_LANGUAGE. Outside
    a request (the CLI, the worker): DEFAULT_LANGUAGE; notifications force their
    reader's language themselves.
    """
    if not has_request_context():
        return default_language()
    if not _is_api():
        chosen = _librarians_choice() or session.get(SESSION_KEY)
        if chosen in languages():
            return chosen
    default = default_language()
    # The default first: a browser that accepts anything ("*") gets it.
    offered = (default, *(code for code in languages() if code != default))
    return request.accept_languages.best_match(offered) or default


def select_timezone():
    """Dates on pages are calendar dates in LIBRARY_TIMEZONE, read at each request."""
    return current_app.config["LIBRARY_TIMEZONE"]


def _is_api():
    return request.path.startswith(("/api/", "/telegram/")) or request.path == "/healthz"


def _librarians_choice():
    """The signed-in librarian's saved language, or None.

    Uses the librarian the request has already looked up when there is one, so that
    choosing the language costs no query of its own.
    """
    from .web.session import signed_in

    try:
        if "web_librarian" not in g:
            g.web_librarian = signed_in()
        librarian = g.web_librarian
        return librarian.language if librarian is not None else None
    except Exception:  # noqa: BLE001 - a page (an error page too) must render anyway
        return None

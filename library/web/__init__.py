"""The librarian's pages: htmx over the same circulation module as the JSON API.

Views parse a form, call `circulation`, commit once and render; a rule the domain
refuses comes back as a message beside the field or the row that caused it.
"""

from flask import Blueprint

# Dates on the pages are in the locale's form, through Babel's `dateformat` filter, as
# calendar dates in LIBRARY_TIMEZONE (i18n.select_timezone); only the notifications
# write YYYY-MM-DD (SPEC section 5).
bp = Blueprint("web", __name__)

# The modules register their views and hooks on `bp`.
from . import (  # noqa: E402
    auth,
    books,
    dashboard,
    holds,
    language,
    loans,
    notifications,
    readers,
    search,
    session,
)

__all__ = [
    "auth",
    "books",
    "bp",
    "dashboard",
    "holds",
    "language",
    "loans",
    "notifications",
    "readers",
    "search",
    "session",
]

"""The librarian's pages: htmx over the same circulation module as the JSON API.

Views parse a form, call `circulation`, commit once and render; a rule the domain
refuses comes back as a message beside the field or the row that caused it.
"""

from flask import Blueprint

bp = Blueprint("web", __name__)

# The modules register their views and hooks on `bp`.
from . import auth, books, dashboard, loans, notifications, readers, search, session  # noqa: E402

__all__ = [
    "auth",
    "books",
    "bp",
    "dashboard",
    "loans",
    "notifications",
    "readers",
    "search",
    "session",
]

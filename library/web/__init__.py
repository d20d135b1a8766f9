"""The librarian's pages: htmx over the same circulation module as the JSON API.

Views parse a form, call `circulation`, commit once and render; a rule the domain
refuses comes back as a message beside the field or the row that caused it.
"""

from flask import Blueprint

from ..notifications.messages import local_date

bp = Blueprint("web", __name__)
# Calendar dates as the notifications write them: YYYY-MM-DD in LIBRARY_TIMEZONE.
bp.add_app_template_filter(local_date, "local_date")

# The modules register their views and hooks on `bp`.
from . import (  # noqa: E402
    auth,
    books,
    dashboard,
    holds,
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
    "loans",
    "notifications",
    "readers",
    "search",
    "session",
]

"""Errors answered by the face that was asked: problem+json for the API, a page otherwise.

Routing 404s and 405s never reach a blueprint's handlers, so the choice is made here,
at app level, by the request's path (Flask docs, "Handling Application Errors").
"""

from sqlalchemy.exc import OperationalError
from werkzeug.exceptions import HTTPException

from .api import problems
from .circulation.errors import LibraryError
from .web import pages


def _is_api():
    from flask import request

    return request.path.startswith(("/api/", "/telegram/")) or request.path == "/healthz"


def _by_face(api_handler, page_handler):
    def handle(exc):
        return api_handler(exc) if _is_api() else page_handler(exc)

    handle.__name__ = f"{api_handler.__name__}_or_page"
    return handle


def register_error_handlers(app):
    app.register_error_handler(
        LibraryError, _by_face(problems.library_problem, pages.library_error_page)
    )
    app.register_error_handler(
        HTTPException, _by_face(problems.http_problem, pages.http_error_page)
    )
    app.register_error_handler(
        OperationalError, _by_face(problems.database_unavailable, pages.unavailable_page)
    )
    if not app.testing:
        app.register_error_handler(
            Exception, _by_face(problems.unexpected_problem, pages.unexpected_page)
        )

"""Small helpers the page modules share."""

from flask import request

from ..circulation.values import MAX_ID
from ..i18n import error_detail

PER_PAGE = 20


def page_args():
    """`page` and `per_page` from the query; nonsense falls back to the first page."""
    page = request.args.get("page", 1, type=int)
    per_page = request.args.get("per_page", PER_PAGE, type=int)
    page = page if 1 <= page <= MAX_ID else 1
    per_page = per_page if 1 <= per_page <= 100 else PER_PAGE
    return page, per_page


def field_error(form, exc, default):
    """Put a refused rule's message beside the field that caused it."""
    name = exc.field if exc.field in form else default
    form[name].errors = [*form[name].errors, error_detail(exc)]
    form.conflict = True


def form_status(form):
    """A refused form answers 422 (409 for a rule), so tools and htmx can tell it failed."""
    if not form.is_submitted():
        return 200
    return 409 if getattr(form, "conflict", False) else 422

"""Holds on the pages: cancel from a reader's list; the messages of the hold rules.

Placing a hold lives with the issue box of the reader's page (readers.py), the queue
of a book on its page (books.py), the hold shelf on the dashboard.
"""

from flask import flash, redirect, request, url_for
from flask_babel import gettext as _

from .. import circulation
from ..circulation.errors import LibraryError
from ..extensions import db
from ..i18n import error_detail
from ..models import utcnow
from . import bp
from .render import is_htmx, render
from .session import login_required, referring_path, safe_next


@bp.post("/holds/<int:hold_id>/cancel")
@login_required
def cancel_hold(hold_id):
    """Cancel a waiting or ready hold; htmx gets the hold's row back with the outcome."""
    error = notice = None
    try:
        hold = circulation.cancel_hold(hold_id, now=utcnow())
        db.session.commit()
        notice = _("Cancelled the hold on “%(title)s”.", title=hold.book.title)
    except LibraryError as exc:
        db.session.rollback()
        if exc.code == "hold_not_found":
            raise
        hold = circulation.get_hold(hold_id, refresh=True)
        error = hold_message(exc)
    if not is_htmx():
        flash(error or notice, "error" if error else "success")
        back = url_for(".reader_detail", reader_id=hold.reader_id)
        return redirect(safe_next(request.form.get("next") or referring_path() or back))
    return render(
        "holds/_row.html", status=409 if error else 200, hold=hold, notice=notice, error=error
    )


def hold_message(exc):
    """What a refused hold operation says beside the field or in the row."""
    messages = {
        "copy_available": lambda: _("A copy of this book is on the shelf: issue it instead."),
        "already_on_hold": lambda: _("This reader is already waiting for this book."),
        "hold_limit_reached": lambda: _(
            "This reader already has %(limit)s holds, the most allowed.",
            limit=exc.params.get("limit"),
        ),
        "already_borrowed": lambda: _("This reader already has this book on loan."),
        "book_not_found": lambda: _("That book is not in the catalog."),
        "hold_not_active": lambda: _("This hold has already ended."),
    }
    return messages.get(exc.code, lambda: error_detail(exc))()

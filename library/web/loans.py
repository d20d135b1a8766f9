"""Loans: open, overdue, returned; return and renew from any list."""

from flask import flash, redirect, request
from flask_babel import format_date
from flask_babel import gettext as _
from flask_jwt_extended import current_user

from .. import circulation
from ..circulation.errors import LibraryError
from ..extensions import db
from ..i18n import error_detail
from ..models import utcnow
from . import bp
from .render import is_htmx, render
from .session import login_required, referring_path, safe_next
from .util import page_args

TABS = ("open", "overdue", "returned", "all")


@bp.get("/loans")
@login_required
def loans():
    status = request.args.get("status", "open")
    status = status if status in TABS else "open"
    page, per_page = page_args()
    result = circulation.list_loans(now=utcnow(), status=status, page=page, per_page=per_page)
    return render("loans/list.html", block="results", page=result, tab=status, now=utcnow())


@bp.post("/loans/<int:loan_id>/return")
@login_required
def return_loan(loan_id):
    return _act(
        loan_id,
        circulation.return_loan,
        lambda loan: _("Returned “%(title)s”.", title=loan.book.title),
    )


@bp.post("/loans/<int:loan_id>/renew")
@login_required
def renew_loan(loan_id):
    return _act(
        loan_id,
        circulation.renew_loan,
        lambda loan: _(
            "Renewed “%(title)s” until %(due)s.",
            title=loan.book.title,
            due=format_date(loan.due_at),
        ),
    )


def _act(loan_id, operation, success):
    """Return or renew; htmx gets the loan's row back with the outcome written in it."""
    error = notice = None
    try:
        loan = operation(loan_id, now=utcnow(), actor_id=current_user.id)
        db.session.commit()
        notice = success(loan)
    except LibraryError as exc:
        db.session.rollback()
        if exc.code == "loan_not_found":
            raise
        loan = circulation.get_loan(loan_id)
        error = _row_message(exc)
    if not is_htmx():
        flash(error or notice, "error" if error else "success")
        return redirect(safe_next(request.form.get("next") or referring_path()))
    return render(
        "loans/_row.html",
        status=409 if error else 200,
        loan=loan,
        now=utcnow(),
        show_reader=request.form.get("context") != "reader",
        notice=notice,
        error=error,
    )


def _row_message(exc):
    messages = {
        "already_returned": lambda: _("This loan has already been returned."),
        "renewal_limit_reached": lambda: _(
            "Renewed %(limit)s times already, the most allowed.", limit=exc.params.get("limit")
        ),
        "book_on_hold": lambda: _("Readers are waiting for this book: it cannot be renewed."),
    }
    return messages.get(exc.code, lambda: error_detail(exc))()

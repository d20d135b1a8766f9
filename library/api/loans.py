"""/api/v1/loans: issue, return, renew."""

from flask import url_for
from flask_jwt_extended import current_user

from .. import circulation
from .base import Blueprint, now
from .idempotency import DOC as IDEMPOTENCY_DOC
from .idempotency import idempotent
from .schemas import LoanIn, LoanOut, LoanQuery, page_of

blp = Blueprint("loans", __name__, url_prefix="/api/v1/loans", description="Loans")


@blp.get("")
@blp.arguments(LoanQuery, location="query")
@blp.response(200, page_of(LoanOut))
@blp.problems(422)
@blp.authenticated
def list_loans(args):
    """Loans, newest first, by status (open, returned, overdue, all), reader and book."""
    return circulation.list_loans(now=now(), **args)


@blp.post("")
@blp.authenticated
@blp.doc(**IDEMPOTENCY_DOC)
@idempotent
@blp.arguments(LoanIn)
@blp.response(201, LoanOut)
@blp.problems(404, 409, 422)
def create_loan(args):
    """Issue a book to a reader."""
    loan = circulation.issue_loan(
        args["book_id"], args["reader_id"], now=now(), actor_id=current_user.id
    )
    return loan, 201, {"Location": url_for(".get_loan", loan_id=loan.id)}


@blp.post("/return")
@blp.authenticated
@blp.doc(**IDEMPOTENCY_DOC)
@idempotent
@blp.arguments(LoanIn)
@blp.response(200, LoanOut)
@blp.problems(409, 422)
def return_book(args):
    """Return a book by `{book_id, reader_id}`."""
    return circulation.return_book(
        args["book_id"], args["reader_id"], now=now(), actor_id=current_user.id
    )


@blp.get("/<int:loan_id>")
@blp.response(200, LoanOut)
@blp.problems(404)
@blp.authenticated
def get_loan(loan_id):
    """One loan."""
    return circulation.get_loan(loan_id)


@blp.post("/<int:loan_id>/return")
@blp.authenticated
@blp.doc(**IDEMPOTENCY_DOC)
@idempotent
@blp.response(200, LoanOut)
@blp.problems(404, 409, 422)
def return_loan(loan_id):
    """Return the book of this loan."""
    return circulation.return_loan(loan_id, now=now(), actor_id=current_user.id)


@blp.post("/<int:loan_id>/renew")
@blp.authenticated
@blp.doc(**IDEMPOTENCY_DOC)
@idempotent
@blp.response(200, LoanOut)
@blp.problems(404, 409, 422)
def renew_loan(loan_id):
    """Extend a loan by another loan period."""
    return circulation.renew_loan(loan_id, now=now(), actor_id=current_user.id)

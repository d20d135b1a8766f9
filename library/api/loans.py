"""/api/v1/loans: issue, return, renew."""

from flask import url_for
from flask_jwt_extended import current_user

from .. import circulation
from ..extensions import db
from .base import Blueprint, now
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
@blp.arguments(LoanIn)
@blp.response(201, LoanOut)
@blp.problems(404, 409, 422)
@blp.authenticated
def create_loan(args):
    """Issue a book to a reader."""
    loan = circulation.issue_loan(
        args["book_id"], args["reader_id"], now=now(), actor_id=current_user.id
    )
    db.session.commit()
    return loan, 201, {"Location": url_for(".get_loan", loan_id=loan.id)}


@blp.post("/return")
@blp.arguments(LoanIn)
@blp.response(200, LoanOut)
@blp.problems(409, 422)
@blp.authenticated
def return_book(args):
    """Return a book by `{book_id, reader_id}`."""
    loan = circulation.return_book(
        args["book_id"], args["reader_id"], now=now(), actor_id=current_user.id
    )
    db.session.commit()
    return loan


@blp.get("/<int:loan_id>")
@blp.response(200, LoanOut)
@blp.problems(404)
@blp.authenticated
def get_loan(loan_id):
    """One loan."""
    return circulation.get_loan(loan_id)


@blp.post("/<int:loan_id>/return")
@blp.response(200, LoanOut)
@blp.problems(404, 409)
@blp.authenticated
def return_loan(loan_id):
    """Return the book of this loan."""
    loan = circulation.return_loan(loan_id, now=now(), actor_id=current_user.id)
    db.session.commit()
    return loan


@blp.post("/<int:loan_id>/renew")
@blp.response(200, LoanOut)
@blp.problems(404, 409)
@blp.authenticated
def renew_loan(loan_id):
    """Extend a loan by another loan period."""
    loan = circulation.renew_loan(loan_id, now=now(), actor_id=current_user.id)
    db.session.commit()
    return loan

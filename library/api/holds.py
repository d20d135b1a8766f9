"""/api/v1/holds: the waiting list for books whose copies are all out (SPEC section 7)."""

from flask import url_for
from flask_jwt_extended import current_user

from .. import circulation
from .base import Blueprint, now
from .idempotency import DOC as IDEMPOTENCY_DOC
from .idempotency import idempotent
from .schemas import HoldOut, HoldQuery, LoanIn, page_of

blp = Blueprint("holds", __name__, url_prefix="/api/v1/holds", description="Holds")


@blp.get("")
@blp.arguments(HoldQuery, location="query")
@blp.response(200, page_of(HoldOut))
@blp.problems(422)
@blp.authenticated
def list_holds(args):
    """Holds in queue order, by status (or `active`: waiting and ready), book and reader."""
    return circulation.list_holds(**args)


@blp.post("")
@blp.authenticated
@blp.doc(**IDEMPOTENCY_DOC)
@idempotent
@blp.arguments(LoanIn)
@blp.response(201, HoldOut)
@blp.problems(404, 409, 422)
def place_hold(args):
    """Put a reader in the queue for a book whose copies are all out."""
    hold = circulation.place_hold(
        args["book_id"], args["reader_id"], now=now(), actor_id=current_user.id
    )
    return hold, 201, {"Location": url_for(".get_hold", hold_id=hold.id)}


@blp.get("/<int:hold_id>")
@blp.response(200, HoldOut)
@blp.problems(404)
@blp.authenticated
def get_hold(hold_id):
    """One hold, with its place in the queue."""
    return circulation.get_hold(hold_id)


@blp.post("/<int:hold_id>/cancel")
@blp.authenticated
@blp.doc(**IDEMPOTENCY_DOC)
@idempotent
@blp.response(200, HoldOut)
@blp.problems(404, 409, 422)
def cancel_hold(hold_id):
    """Cancel a waiting or ready hold; a ready hold's copy goes to the next in line."""
    return circulation.cancel_hold(hold_id, now=now())

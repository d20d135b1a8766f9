"""/api/v1/readers: patrons and their loans."""

from flask import url_for

from .. import circulation
from ..extensions import db
from .base import Blueprint, now
from .schemas import (
    LoanOut,
    LoanStatusQuery,
    ReaderIn,
    ReaderOut,
    ReaderPatch,
    ReaderPut,
    ReaderQuery,
    page_of,
)

blp = Blueprint("readers", __name__, url_prefix="/api/v1/readers", description="Readers")


@blp.get("")
@blp.arguments(ReaderQuery, location="query")
@blp.response(200, page_of(ReaderOut))
@blp.problems(422)
@blp.authenticated
def list_readers(args):
    """Search readers by name word starts, email, or exact card number."""
    return circulation.search_readers(**args)


@blp.post("")
@blp.arguments(ReaderIn)
@blp.response(201, ReaderOut)
@blp.problems(409, 422)
@blp.authenticated
def create_reader(args):
    """Register a reader; without `card_number` the next free one is assigned."""
    reader = circulation.add_reader(now=now(), **args)
    db.session.commit()
    return reader, 201, {"Location": url_for(".get_reader", reader_id=reader.id)}


@blp.get("/<int:reader_id>")
@blp.response(200, ReaderOut)
@blp.problems(404)
@blp.authenticated
def get_reader(reader_id):
    """One reader."""
    return circulation.get_reader(reader_id)


@blp.put("/<int:reader_id>")
@blp.arguments(ReaderPut)
@blp.response(200, ReaderOut)
@blp.problems(404, 409, 422)
@blp.authenticated
def replace_reader(args, reader_id):
    """Replace a reader's fields."""
    reader = circulation.update_reader(reader_id, args, now=now())
    db.session.commit()
    return reader


@blp.patch("/<int:reader_id>")
@blp.arguments(ReaderPatch)
@blp.response(200, ReaderOut)
@blp.problems(404, 409, 422)
@blp.authenticated
def update_reader(args, reader_id):
    """Change some of a reader's fields."""
    reader = circulation.update_reader(reader_id, args, now=now())
    db.session.commit()
    return reader


@blp.delete("/<int:reader_id>")
@blp.response(204)
@blp.problems(404, 409)
@blp.authenticated
def delete_reader(reader_id):
    """Delete a reader with no open loan; their loan history stays readable."""
    circulation.delete_reader(reader_id, now=now())
    db.session.commit()


@blp.get("/<int:reader_id>/loans")
@blp.arguments(LoanStatusQuery, location="query")
@blp.response(200, page_of(LoanOut))
@blp.problems(404, 422)
@blp.authenticated
def reader_loans(args, reader_id):
    """A reader's loans, newest first (`status=open` for what they hold now)."""
    circulation.get_reader(reader_id)
    return circulation.list_loans(now=now(), reader_id=reader_id, **args)

"""/api/v1/books: the catalog."""

from flask import url_for

from .. import circulation
from ..extensions import db
from .base import Blueprint, now
from .schemas import BookIn, BookOut, BookPatch, BookPut, BookQuery, page_of

blp = Blueprint("books", __name__, url_prefix="/api/v1/books", description="The catalog")


@blp.get("")
@blp.arguments(BookQuery, location="query")
@blp.response(200, page_of(BookOut, capped=True))
@blp.problems(422)
@blp.authenticated
def list_books(args):
    """Search the catalog by title and author word starts, or by ISBN.

    `total` counts the books up to a cap; `total_capped` is true when more match.
    """
    return circulation.search_books(**args)


@blp.post("")
@blp.arguments(BookIn)
@blp.response(201, BookOut)
@blp.problems(409, 422)
@blp.authenticated
def create_book(args):
    """Add a book; `copies_total` copies go on the shelf."""
    book = circulation.add_book(now=now(), **args)
    db.session.commit()
    return book, 201, {"Location": url_for(".get_book", book_id=book.id)}


@blp.get("/<int:book_id>")
@blp.response(200, BookOut)
@blp.problems(404)
@blp.authenticated
def get_book(book_id):
    """One book."""
    return circulation.get_book(book_id)


@blp.put("/<int:book_id>")
@blp.arguments(BookPut)
@blp.response(200, BookOut)
@blp.problems(404, 409, 422)
@blp.authenticated
def replace_book(args, book_id):
    """Replace a book's fields; optional ones left out are emptied."""
    book = circulation.update_book(book_id, args, now=now())
    db.session.commit()
    return book


@blp.patch("/<int:book_id>")
@blp.arguments(BookPatch)
@blp.response(200, BookOut)
@blp.problems(404, 409, 422)
@blp.authenticated
def update_book(args, book_id):
    """Change some of a book's fields."""
    book = circulation.update_book(book_id, args, now=now())
    db.session.commit()
    return book


@blp.delete("/<int:book_id>")
@blp.response(204)
@blp.problems(404, 409)
@blp.authenticated
def withdraw_book(book_id):
    """Withdraw a book with no copy on loan; its loan history stays."""
    circulation.withdraw_book(book_id, now=now())
    db.session.commit()

"""The header search: a scanned card opens the reader, an ISBN the book, words search both."""

from flask import redirect, request, url_for

from .. import circulation
from ..circulation.values import isbn_or_none
from . import bp
from .render import render
from .session import login_required


@bp.get("/search")
@login_required
def search():
    q = request.args.get("q", "").strip()
    if not q:
        return redirect(url_for(".dashboard"))
    reader = circulation.find_reader_by_card(q)
    if reader is not None:
        return redirect(url_for(".reader_detail", reader_id=reader.id))
    book = circulation.find_book_by_isbn(isbn_or_none(q))
    if book is not None:
        return redirect(url_for(".book_detail", book_id=book.id))
    return render(
        "search.html",
        q=q,
        books=circulation.search_books(q=q, per_page=20),
        readers=circulation.search_readers(q=q, per_page=20),
    )

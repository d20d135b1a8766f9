"""The catalog: add, change, withdraw and search books."""

from sqlalchemy import and_, func, literal_column, or_, select, text, update
from sqlalchemy.exc import IntegrityError

from ..extensions import db
from ..models import Book
from .common import paginate, violated
from .errors import BookNotFound, BookOnLoan, CopiesOnLoan, IsbnTaken
from .values import fold, isbn_or_none, like_escape, valid_id

EDITABLE = ("title", "author", "isbn", "year", "description")


def get_book(book_id):
    """The catalog's book `book_id`.

    Raises BookNotFound (also for a withdrawn book).
    """
    book = db.session.get(Book, book_id) if valid_id(book_id) else None
    if book is None or book.withdrawn_at is not None:
        raise BookNotFound(book_id=book_id)
    return book


def find_book_by_isbn(isbn):
    """The catalog's book with this ISBN-13, or None (a scan at the desk)."""
    if not isbn:
        return None
    return db.session.scalar(select(Book).where(Book.isbn == isbn, Book.withdrawn_at.is_(None)))


def words_match(column, q):
    """Every word of `q` starts some word of `column` (a search_text column)."""
    return and_(*(column.like(f"% {like_escape(w)}%", escape="\\") for w in fold(q)))


def _indexed_words_match(words):
    """Every word starts some word of the book's search_text, answered by the search
    index of the migration 0005 (PostgreSQL full-text, SQLite FTS5), not by a scan.

    The words come from `fold` (letters, digits, underscore), so they need no quoting
    beyond the quotes around each.
    """
    if db.session.get_bind().dialect.name == "postgresql":
        # The same expression as the index, with the configuration as a literal.
        simple = literal_column("'simple'")
        tsquery = " & ".join(f"'{w}':*" for w in words)
        return func.to_tsvector(simple, Book.search_text).op("@@")(func.to_tsquery(simple, tsquery))
    fts = " AND ".join(f'"{w}"*' for w in words)
    return Book.id.in_(
        select(literal_column("rowid"))
        .select_from(text("book_fts"))
        .where(text("book_fts MATCH :fts").bindparams(fts=fts))
    )


def search_books(q=None, available=None, page=1, per_page=20):
    """A page of the catalog, by title; `q` matches title/author word starts or an ISBN."""
    stmt = select(Book).where(Book.withdrawn_at.is_(None))
    q = (q or "").replace("\x00", "")  # NUL: no stored text has one (PostgreSQL refuses it)
    if q.strip():
        words = fold(q)
        match = _indexed_words_match(words) if words else None
        isbn = isbn_or_none(q)
        if isbn and match is not None:
            match = or_(Book.isbn == isbn, match)
        elif isbn:
            match = Book.isbn == isbn
        if match is None:  # punctuation only: nothing can match
            match = Book.id.is_(None)
        stmt = stmt.where(match)
    if available is True:
        stmt = stmt.where(Book.copies_available > 0)
    elif available is False:
        stmt = stmt.where(Book.copies_available == 0)
    return paginate(stmt.order_by(Book.title, Book.id), page, per_page)


def _ensure_isbn_free(isbn, book_id=None):
    if isbn is None:
        return
    stmt = select(Book.id).where(Book.isbn == isbn, Book.withdrawn_at.is_(None))
    if book_id is not None:
        stmt = stmt.where(Book.id != book_id)
    if db.session.scalar(stmt.limit(1)) is not None:
        raise IsbnTaken(isbn=isbn)


def _flush_book(book):
    try:
        db.session.flush()
    except IntegrityError as exc:
        if violated(exc, "isbn"):  # a concurrent add won the race for this ISBN
            raise IsbnTaken(isbn=book.isbn) from exc
        raise


def add_book(*, title, author, now, isbn=None, year=None, description=None, copies_total=1):
    """Add a book with all its copies on the shelf.

    Raises IsbnTaken.
    """
    _ensure_isbn_free(isbn)
    book = Book(
        title=title,
        author=author,
        isbn=isbn,
        year=year,
        description=description,
        copies_total=copies_total,
        copies_available=copies_total,
        created_at=now,
        updated_at=now,
    )
    db.session.add(book)
    _flush_book(book)
    return book


def update_book(book_id, changes, *, now):
    """Change the given fields of a book; `copies_total` moves the shelf count with it.

    Raises BookNotFound, IsbnTaken, CopiesOnLoan.
    """
    book = get_book(book_id)
    if "copies_total" in changes:
        _set_copies_total(book, changes["copies_total"])
        # New copies go to the readers waiting for them first.
        from .holds import pass_on  # holds build on this module

        pass_on(book.id, now=now)
        db.session.refresh(book)
    if "isbn" in changes:
        _ensure_isbn_free(changes["isbn"], book_id=book.id)
    for field in EDITABLE:
        if field in changes:
            setattr(book, field, changes[field])
    book.updated_at = now
    _flush_book(book)
    return book


def _set_copies_total(book, total):
    # One statement checks and writes, so a loan issued meanwhile is counted: the
    # copies on loan (total - available) must still fit in the new total.
    moved = db.session.execute(
        update(Book)
        .where(
            Book.id == book.id,
            Book.withdrawn_at.is_(None),
            Book.copies_total - Book.copies_available <= total,
        )
        .values(
            copies_available=Book.copies_available + (total - Book.copies_total),
            copies_total=total,
        )
        .execution_options(synchronize_session=False)
    ).rowcount
    db.session.refresh(book)
    if not moved:
        if book.withdrawn_at is not None:
            raise BookNotFound(book_id=book.id)
        raise CopiesOnLoan(book_id=book.id, on_loan=book.copies_on_loan)


def withdraw_book(book_id, *, now):
    """Hide a book from the catalog and from issue; its loans stay as history.

    Raises BookNotFound, BookOnLoan.
    """
    if not valid_id(book_id):
        raise BookNotFound(book_id=book_id)
    withdrawn = db.session.execute(
        update(Book)
        .where(
            Book.id == book_id,
            Book.withdrawn_at.is_(None),
            Book.copies_available == Book.copies_total,
        )
        .values(withdrawn_at=now, updated_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount
    if not withdrawn:
        get_book(book_id)
        raise BookOnLoan(book_id=book_id)
    from .holds import cancel_holds_of_book  # holds build on this module

    cancel_holds_of_book(book_id, now=now)

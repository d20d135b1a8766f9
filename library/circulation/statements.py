"""The desk's hot path in SQL: the statements of an issue and a return (issue 8).

An issue or a return is what the desk does all day, so each is a few statements built
once, here, on the tables (SQLAlchemy Core: no ORM unit of work, no per-request
statement building), with bound parameters. Their RETURNING rows become the loan, book
and reader the answer shows, through `loaded()`, without another query. The rest of
the app uses the ORM freely.

Parameter names never repeat a column of the table an UPDATE or INSERT writes (those
names are the statement's own).
"""

from sqlalchemy import bindparam, exists, select
from sqlalchemy.orm import make_transient_to_detached

from ..extensions import db
from ..models import Book, Hold, Loan, Reader

reader, book, loan, hold = (model.__table__ for model in (Reader, Book, Loan, Hold))

# Issue --------------------------------------------------------------------------------

# The reader's open-loan counter, while under the limit (the loan-limit rule).
COUNT_LOAN = (
    reader.update()
    .where(
        reader.c.id == bindparam("reader_id"),
        reader.c.deleted_at.is_(None),
        reader.c.open_loans < bindparam("limit"),
    )
    .values(open_loans=reader.c.open_loans + 1)
    .returning(*reader.c)
)
# A copy from the shelf, unless the reader has a ready hold of the book: then the copy
# kept for them is theirs (holds.fulfil_ready_hold), and the shelf stays as it is.
TAKE_FROM_SHELF = (
    book.update()
    .where(
        book.c.id == bindparam("book_id"),
        book.c.withdrawn_at.is_(None),
        book.c.copies_available > 0,
        ~exists().where(
            hold.c.book_id == book.c.id,
            hold.c.reader_id == bindparam("reader_id"),
            hold.c.status == "ready",
        ),
    )
    .values(copies_available=book.c.copies_available - 1)
    .returning(*book.c)
)
NEW_LOAN = loan.insert().returning(*loan.c)

# Return -------------------------------------------------------------------------------

# A return locks the loan's reader first, as an issue does (a loan's reader never
# changes, so it may be read in the same statement). FOR NO KEY UPDATE serializes with
# issues (UPDATE reader) but, unlike FOR UPDATE, does not block the foreign-key checks
# of rows that merely reference the reader. SQLite: BEGIN IMMEDIATE's write lock does it.
LOCK_READER_OF_LOAN = (
    select(reader.c.id)
    .where(
        reader.c.id
        == select(loan.c.reader_id).where(loan.c.id == bindparam("loan_id")).scalar_subquery()
    )
    .with_for_update(key_share=True)
)
LOCK_READER = (
    select(reader.c.id).where(reader.c.id == bindparam("reader_id")).with_for_update(key_share=True)
)
_CLOSED = {"returned_at": bindparam("now"), "returned_by": bindparam("actor_id")}
CLOSE_LOAN = (
    loan.update()
    .where(loan.c.id == bindparam("loan_id"), loan.c.returned_at.is_(None))
    .values(_CLOSED)
    .returning(*loan.c)
)
CLOSE_READERS_LOAN_OF_BOOK = (
    loan.update()
    .where(
        loan.c.book_id == bindparam("of_book"),
        loan.c.reader_id == bindparam("of_reader"),
        loan.c.returned_at.is_(None),
    )
    .values(_CLOSED)
    .returning(*loan.c)
)
# The book's row lock (and its shelf count): taken before its holds change.
LOCK_BOOK = (
    select(book.c.copies_available)
    .where(book.c.id == bindparam("book_id"))
    .with_for_update(key_share=True)
)
# A returned copy back on the shelf when nobody waits for the book (the usual case).
BACK_ON_SHELF = (
    book.update()
    .where(
        book.c.id == bindparam("book_id"),
        ~exists().where(hold.c.book_id == book.c.id, hold.c.status == "waiting"),
    )
    .values(copies_available=book.c.copies_available + 1)
    .returning(*book.c)
)
UNCOUNT_LOAN = (
    reader.update()
    .where(reader.c.id == bindparam("reader_id"))
    .values(open_loans=reader.c.open_loans - 1)
    .returning(*reader.c)
)


def run(statement, **params):
    """The first row `statement` returns, or None."""
    return db.session.execute(statement, params).first()


def loaded(model, row):
    """The ORM object of `row`, a whole row of `model`'s table that a statement above
    returned (or its columns' values by name), as if a query had loaded it: no SQL,
    nothing marked changed; an object of that identity already in the session takes
    the row's values. None for None."""
    if row is None:
        return None
    instance = model(**getattr(row, "_mapping", row))
    make_transient_to_detached(instance)
    return db.session.merge(instance, load=False)

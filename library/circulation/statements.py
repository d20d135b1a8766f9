"""The desk's hot path in SQL: the statements of an issue and a return (issue 8).

An issue or a return is what the desk does all day, so each is a few statements built
once, here, on the tables (SQLAlchemy Core: no ORM unit of work, no per-request
statement building), with bound parameters. Their RETURNING rows become the loan, book
and reader the answer shows, through `loaded()`, without another query. The rest of
the app uses the ORM freely.

On PostgreSQL, where every statement is a round trip to the server, the same
statements run joined as data-modifying WITH queries: an issue is one statement, a
return two (`issue`, `close`, `shelve`). The WHERE clauses, and so the rules, are the
very ones SQLite runs one by one; what may differ is only how many trips it takes.

Parameter names never repeat a column of the table an UPDATE or INSERT writes (those
names are the statement's own).
"""

from sqlalchemy import bindparam, cast, exists, literal, select, true
from sqlalchemy.orm import make_transient_to_detached
from sqlalchemy.orm.attributes import instance_dict

from ..extensions import db
from ..models import Book, Hold, Loan, Reader
from .common import built, on_postgresql

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
    select(reader.c.id).where(reader.c.id == bindparam("of_reader")).with_for_update(key_share=True)
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
    values = getattr(row, "_mapping", row)
    mapper = model.__mapper__
    key = mapper.identity_key_from_primary_key(
        [values[column.key] for column in mapper.primary_key]
    )
    session = db.session()
    if key in session.identity_map:
        instance = model(**values)
        make_transient_to_detached(instance)
        return session.merge(instance, load=False)
    # The usual case, as the ORM's own loading does it: the values go straight into a
    # new instance's dict, without the attribute events of the constructor and the
    # copy of merge() (together a tenth of an issue's instructions, issue 8).
    instance = mapper.class_manager.new_instance()
    instance_dict(instance).update(values)
    make_transient_to_detached(instance)
    session.add(instance)
    return instance


# PostgreSQL: the same statements, joined -----------------------------------------------


def _labelled(cte, prefix):
    return [column.label(f"{prefix}{column.key}") for column in cte.c]


def _unlabelled(row, prefix, table):
    """The columns of `table` that a joined statement returned as `prefix`name, or None
    when its part matched nothing (a NULL id)."""
    values = {column.key: row._mapping[f"{prefix}{column.key}"] for column in table.c}
    return None if values["id"] is None else values


def _after(cte):
    """A WHERE condition that makes the statement it is put in run after `cte` has
    (PostgreSQL evaluates it first, once, as an InitPlan) and only if `cte` matched:
    the order in which the joined statements take their row locks."""
    return exists(select(literal(1)).select_from(cte))


def _issue_statement():
    """COUNT_LOAN, then TAKE_FROM_SHELF, then NEW_LOAN and its "borrowed" notices.

    Its WITH queries have one-letter names (r: the reader counted, b: the book taken,
    l: the new loan, n: its notices) to keep it under psycopg's 4,096 characters, past
    which psycopg parses a statement's text anew at every execution (about 0.4 ms of an
    issue's CPU); tests/test_hot_path.py checks the length.
    """
    from ..notifications.outbox import loan_issued_rows  # the outbox builds on this package

    counted = COUNT_LOAN.cte("r")
    taken = TAKE_FROM_SHELF.where(_after(counted)).cte("b")
    new_loan = (
        loan.insert()
        .from_select(
            ["book_id", "reader_id", "issued_at", "due_at", "renewals", "issued_by"],
            select(
                taken.c.id,
                counted.c.id,
                cast(bindparam("at", type_=loan.c.issued_at.type), loan.c.issued_at.type),
                cast(bindparam("due", type_=loan.c.due_at.type), loan.c.due_at.type),
                literal(0),
                cast(bindparam("actor", type_=loan.c.issued_by.type), loan.c.issued_by.type),
            ).select_from(taken.join(counted, true())),
        )
        .returning(*loan.c)
        .cte("l")
    )
    notified = loan_issued_rows(new_loan, counted, taken, bindparam("at")).cte("n")
    return (
        select(*_labelled(counted, "r_"), *_labelled(taken, "b_"), *_labelled(new_loan, "l_"))
        .select_from(counted.outerjoin(taken, true()).outerjoin(new_loan, true()))
        .add_cte(notified)  # a data-modifying WITH query runs whether it is read or not
    )


def issue(book_id, reader_id, *, limit, now, due_at, actor_id):
    """Count the loan against the reader's limit and take a copy from the shelf:
    `(reader, book, loan)`, the reader None when the limit (or a deleted reader) refused,
    the book None when no copy was on the shelf for them.

    On PostgreSQL the same statement inserts the loan and queues its "borrowed" notices
    (`loan` then comes back too); on SQLite `loan` is None and the caller inserts it.
    """
    params = {"book_id": book_id, "reader_id": reader_id, "limit": limit}
    if not on_postgresql():
        reader_row = run(COUNT_LOAN, **params)
        book_row = reader_row and run(TAKE_FROM_SHELF, **params)
        return loaded(Reader, reader_row), loaded(Book, book_row), None
    row = run(built("issue", _issue_statement), **params, at=now, due=due_at, actor=actor_id)
    if row is None:
        return None, None, None
    return tuple(
        loaded(model, _unlabelled(row, prefix, model.__table__))
        for model, prefix in ((Reader, "r_"), (Book, "b_"), (Loan, "l_"))
    )


def _closing(lock_reader, close):
    """`lock_reader`, then `close`, then the lock of the closed loan's book."""
    locked_reader = lock_reader.cte("locked_reader")
    closed = close.where(_after(locked_reader)).cte("closed")
    locked_book = (
        select(book.c.id)
        .where(book.c.id == select(closed.c.book_id).scalar_subquery())
        .with_for_update(key_share=True)
        .cte("locked_book")
    )
    return select(*_labelled(closed, "l_"), locked_book.c.id.label("locked_book_id")).select_from(
        closed.outerjoin(locked_book, true())
    )


CLOSINGS = {
    "loan": (LOCK_READER_OF_LOAN, CLOSE_LOAN),
    "readers_book": (LOCK_READER, CLOSE_READERS_LOAN_OF_BOOK),
}


def close(how, **params):
    """Lock the loan's reader and close the open loan (`how`: by "loan" id, or the
    "readers_book" of a reader), then lock its book: the loan, or None when there was
    no such open loan.

    SQLite: each a statement (BEGIN IMMEDIATE holds the write lock already).
    PostgreSQL: one statement, taking the locks in the same order.
    """
    lock_reader, close_loan = CLOSINGS[how]
    if not on_postgresql():
        if not run(lock_reader, **params):
            return None
        closed = loaded(Loan, run(close_loan, **params))
        if closed is not None:
            run(LOCK_BOOK, book_id=closed.book_id)
        return closed
    row = run(built(f"close_{how}", lambda: _closing(lock_reader, close_loan)), **params)
    return row and loaded(Loan, _unlabelled(row, "l_", loan))


def _shelving_statement():
    back = BACK_ON_SHELF.cte("back")
    uncounted = UNCOUNT_LOAN.cte("uncounted")
    return select(*_labelled(uncounted, "r_"), *_labelled(back, "b_")).select_from(
        uncounted.outerjoin(back, true())
    )


def shelve(book_id, reader_id):
    """After `close`: the loan off the reader's count, and the copy back on the shelf
    unless a reader waits for the book: `(book, reader)`, the book None when someone waits
    (the caller then hands the copy on). On PostgreSQL one statement.

    It comes after the statement that took the book's lock: on PostgreSQL its snapshot
    then sees every hold placed before it (placing one takes that lock), which the NOT
    EXISTS of `BACK_ON_SHELF` relies on.
    """
    if not on_postgresql():
        reader_row = run(UNCOUNT_LOAN, reader_id=reader_id)
        return loaded(Book, run(BACK_ON_SHELF, book_id=book_id)), loaded(Reader, reader_row)
    row = run(built("shelve", _shelving_statement), book_id=book_id, reader_id=reader_id)
    return (
        loaded(Book, _unlabelled(row, "b_", book)),
        loaded(Reader, _unlabelled(row, "r_", reader)),
    )

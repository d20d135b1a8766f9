"""Loans: issue, return, renew, and the lists of them.

Every rule is decided by one conditional UPDATE whose rowcount says who won, so the
invariants of SPEC section 2 hold under any number of concurrent requests:
- the reader's open-loan counter moves only while it is under LOAN_LIMIT;
- the book's shelf count moves only while a copy is there;
- the unique index `uq_loan_open_reader_book` refuses a second open loan.
Only when an UPDATE matches nothing do we read, to say which rule refused.

Row locks are always taken in one order, reader -> loan -> book -> hold, so two requests can
never wait on each other (PostgreSQL would abort one with a deadlock): an issue
updates the reader, then the book, then inserts the loan; a return first locks the
reader of the loan, then closes the loan, then puts the copy back.
"""

from datetime import timedelta

from sqlalchemy import exists, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.attributes import set_committed_value

from ..extensions import db
from ..models import Loan
from . import statements as sql
from .books import get_book
from .common import paginate, setting, violated
from .errors import (
    AlreadyBorrowed,
    AlreadyReturned,
    BookOnHold,
    BookUnavailable,
    LoanLimitReached,
    LoanNotFound,
    NotBorrowed,
    RenewalLimitReached,
)
from .holds import fulfil_ready_hold, has_ready_holds, others_waiting, pass_on
from .readers import get_reader
from .statements import loaded, run
from .values import valid_id

STATUSES = ("open", "returned", "overdue", "all")


def _update(stmt):
    return db.session.execute(stmt.execution_options(synchronize_session=False))


def get_loan(loan_id, *, refresh=False):
    """The loan `loan_id`, with its book and reader.

    Raises LoanNotFound.
    """
    if not valid_id(loan_id):
        raise LoanNotFound(loan_id=loan_id)
    loan = db.session.get(Loan, loan_id, populate_existing=refresh)
    if loan is None:
        raise LoanNotFound(loan_id=loan_id)
    return loan


def _holds_open_loan(reader_id, book_id):
    return db.session.scalar(
        select(
            exists().where(
                Loan.reader_id == reader_id, Loan.book_id == book_id, Loan.returned_at.is_(None)
            )
        )
    )


def _refuse_issue(book_id, reader_id, *, limit, reader_counted):
    """Raise the error of the first rule (SPEC order) that refused an issue."""
    get_book(book_id)
    get_reader(reader_id)
    if _holds_open_loan(reader_id, book_id):
        raise AlreadyBorrowed(book_id=book_id, reader_id=reader_id)
    if not reader_counted:
        raise LoanLimitReached(reader_id=reader_id, limit=limit)
    if has_ready_holds(book_id):
        raise BookOnHold(book_id=book_id)
    raise BookUnavailable(book_id=book_id)


def _with(loan, book, reader):
    """`loan` holding the book and reader the statements returned, so that showing it
    loads nothing (the identity map alone keeps objects only while referenced)."""
    if book is not None:
        set_committed_value(loan, "book", book)
    set_committed_value(loan, "reader", reader)
    return loan


def issue_loan(book_id, reader_id, *, now, actor_id=None):
    """Lend a copy of `book_id` to `reader_id` for LOAN_PERIOD_DAYS.

    Raises BookNotFound, ReaderNotFound, AlreadyBorrowed, LoanLimitReached,
    BookUnavailable, BookOnHold.
    """
    limit = setting("LOAN_LIMIT")
    due_at = now + timedelta(days=setting("LOAN_PERIOD_DAYS"))
    reader = book = loan = None
    try:
        if valid_id(reader_id) and valid_id(book_id):
            reader, book, loan = sql.issue(
                book_id, reader_id, limit=limit, now=now, due_at=due_at, actor_id=actor_id
            )
        if reader and not book and fulfil_ready_hold(book_id, reader_id, now=now):
            book = get_book(book_id)  # the copy kept for them on the hold shelf
        if not book:
            _refuse_issue(book_id, reader_id, limit=limit, reader_counted=bool(reader))
        if loan is None:
            row = run(
                sql.NEW_LOAN,
                book_id=book_id,
                reader_id=reader_id,
                issued_at=now,
                due_at=due_at,
                renewals=0,
                issued_by=actor_id,
            )
            loan = _with(loaded(Loan, row), book, reader)
            # Imported here: the outbox builds on this package's helpers (an import cycle).
            from ..notifications.outbox import queue_loan_issued

            queue_loan_issued(loan, now=now)
    except IntegrityError as exc:
        if violated(exc, "reader_id"):  # uq_loan_open_reader_book: the reader has it
            raise AlreadyBorrowed(book_id=book_id, reader_id=reader_id) from exc
        raise
    return _with(loan, book, reader)


def _close(how, *, now, actor_id, **params):
    """Mark the open loan that `how` finds (statements.close) returned; its copy goes to
    the first waiting hold, else back on the shelf. None when there is no such loan.

    The reader is locked before the loan and the book. Closing first would take the
    loan and book locks while a concurrent issue to that reader holds the reader's and
    waits for the book (or for the open loan, through the unique index): a deadlock.
    """
    loan = sql.close(how, now=now, actor_id=actor_id, **params)
    if loan is None:
        return None
    book, reader = sql.shelve(loan.book_id, loan.reader_id)
    if book is None:  # readers wait for it
        pass_on(loan.book_id, now=now, freed=1)
    return _with(loan, book, reader)


def return_loan(loan_id, *, now, actor_id=None):
    """Close loan `loan_id`; the record stays as history.

    Raises LoanNotFound, AlreadyReturned.
    """
    loan = valid_id(loan_id) and _close("loan", loan_id=loan_id, now=now, actor_id=actor_id)
    if not loan:
        get_loan(loan_id)
        raise AlreadyReturned(loan_id=loan_id)
    return loan


def return_book(book_id, reader_id, *, now, actor_id=None):
    """Close the reader's open loan of the book (the old systems' way to return).

    Raises NotBorrowed.
    """
    loan = (
        valid_id(book_id)
        and valid_id(reader_id)
        and _close(
            "readers_book",
            of_book=book_id,
            of_reader=reader_id,
            now=now,
            actor_id=actor_id,
        )
    )
    if not loan:
        raise NotBorrowed(book_id=book_id, reader_id=reader_id)
    return loan


def renew_loan(loan_id, *, now, actor_id=None):
    """Extend an open loan to now + LOAN_PERIOD_DAYS, at most MAX_RENEWALS times.

    Raises LoanNotFound, AlreadyReturned, RenewalLimitReached.
    """
    limit = setting("MAX_RENEWALS")
    renewed = (
        valid_id(loan_id)
        and _update(
            update(Loan)
            .where(
                Loan.id == loan_id,
                Loan.returned_at.is_(None),
                Loan.renewals < limit,
                ~others_waiting(Loan.book_id),
            )
            .values(
                due_at=now + timedelta(days=setting("LOAN_PERIOD_DAYS")),
                renewals=Loan.renewals + 1,
                renewed_at=now,
            )
        ).rowcount
    )
    loan = get_loan(loan_id, refresh=True)
    if not renewed:
        if loan.returned_at is not None:
            raise AlreadyReturned(loan_id=loan_id)
        if loan.renewals >= limit:
            raise RenewalLimitReached(loan_id=loan_id, limit=limit)
        raise BookOnHold(book_id=loan.book_id)
    return loan


def list_loans(*, now, status="all", reader_id=None, book_id=None, page=1, per_page=20):
    """A page of loans, newest first, filtered by status, reader and book."""
    if any(i is not None and not valid_id(i) for i in (reader_id, book_id)):
        return paginate(select(Loan).where(Loan.id.is_(None)), page, per_page)
    stmt = select(Loan)
    if status in ("open", "overdue"):
        stmt = stmt.where(Loan.returned_at.is_(None))
    if status == "overdue":
        stmt = stmt.where(Loan.due_at < now)
    elif status == "returned":
        stmt = stmt.where(Loan.returned_at.is_not(None))
    if reader_id is not None:
        stmt = stmt.where(Loan.reader_id == reader_id)
    if book_id is not None:
        stmt = stmt.where(Loan.book_id == book_id)
    return paginate(stmt.order_by(Loan.id.desc()), page, per_page)

"""Holds: the waiting list for books whose copies are all out (SPEC section 7).

A returned copy goes to the first waiting hold (now `ready`, kept until its pickup
deadline) instead of the shelf, so for every book
    copies_available + ready holds + open loans = copies_total.
Every change of a book's holds happens under the book's row lock (SQLite: the write
lock of BEGIN IMMEDIATE), taken after the reader's and the loan's, as issue and return
do: placing a hold, handing a returned copy on, cancelling and expiring. Issuing a book
to the reader of its ready hold fulfils the hold with one conditional UPDATE of that
hold alone; the unique index `uq_hold_active_reader_book` keeps one active hold per
reader and book.
"""

from datetime import timedelta

from sqlalchemy import exists, func, select, update
from sqlalchemy.exc import IntegrityError

from ..extensions import db
from ..models import Book, Hold, Loan, Reader
from . import statements as sql
from .books import get_book
from .common import paginate, setting
from .errors import (
    AlreadyBorrowed,
    AlreadyOnHold,
    CopyAvailable,
    HoldLimitReached,
    HoldNotActive,
    HoldNotFound,
    ReaderNotFound,
)
from .readers import get_reader
from .values import valid_id

STATUSES = ("waiting", "ready", "fulfilled", "cancelled", "expired")
ACTIVE = ("waiting", "ready")


def _update(stmt):
    return db.session.execute(stmt.execution_options(synchronize_session=False))


def _lock_book(book_id):
    """The book's shelf count, with its row locked for this transaction."""
    # FOR NO KEY UPDATE: holds and loans that only reference the book (a foreign-key
    # check) must not wait on it, or they would deadlock with its holder.
    return db.session.execute(sql.LOCK_BOOK, {"book_id": book_id}).scalar()


def get_hold(hold_id, *, refresh=False):
    """Raises HoldNotFound."""
    hold = db.session.get(Hold, hold_id, populate_existing=refresh) if valid_id(hold_id) else None
    if hold is None:
        raise HoldNotFound(hold_id=hold_id)
    return hold


def place_hold(book_id, reader_id, *, now, actor_id=None):
    """Put the reader in the book's queue.

    Raises BookNotFound, ReaderNotFound, CopyAvailable, AlreadyBorrowed, AlreadyOnHold,
    HoldLimitReached.
    """
    get_book(book_id)
    get_reader(reader_id)
    # Reader first, then book: the order issue and return take their locks in.
    if (
        db.session.scalar(
            select(Reader.id)
            .where(Reader.id == reader_id, Reader.deleted_at.is_(None))
            .with_for_update(key_share=True)
        )
        is None
    ):
        raise ReaderNotFound(reader_id=reader_id)
    if _lock_book(book_id) > 0:
        raise CopyAvailable(book_id=book_id)
    if db.session.scalar(
        select(
            exists().where(
                Loan.reader_id == reader_id, Loan.book_id == book_id, Loan.returned_at.is_(None)
            )
        )
    ):
        raise AlreadyBorrowed(book_id=book_id, reader_id=reader_id)
    active = (
        db.session.execute(
            select(Hold.book_id).where(Hold.reader_id == reader_id, Hold.status.in_(ACTIVE))
        )
        .scalars()
        .all()
    )
    if book_id in active:
        raise AlreadyOnHold(book_id=book_id, reader_id=reader_id)
    limit = setting("HOLD_LIMIT")
    if len(active) >= limit:
        raise HoldLimitReached(reader_id=reader_id, limit=limit)
    hold = Hold(
        book_id=book_id, reader_id=reader_id, status="waiting", placed_at=now, placed_by=actor_id
    )
    db.session.add(hold)
    try:
        db.session.flush()
    except IntegrityError as exc:
        raise AlreadyOnHold(book_id=book_id, reader_id=reader_id) from exc
    return get_hold(hold.id, refresh=True)


def pass_on(book_id, *, now, freed=0):
    """Give `freed` copies just come back (and any on the shelf) to the book's queue.

    The first waiting holds become ready, kept until now + HOLD_PICKUP_DAYS, and their
    readers are told; what is left goes on the shelf. The caller holds the book's lock.
    Returns the ids of the holds made ready.
    """
    free = freed + (_lock_book(book_id) or 0)
    ready_ids = []
    if free:
        ready_ids = (
            db.session.execute(
                select(Hold.id)
                .where(Hold.book_id == book_id, Hold.status == "waiting")
                .order_by(Hold.id)
                .limit(free)
            )
            .scalars()
            .all()
        )
    if ready_ids:
        _update(
            update(Hold)
            .where(Hold.id.in_(ready_ids), Hold.status == "waiting")
            .values(
                status="ready",
                ready_at=now,
                expires_at=now + timedelta(days=setting("HOLD_PICKUP_DAYS")),
            )
        )
        from ..notifications.outbox import queue_hold_ready  # the outbox builds on this package

        queue_hold_ready(ready_ids, now=now)
    if freed or ready_ids:
        _update(
            update(Book)
            .where(Book.id == book_id)
            .values(copies_available=Book.copies_available + freed - len(ready_ids))
        )
    return ready_ids


def fulfil_ready_hold(book_id, reader_id, *, now):
    """Mark the reader's ready hold of the book fulfilled; whether there was one."""
    return bool(
        _update(
            update(Hold)
            .where(Hold.reader_id == reader_id, Hold.book_id == book_id, Hold.status == "ready")
            .values(status="fulfilled", ended_at=now)
        ).rowcount
    )


def has_ready_holds(book_id):
    return db.session.scalar(
        select(exists().where(Hold.book_id == book_id, Hold.status == "ready"))
    )


def others_waiting(book_id):
    """A renewal condition: readers wait for the book and no copy is on the shelf."""
    waiting = exists().where(Hold.book_id == book_id, Hold.status == "waiting")
    on_shelf = exists().where(Book.id == book_id, Book.copies_available > 0)
    return waiting & ~on_shelf


def cancel_hold(hold_id, *, now):
    """Cancel a waiting or ready hold; a ready hold's copy goes to the next in line.

    Raises HoldNotFound, HoldNotActive.
    """
    hold = get_hold(hold_id)
    _lock_book(hold.book_id)
    db.session.refresh(hold)
    status = hold.status
    cancelled = (
        status in ACTIVE
        and _update(
            update(Hold)
            .where(Hold.id == hold.id, Hold.status == status)
            .values(status="cancelled", ended_at=now)
        ).rowcount
    )
    if not cancelled:
        hold = get_hold(hold_id, refresh=True)
        raise HoldNotActive(hold_id=hold_id, status=hold.status)
    if status == "ready":
        pass_on(hold.book_id, now=now, freed=1)
    return get_hold(hold_id, refresh=True)


def expire_holds(*, now):
    """Expire every ready hold past its deadline and pass its copy on; returns how many.

    Idempotent: an expired hold is no longer ready. The books concerned are locked
    first, in id order, so two runs (or a run and a return) never deadlock.
    """
    due = (Hold.status == "ready", Hold.expires_at <= now)
    book_ids = (
        db.session.execute(
            select(Book.id)
            .where(Book.id.in_(select(Hold.book_id).where(*due)))
            .order_by(Book.id)
            .with_for_update()
        )
        .scalars()
        .all()
    )
    if not book_ids:
        return 0
    expired = (
        _update(
            update(Hold)
            .where(*due, Hold.book_id.in_(book_ids))
            .values(status="expired", ended_at=now)
            .returning(Hold.book_id)
        )
        .scalars()
        .all()
    )
    per_book = {}
    for book_id in expired:
        per_book[book_id] = per_book.get(book_id, 0) + 1
    for book_id, freed in per_book.items():
        pass_on(book_id, now=now, freed=freed)
    return len(expired)


def cancel_holds_of_book(book_id, *, now):
    """A withdrawn book: nobody waits for it any more."""
    _update(
        update(Hold)
        .where(Hold.book_id == book_id, Hold.status.in_(ACTIVE))
        .values(status="cancelled", ended_at=now)
    )


def cancel_holds_of_reader(reader_id, *, now):
    """A deleted reader: their holds are cancelled, ready copies passed on."""
    holds = db.session.scalars(
        select(Hold)
        .where(Hold.reader_id == reader_id, Hold.status.in_(ACTIVE))
        .order_by(Hold.book_id)
    ).all()
    for hold in holds:
        cancel_hold(hold.id, now=now)


def list_holds(*, status=None, book_id=None, reader_id=None, page=1, per_page=20):
    """A page of holds, oldest first (queue order), by status, book and reader."""
    if any(i is not None and not valid_id(i) for i in (reader_id, book_id)):
        return paginate(select(Hold).where(Hold.id.is_(None)), page, per_page)
    stmt = select(Hold)
    if status == "active":
        stmt = stmt.where(Hold.status.in_(ACTIVE))
    elif status:
        stmt = stmt.where(Hold.status == status)
    if book_id is not None:
        stmt = stmt.where(Hold.book_id == book_id)
    if reader_id is not None:
        stmt = stmt.where(Hold.reader_id == reader_id)
    return paginate(stmt.order_by(Hold.id), page, per_page)


def hold_shelf(*, limit=50):
    """Ready holds, oldest first: the copies kept behind the desk."""
    return db.session.scalars(
        select(Hold).where(Hold.status == "ready").order_by(Hold.ready_at, Hold.id).limit(limit)
    ).all()


def count_ready():
    return db.session.scalar(select(func.count()).where(Hold.status == "ready"))

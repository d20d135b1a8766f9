"""What the desk sees at a glance: counts, loans due soon and overdue, daily activity."""

from collections import Counter
from dataclasses import dataclass
from datetime import date, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, or_, select

from ..extensions import db
from ..models import Book, Loan, Reader
from .common import setting


@dataclass(frozen=True)
class Counts:
    books: int
    copies: int
    copies_out: int
    readers: int
    open_loans: int
    overdue_loans: int


def counts(*, now):
    books, copies, on_shelf = db.session.execute(
        select(
            func.count(Book.id),
            func.coalesce(func.sum(Book.copies_total), 0),
            func.coalesce(func.sum(Book.copies_available), 0),
        ).where(Book.withdrawn_at.is_(None))
    ).one()
    readers = db.session.scalar(select(func.count(Reader.id)).where(Reader.deleted_at.is_(None)))
    open_loans, overdue = db.session.execute(
        select(
            func.count(Loan.id),
            func.count(Loan.id).filter(Loan.due_at < now),
        ).where(Loan.returned_at.is_(None))
    ).one()
    return Counts(books, copies, copies - on_shelf, readers, open_loans, overdue)


def due_soon_window():
    """Loans are "due soon" from the day their reminder goes out until they are due."""
    return timedelta(days=max(1, setting("LOAN_PERIOD_DAYS") - setting("REMINDER_AFTER_DAYS")))


def loans_due_soon(*, now, limit=20):
    """Open loans due between now and the end of the due-soon window, soonest first."""
    stmt = (
        select(Loan)
        .where(
            Loan.returned_at.is_(None), Loan.due_at >= now, Loan.due_at < now + due_soon_window()
        )
        .order_by(Loan.due_at, Loan.id)
        .limit(limit)
    )
    return db.session.scalars(stmt).unique().all()


def overdue_loans(*, now, limit=20):
    """Open loans past their due date, longest overdue first."""
    stmt = (
        select(Loan)
        .where(Loan.returned_at.is_(None), Loan.due_at < now)
        .order_by(Loan.due_at, Loan.id)
        .limit(limit)
    )
    return db.session.scalars(stmt).unique().all()


@dataclass(frozen=True)
class Day:
    day: date
    issued: int
    returned: int


def daily_activity(*, now, days=30):
    """Loans issued and returned on each of the last `days` calendar days (library time)."""
    zone = ZoneInfo(setting("LIBRARY_TIMEZONE"))
    today = now.astimezone(zone).date()
    first = today - timedelta(days=days - 1)
    since = now - timedelta(days=days + 1)  # a day of slack for the time zone; cut below
    rows = db.session.execute(
        select(Loan.issued_at, Loan.returned_at).where(
            or_(Loan.issued_at >= since, Loan.returned_at >= since)
        )
    ).all()
    issued, returned = Counter(), Counter()
    for issued_at, returned_at in rows:
        issued[issued_at.astimezone(zone).date()] += 1
        if returned_at is not None:
            returned[returned_at.astimezone(zone).date()] += 1
    return [
        Day(d, issued[d], returned[d]) for d in (first + timedelta(days=i) for i in range(days))
    ]

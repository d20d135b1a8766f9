"""Helpers the circulation operations share: settings, paging, constraint names."""

from dataclasses import dataclass

from flask import current_app
from sqlalchemy import func, select

from ..extensions import db
from .values import MAX_ID


def setting(name):
    """A rule setting of SPEC section 2 (LOAN_LIMIT, LOAN_PERIOD_DAYS, ...)."""
    return current_app.config[name]


@dataclass(frozen=True)
class Page:
    items: list
    page: int
    per_page: int
    total: int
    # True when more than `total` rows match: paginate counted only up to its cap.
    total_capped: bool = False


def paginate(stmt, page, per_page, *, count_cap=None):
    """Run `stmt` for one page; a page past the end is empty, not an error.

    With `count_cap`, at most that many rows are counted: a list of a million rows then
    costs a count of a thousand, and the page says `total_capped`. A page past the cap
    is still read, since more rows exist than were counted.
    """
    total, capped = count_rows(stmt, count_cap)
    offset = (page - 1) * per_page
    if (offset >= total and not capped) or offset > MAX_ID:
        # Also keeps absurd page numbers (up to 2**63 - 1) away from the database.
        return Page([], page, per_page, total, capped)
    items = db.session.scalars(stmt.limit(per_page).offset(offset)).unique().all()
    return Page(items, page, per_page, total, capped)


def count_rows(stmt, cap=None):
    """The rows of `stmt`, counted up to `cap` (all with None), and whether there are more."""
    return up_to(db.session.scalar(count_statement(stmt, cap)), cap)


def count_statement(stmt, cap=None):
    """The statement counting the rows of `stmt`: all, or up to just past `cap`."""
    counted = stmt.order_by(None)
    if cap is not None:
        counted = counted.limit(cap + 1)
    return select(func.count()).select_from(counted.subquery())


def up_to(total, cap):
    """(`total`, False), or (`cap`, True) when a count of `count_statement` passed it."""
    if cap is not None and total > cap:
        return cap, True
    return total, False


def built(name, build):
    """The statement `name`, made by `build()` once per app and kept: the desk's frequent
    statements skip SQLAlchemy's per-request construction and cache-key work (about a
    millisecond for a joined one). Per app, since a statement may hold the app's text
    (a notice's subject) or suit its database."""
    cache = current_app.extensions.setdefault("library.statements", {})
    statement = cache.get(name)
    if statement is None:
        statement = cache[name] = build()
    return statement


def on_postgresql():
    """Whether this session's database is PostgreSQL (else SQLite): for the few
    statements written for each."""
    return db.session.get_bind().dialect.name == "postgresql"


def violated(exc, column):
    """Whether an IntegrityError is the unique rule on `column`.

    PostgreSQL names the key (`Key (isbn)=...`), SQLite the column (`book.isbn`);
    both messages contain the column's name.
    """
    return column in str(getattr(exc, "orig", exc))

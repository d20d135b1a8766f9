"""Helpers the circulation operations share: settings, paging, constraint names."""

from dataclasses import dataclass

from flask import current_app
from sqlalchemy import func, select

from ..extensions import db


def setting(name):
    """A rule setting of SPEC section 2 (LOAN_LIMIT, LOAN_PERIOD_DAYS, ...)."""
    return current_app.config[name]


@dataclass(frozen=True)
class Page:
    items: list
    page: int
    per_page: int
    total: int


def paginate(stmt, page, per_page):
    """Run `stmt` for one page; a page past the end is empty, not an error."""
    total = db.session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery()))
    offset = (page - 1) * per_page
    if offset >= total:
        # Also keeps absurd page numbers (up to 2**63 - 1) away from the database.
        return Page([], page, per_page, total)
    items = db.session.scalars(stmt.limit(per_page).offset(offset)).unique().all()
    return Page(items, page, per_page, total)


def violated(exc, column):
    """Whether an IntegrityError is the unique rule on `column`.

    PostgreSQL names the key (`Key (isbn)=...`), SQLite the column (`book.isbn`);
    both messages contain the column's name.
    """
    return column in str(getattr(exc, "orig", exc))

"""PostgreSQL: the titles in order with their words, for a search's walk

Revision ID: 7f3a4b5c6d7e
Revises: 6e2f3a4b5c6d
Create Date: 2026-12-03 09:00:00

A search with more than COUNT_CAP matches finds its first page by reading the titles in
order and testing each book's words (circulation/books.py, `_walk`). On PostgreSQL that
read each book from the table: 26 ms for the 10,000 titles of a word in one book of 300
at 1,000,000 books (issue 8). Here the titles carry search_text in the index itself
(INCLUDE), so the walk is an index-only scan (2-3 ms for the same titles).

PostgreSQL refuses a btree entry over 2704 bytes, which a title and author of 300
characters each in a script of three or four bytes a character would pass, and such a
book could then not be saved. So the covering index holds only the books whose title
and search_text fit in 2000 bytes (all but a few in any real catalog); the others are in
a second partial index of their own, and the walk reads both in order (a merge of two
index scans). `_walk` repeats both predicates word for word, so that the planner knows
the partial indexes apply. SQLite's title index of 0006 carries search_text already.
Like the indexes of 0005 and 0006, no model declares these (database.SEARCH_INDEX_OBJECTS).
"""
from alembic import op
from sqlalchemy import text

revision = "7f3a4b5c6d7e"
down_revision = "6e2f3a4b5c6d"
branch_labels = None
depends_on = None

# circulation/books.py: WALK_FITS, the same text.
FITS = "octet_length(title) + octet_length(search_text) <= 2000"


def upgrade():
    if op.get_bind().dialect.name != "postgresql":
        return
    op.create_index(
        "ix_book_title_walk",
        "book",
        ["title", "id"],
        postgresql_include=["search_text"],
        postgresql_where=text(f"withdrawn_at IS NULL AND {FITS}"),
    )
    op.create_index(
        "ix_book_title_walk_long",
        "book",
        ["title", "id"],
        postgresql_where=text(f"withdrawn_at IS NULL AND NOT ({FITS})"),
    )


def downgrade():
    if op.get_bind().dialect.name != "postgresql":
        return
    op.drop_index("ix_book_title_walk_long", table_name="book")
    op.drop_index("ix_book_title_walk", table_name="book")

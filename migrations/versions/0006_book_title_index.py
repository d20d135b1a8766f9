"""book title index; SQLite's search index holds only active books, words as `fold`'s

Revision ID: 6e2f3a4b5c6d
Revises: 5c1d2e3f4a5b
Create Date: 2026-11-23 15:00:00

The books list is ordered by (title, id). Without an index every page sorted every
book (50-70 ms at 100,000 books); with `ix_book_title_active` a page reads the first
titles in order and stops. Only active books are listed, so only they are indexed.
On SQLite search_text rides along, so that a search for a common word can read the
titles in order and test each book's words from the index alone, never reading the book
(circulation/books.py, `_walk`). Not on PostgreSQL: it refuses a btree entry over 2704
bytes, and a title and author of 300 characters each in a script of three bytes a
character (CJK) would then fail to save; there the walk reads search_text from the table.
The columns differ by dialect, so no model declares the index and autogenerate leaves it
alone (database.include_in_autogenerate), like the search index of 0005.

SQLite's FTS5 table of 0005 is made again so that it can count a search's matches
without reading the books (`_count_in_index`): it now holds only active books (its
triggers skip withdrawn ones; PostgreSQL's GIN index was partial already), and keeps an
underscore inside a word as `fold` does (`tokenchars '_'`), so its words are exactly
those of search_text. Never run its 'rebuild' command: that would index the withdrawn
books too.
"""
from alembic import op
from sqlalchemy import text

revision = "6e2f3a4b5c6d"
down_revision = "5c1d2e3f4a5b"
branch_labels = None
depends_on = None

ACTIVE = text("withdrawn_at IS NULL")
TRIGGERS = ("book_fts_ai", "book_fts_ad", "book_fts_au")


def upgrade():
    sqlite = op.get_bind().dialect.name == "sqlite"
    op.create_index(
        "ix_book_title_active",
        "book",
        ["title", "id", "search_text"] if sqlite else ["title", "id"],
        sqlite_where=ACTIVE,
        postgresql_where=ACTIVE,
    )
    if sqlite:
        _drop_fts()
        _create_fts(tokenize="unicode61 remove_diacritics 0 tokenchars '_'", active_only=True)


def downgrade():
    if op.get_bind().dialect.name == "sqlite":
        _drop_fts()
        _create_fts(tokenize="unicode61 remove_diacritics 0", active_only=False)
    op.drop_index("ix_book_title_active", table_name="book")


def _drop_fts():
    for trigger in TRIGGERS:
        op.execute(f"DROP TRIGGER IF EXISTS {trigger}")
    op.execute("DROP TABLE IF EXISTS book_fts")


def _create_fts(tokenize, active_only):
    """The FTS5 table over book.search_text and the triggers that keep it in step.

    With `active_only`, a book is in the index while its withdrawn_at is NULL: each
    trigger adds or removes it only then (`WHERE` on a `SELECT` of the trigger's row).
    """
    old = " WHERE old.withdrawn_at IS NULL" if active_only else ""
    new = " WHERE new.withdrawn_at IS NULL" if active_only else ""
    add = f"INSERT INTO book_fts(rowid, search_text) SELECT new.id, new.search_text{new};"
    remove = (
        "INSERT INTO book_fts(book_fts, rowid, search_text) "
        f"SELECT 'delete', old.id, old.search_text{old};"
    )
    columns = "search_text, withdrawn_at" if active_only else "search_text"
    op.execute(
        "CREATE VIRTUAL TABLE book_fts USING fts5(search_text, content='book', "
        f"content_rowid='id', tokenize=\"{tokenize}\")"
    )
    op.execute(f"CREATE TRIGGER book_fts_ai AFTER INSERT ON book BEGIN {add} END")
    op.execute(f"CREATE TRIGGER book_fts_ad AFTER DELETE ON book BEGIN {remove} END")
    op.execute(f"CREATE TRIGGER book_fts_au AFTER UPDATE OF {columns} ON book BEGIN {remove} {add} END")
    where = " WHERE withdrawn_at IS NULL" if active_only else ""
    op.execute(f"INSERT INTO book_fts(rowid, search_text) SELECT id, search_text FROM book{where}")

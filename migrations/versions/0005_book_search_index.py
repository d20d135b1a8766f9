"""book search index: PostgreSQL full-text GIN index, SQLite FTS5 table

Revision ID: 5c1d2e3f4a5b
Revises: 17b09004242a
Create Date: 2026-11-23 11:40:00

Search matches every query word as the start of a word of the book's folded
`search_text` (circulation/books.py). An unindexed LIKE '% word%' scans every book;
these indexes answer the same question from an index: `to_tsquery('word:*')` on
PostgreSQL, an FTS5 prefix query `"word"*` on SQLite. Both are kept in step with the
books by the database itself (an expression index; triggers).
"""
from alembic import op

revision = "5c1d2e3f4a5b"
down_revision = "17b09004242a"
branch_labels = None
depends_on = None


def upgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE INDEX ix_book_search_tsv ON book "
            "USING gin (to_tsvector('simple', search_text)) WHERE withdrawn_at IS NULL"
        )
        return
    op.execute(
        "CREATE VIRTUAL TABLE book_fts USING fts5(search_text, content='book', "
        "content_rowid='id', tokenize='unicode61 remove_diacritics 0')"
    )
    op.execute(
        "CREATE TRIGGER book_fts_ai AFTER INSERT ON book BEGIN "
        "INSERT INTO book_fts(rowid, search_text) VALUES (new.id, new.search_text); END"
    )
    op.execute(
        "CREATE TRIGGER book_fts_ad AFTER DELETE ON book BEGIN "
        "INSERT INTO book_fts(book_fts, rowid, search_text) "
        "VALUES ('delete', old.id, old.search_text); END"
    )
    op.execute(
        "CREATE TRIGGER book_fts_au AFTER UPDATE OF search_text ON book BEGIN "
        "INSERT INTO book_fts(book_fts, rowid, search_text) "
        "VALUES ('delete', old.id, old.search_text); "
        "INSERT INTO book_fts(rowid, search_text) VALUES (new.id, new.search_text); END"
    )
    op.execute("INSERT INTO book_fts(book_fts) VALUES ('rebuild')")


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP INDEX IF EXISTS ix_book_search_tsv")
        return
    for trigger in ("book_fts_ai", "book_fts_ad", "book_fts_au"):
        op.execute(f"DROP TRIGGER IF EXISTS {trigger}")
    op.execute("DROP TABLE IF EXISTS book_fts")

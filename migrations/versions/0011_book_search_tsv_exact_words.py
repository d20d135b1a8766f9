"""PostgreSQL: the search column holds exactly the words of search_text

Revision ID: bd7e8f9a0b1c
Revises: ac6d7e8f9a0b
Create Date: 2026-12-04 19:00:00

Migration 0008 made `search_tsv` with `to_tsvector('simple', search_text)`. PostgreSQL's
parser does not split words as `fold` does (at an underscore, it makes "percent" and
"book" of "percent_book"; "x-ray" gives "x-ray", "x" and "ray"), so every search re-checked
the index's candidates with `LIKE '% word%'`. The planner took that check for a second,
independent condition and multiplied the two: it expected 2,800 books of "house" where
47,000 match (at 1,000,000 books), and so counted them from a bitmap of all 47,000 (28
ms) rather than reading the table until the first 1,001 (8 ms; issue 8, bench/README.md).

Now the column is made of search_text's own words, as they are (search_text is `fold`'s
words joined by spaces), and the search's tsquery names its words as they are too
(circulation/books.py: a cast, not `to_tsquery`, which would parse them again). A word
of the query then matches exactly the books that have a word starting with it, so no
re-check is needed and the planner estimates the one condition from the column's
statistics.

Re-making the column rewrites the table and its GIN index (about 15 s at 1,000,000 books,
the table locked meanwhile).
"""

from alembic import op

revision = "bd7e8f9a0b1c"
down_revision = "ac6d7e8f9a0b"
branch_labels = None
depends_on = None

# circulation/books.py: SEARCH_TSV.
COLUMN = "search_tsv"
EXACT_WORDS = "array_to_tsvector(array_remove(string_to_array(search_text, ' '), ''))"
# A tsvector refuses a word of over 2,047 bytes: search_text now leaves out words of
# more than 511 characters (circulation/values.py: WORD_MAX), which only casefolding
# could make of a 300-character title; rows written before lose theirs here.
# PostgreSQL's regular expressions count to 255 at most.
OVERLONG = r"(\S{255}){2}\S\S+"
PARSED_WORDS = "to_tsvector('simple', search_text)"


def _make_column(expression):
    op.execute("DROP INDEX IF EXISTS ix_book_search_tsv")
    op.execute(f"ALTER TABLE book DROP COLUMN IF EXISTS {COLUMN}")
    op.execute(
        f"ALTER TABLE book ADD COLUMN {COLUMN} tsvector GENERATED ALWAYS AS ({expression}) STORED"
    )
    op.execute(
        f"CREATE INDEX ix_book_search_tsv ON book USING gin ({COLUMN}) WHERE withdrawn_at IS NULL"
    )
    op.execute("ANALYZE book")


def upgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            f"UPDATE book SET search_text = regexp_replace(search_text, '{OVERLONG}', '', 'g') "
            f"WHERE length(search_text) > 511 AND search_text ~ '{OVERLONG}'"
        )
        _make_column(EXACT_WORDS)


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        _make_column(PARSED_WORDS)

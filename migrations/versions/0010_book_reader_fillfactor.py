"""book and reader: pages keep room for the desk's updates (PostgreSQL fillfactor 90)

Revision ID: ac6d7e8f9a0b
Revises: 9b5c6d7e8f9a
Create Date: 2026-12-04 18:30:00

Every issue and every return updates its book's `copies_available` and its reader's
`open_loans`. PostgreSQL writes an updated row as a new version; when that version fits
on the row's own page and no indexed column changed, the update is heap-only (HOT) and
no index of the table gets an entry. On a full page (fillfactor 100, the default, and
what a bulk load or an import leaves) the version must go elsewhere, and the update
writes an entry into every index of the table: for `book` the primary key, the ISBN
index, the title index, the two title walk indexes and the GIN search index, whose new
entries wait in its pending list, which every search reads until a vacuum merges it.
Measured (issue 8, bench/README.md; 100,000 books, issue -> return cycles over HTTP):
44 % of the book updates were HOT at fillfactor 100, all of them at 90; after 2,200
cycles the GIN pending list held 2,160 entries, against none.

Only pages written from now on keep the room; `VACUUM FULL book, reader` (which locks
both tables while it rewrites them) gives it to the rows already there. SQLite has no
such setting.
"""

from alembic import op

revision = "ac6d7e8f9a0b"
down_revision = "9b5c6d7e8f9a"
branch_labels = None
depends_on = None

# library/models/types.py: ROOM_FOR_UPDATES.
TABLES = ("book", "reader")
FILLFACTOR = 90


def upgrade():
    if op.get_bind().dialect.name != "postgresql":
        return
    for table in TABLES:
        op.execute(f"ALTER TABLE {table} SET (fillfactor = {FILLFACTOR})")


def downgrade():
    if op.get_bind().dialect.name != "postgresql":
        return
    for table in TABLES:
        op.execute(f"ALTER TABLE {table} RESET (fillfactor)")

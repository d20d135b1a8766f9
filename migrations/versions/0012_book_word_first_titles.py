"""book_word: each search word's first title, where a search's walk of the titles starts

Revision ID: ce8f9a0b1c2d
Revises: bd7e8f9a0b1c
Create Date: 2026-12-04 21:00:00

A search with more matches than the count's cap finds its page by reading the titles in
order until enough of them match (circulation/books.py, `_walk`), at most WALK_LIMIT of
them, and sorts every match when that is not enough. A word whose books all sort late
(a Russian word in a mostly Latin catalog) was always sorted: at 1,000,000 books the
56,000 books of `война` took 160 ms on PostgreSQL and 85 on SQLite (issue 8,
bench/README.md), and the live search's first Russian keystroke the same.

`book_word` keeps every word of the active books' search_text, each with a title at or
before the first title of the active books that have it. A search's walk starts there:
no match comes earlier. Triggers keep it in step with the books, as the search index
is: a book added, or its title, words or withdrawal changed, adds its new words and
lowers its words' titles when it sorts before them. A row is never raised nor deleted,
so a withdrawn book's title stays a word's start (the walk then starts early, as before
this table, and still finds the same books) and concurrent writers only ever move it
one way. Here it is made of the active books.

Since it holds every word an active book has, PostgreSQL also searches a query word as
the few stored words it starts, rather than as a prefix (`_whole_words`): GIN gathers
every match of a prefix into a bitmap before it ANDs it with another word.

A word is compared byte by byte (PostgreSQL: COLLATE "C"; SQLite's default), so that the
words starting with a query's word are one range of the primary key; the title is
compared as book.title is, in the title index's order.

SQLite's triggers split search_text with json_each: its words are `fold`'s (letters,
digits, underscores), which need no quoting inside a JSON string. PostgreSQL's insert
trigger runs once per statement over all its rows (an import's batch is one upsert), and
its update trigger only for the columns that matter, so the desk's issue and return,
which change only the shelf count, never run it.
"""

from alembic import op

revision = "ce8f9a0b1c2d"
down_revision = "bd7e8f9a0b1c"
branch_labels = None
depends_on = None

# (word, title): every word of the search_text of the rows of `source`, with the first
# of their titles that has it.
PG_WORDS = (
    "SELECT word, min(title) AS title FROM {source}, "
    "unnest(string_to_array(search_text, ' ')) AS word "
    "WHERE word <> '' {active} GROUP BY word"
)
SQLITE_WORDS = "json_each('[\"' || replace(trim({row}.search_text), ' ', '\",\"') || '\"]')"

# A word's row, made or lowered; none is touched whose title is already at or before
# (so no lock is taken on a common word's row by every book that has it).
PG_LOWER = """
INSERT INTO book_word AS known (word, first_title)
SELECT new_word.word, new_word.title FROM ({words}) AS new_word
WHERE NOT EXISTS (
    SELECT FROM book_word WHERE word = new_word.word AND first_title <= new_word.title
)
ORDER BY new_word.word
ON CONFLICT (word) DO UPDATE SET first_title = excluded.first_title
WHERE excluded.first_title < known.first_title
"""
SQLITE_LOWER = """
INSERT INTO book_word (word, first_title)
SELECT value, new.title FROM {words}
WHERE value <> '' AND NOT EXISTS (
    SELECT 1 FROM book_word WHERE word = value AND first_title <= new.title
)
ON CONFLICT (word) DO UPDATE SET first_title = excluded.first_title
WHERE excluded.first_title < book_word.first_title;
"""
# The columns whose change may put a book's words before their first titles.
CHANGED = "title, search_text, withdrawn_at"


def upgrade():
    if op.get_bind().dialect.name == "postgresql":
        _upgrade_postgresql()
    else:
        _upgrade_sqlite()


def _upgrade_postgresql():
    op.execute(
        'CREATE TABLE book_word (word text COLLATE "C" PRIMARY KEY, '
        "first_title varchar(300) NOT NULL)"
    )
    op.execute(
        "INSERT INTO book_word (word, first_title) "
        + PG_WORDS.format(source="book", active="AND withdrawn_at IS NULL")
    )
    # The insert trigger's rows are the statement's (its transition table); the update
    # trigger's is the one changed, when it is active (its WHEN).
    for name, source, active in (
        ("book_word_of_new_books", "new_books", "AND withdrawn_at IS NULL"),
        ("book_word_of_book", "(SELECT NEW.title, NEW.search_text) AS book", ""),
    ):
        lower = PG_LOWER.format(words=PG_WORDS.format(source=source, active=active))
        op.execute(
            f"CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$\n"
            f"BEGIN{lower};\nRETURN NULL;\nEND $$"
        )
    op.execute(
        "CREATE TRIGGER book_word_ai AFTER INSERT ON book REFERENCING NEW TABLE AS new_books "
        "FOR EACH STATEMENT EXECUTE FUNCTION book_word_of_new_books()"
    )
    op.execute(
        f"CREATE TRIGGER book_word_au AFTER UPDATE OF {CHANGED} ON book FOR EACH ROW "
        "WHEN (NEW.withdrawn_at IS NULL) EXECUTE FUNCTION book_word_of_book()"
    )
    op.execute("ANALYZE book_word")


def _upgrade_sqlite():
    op.execute("CREATE TABLE book_word (word TEXT PRIMARY KEY, first_title VARCHAR(300) NOT NULL)")
    op.execute(
        "INSERT INTO book_word (word, first_title) "
        f"SELECT value, min(title) FROM book, {SQLITE_WORDS.format(row='book')} "
        "WHERE value <> '' AND withdrawn_at IS NULL GROUP BY value"
    )
    lower = SQLITE_LOWER.format(words=SQLITE_WORDS.format(row="new"))
    op.execute(
        "CREATE TRIGGER book_word_ai AFTER INSERT ON book WHEN new.withdrawn_at IS NULL "
        f"BEGIN {lower} END"
    )
    op.execute(
        f"CREATE TRIGGER book_word_au AFTER UPDATE OF {CHANGED} ON book "
        f"WHEN new.withdrawn_at IS NULL BEGIN {lower} END"
    )


def downgrade():
    postgresql = op.get_bind().dialect.name == "postgresql"
    for trigger in ("book_word_ai", "book_word_au"):
        op.execute(f"DROP TRIGGER IF EXISTS {trigger}" + (" ON book" if postgresql else ""))
    if postgresql:
        op.execute("DROP FUNCTION IF EXISTS book_word_of_new_books()")
        op.execute("DROP FUNCTION IF EXISTS book_word_of_book()")
    op.execute("DROP TABLE IF EXISTS book_word")

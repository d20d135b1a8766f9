"""Moving the catalog in and out as CSV: `books import` and `books export`.

Import is set-wise: rows are validated by the API's own schema, then inserted a batch
at a time (one INSERT per batch, one ISBN lookup per batch) and committed per batch, so
a bad row is reported (line and reason) and never stops the good ones. The search
index follows by itself (migration 0005); on PostgreSQL the import ends by merging the
index's pending list (`_merge_search_index`).

The reasons stay untranslated here, as the domain's errors do: each is a field's
marshmallow message or a LibraryError, and the CLI gives them in its language.
"""

import csv
import logging
from dataclasses import dataclass, field

from marshmallow import ValidationError
from sqlalchemy import ARRAY, String, Text, bindparam, cast, func, insert, select, text
from sqlalchemy.exc import DBAPIError, IntegrityError

from ..extensions import db
from ..models import Book
from .common import built, on_postgresql
from .errors import CsvHeaderMissing, IsbnTaken
from .values import search_text

log = logging.getLogger(__name__)

# PostgreSQL: the GIN index of the search words (migrations 0008 and 0011).
_MERGE_SEARCH_INDEX = text("SELECT gin_clean_pending_list('ix_book_search_tsv'::regclass)")

COLUMNS = ("title", "author", "isbn", "year", "description", "copies_total")
EXPORT_COLUMNS = ("id", *COLUMNS, "copies_available")


@dataclass
class ImportReport:
    imported: int = 0
    # (line number, {column: [reason, ...]}), a reason a marshmallow message or a LibraryError
    rejected: list = field(default_factory=list)


def read_rows(stream):
    """(line number, row dict) of a CSV file whose first row names the columns.

    The dialect (comma, semicolon, tab...) is sniffed from the start of the file.
    """
    sample = stream.read(64 * 1024)
    stream.seek(0)
    try:
        dialect = csv.Sniffer().sniff(sample, delimiters=",;\t|")
    except csv.Error:
        dialect = csv.excel
    reader = csv.DictReader(stream, dialect=dialect)
    missing = {"title", "author"} - {
        (name or "").strip().lower() for name in reader.fieldnames or ()
    }
    if missing:
        raise CsvHeaderMissing(columns=", ".join(COLUMNS), missing=", ".join(sorted(missing)))
    for row in reader:
        yield reader.line_num, {(k or "").strip().lower(): v for k, v in row.items()}


def import_books(rows, *, now, batch_size=1000, progress=None):
    """Add the books of `rows` ((line, dict) pairs); returns an ImportReport.

    Commits each batch. `progress(n)` is told how many rows were handled.
    """
    from ..api.schemas import BookRow

    schema = BookRow()
    report = ImportReport()
    batch = []
    analyzed_at = 0
    for line, row in rows:
        try:  # one load both validates and converts (validate() is a load thrown away)
            batch.append((line, schema.load(row)))
        except ValidationError as exc:
            report.rejected.append((line, exc.messages))
        if len(batch) >= batch_size:
            _insert_batch(batch, report, now)
            batch = []
            analyzed_at = _keep_statistics(report.imported, analyzed_at)
        if progress:
            progress(1)
    if batch:
        _insert_batch(batch, report, now)
    if report.imported:
        _merge_search_index()
    return report


def _merge_search_index():
    """PostgreSQL: merge the import's words into the GIN search index now.

    GIN keeps new rows in a pending list (fastupdate) that every search reads whole
    until a vacuum merges it: after `books import` of 100,000 books it held 21,000
    entries, and searches took 17-18 ms instead of 5-9 until autovacuum came. This is
    that part of a vacuum's work, done once at the end. It needs the index's owner (as
    VACUUM does); otherwise the merge is left to autovacuum, and the log says so.
    """
    if not on_postgresql():
        return
    try:
        with db.session.begin_nested():
            merged = db.session.scalar(_MERGE_SEARCH_INDEX)
    except DBAPIError as exc:
        log.warning("search index not merged after the import, autovacuum will: %s", exc.orig)
    else:
        log.info("search index merged after the import: %s pending pages", merged)
    db.session.commit()


def _keep_statistics(imported, analyzed_at):
    """PostgreSQL: refresh the catalog's statistics each time the import has doubled it.

    Each batch's ISBN check is planned by them, and a bulk import outgrows them before
    autovacuum looks: a catalog believed nearly empty was read whole through the title
    index for every batch (minutes for 100,000 rows instead of seconds).
    """
    if imported < max(2 * analyzed_at, 1000) or not on_postgresql():
        return analyzed_at
    db.session.execute(text("ANALYZE book"))
    db.session.commit()
    return imported


def _values(book, now):
    return {
        **book,
        "copies_available": book["copies_total"],
        "search_text": search_text(book["title"], book["author"]),
        "created_at": now,
        "updated_at": now,
    }


# The columns an import writes (`_values`), in `_insert_rows`'s order.
_COLUMNS = (
    "title",
    "author",
    "isbn",
    "year",
    "description",
    "copies_total",
    "copies_available",
    "search_text",
    "created_at",
    "updated_at",
)


def _array_of(column):
    """The array type a column's values travel in: strings as text[], since a cast to
    varchar(n)[] would cut a longer one short without a word, where an INSERT refuses it."""
    return ARRAY(Text() if isinstance(column.type, String) else column.type)


def _bulk_insert():
    """PostgreSQL: an INSERT of a batch's rows given as one array a column, unnested."""
    columns = [Book.__table__.c[name] for name in _COLUMNS]
    arrays = (cast(bindparam(c.key, type_=_array_of(c)), _array_of(c)) for c in columns)
    return insert(Book.__table__).from_select(columns, select(*map(func.unnest, arrays)))


def _insert_rows(rows):
    """Insert the books `rows` (`_values`'s dicts) in one statement.

    On PostgreSQL one INSERT of arrays, since psycopg's executemany runs an INSERT a row,
    and book_word's trigger (migration 0012) runs once a statement: at one a book it
    cost the import 40 % of its speed. SQLite runs its triggers a row whatever the
    statement, and its executemany costs no round trips.
    """
    if not on_postgresql():
        db.session.execute(insert(Book), rows)
        return
    statement = built("import_books", _bulk_insert)
    db.session.execute(statement, {name: [row[name] for row in rows] for name in _COLUMNS})


def _insert_batch(batch, report, now):
    isbns = [b["isbn"] for _, b in batch if b.get("isbn")]
    taken = (
        set(
            db.session.scalars(
                select(Book.isbn).where(Book.isbn.in_(isbns), Book.withdrawn_at.is_(None))
            )
        )
        if isbns
        else set()
    )
    good = []
    for line, book in batch:
        isbn = book.get("isbn")
        if isbn and isbn in taken:
            report.rejected.append((line, {"isbn": [IsbnTaken(isbn=isbn)]}))
            continue
        if isbn:
            taken.add(isbn)  # a second row of the file with the same ISBN
        good.append((line, _values(book, now)))
    if not good:
        return
    try:
        _insert_rows([values for _, values in good])
        db.session.commit()
        report.imported += len(good)
    except IntegrityError:
        # Someone added one of these ISBNs meanwhile: row by row, to say which.
        db.session.rollback()
        for line, values in good:
            try:
                with db.session.begin_nested():
                    db.session.execute(insert(Book), [values])
                report.imported += 1
            except IntegrityError:
                report.rejected.append((line, {"isbn": [IsbnTaken(isbn=values["isbn"])]}))
        db.session.commit()


def export_books(out, *, chunk=1000):
    """Write every catalog book (not withdrawn) to `out` as CSV; returns how many."""
    writer = csv.writer(out)
    writer.writerow(EXPORT_COLUMNS)
    count = 0
    rows = db.session.execute(
        select(*(getattr(Book, c) for c in EXPORT_COLUMNS))
        .where(Book.withdrawn_at.is_(None))
        .order_by(Book.id)
        .execution_options(yield_per=chunk)
    )
    for row in rows:
        writer.writerow(["" if v is None else v for v in row])
        count += 1
    return count

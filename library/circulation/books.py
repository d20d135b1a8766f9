"""The catalog: add, change, withdraw and search books."""

from dataclasses import dataclass, replace

from sqlalchemy import (
    String,
    and_,
    bindparam,
    cast,
    column,
    func,
    literal_column,
    or_,
    select,
    table,
    text,
    union,
    union_all,
    update,
)
from sqlalchemy.dialects.postgresql import TSQUERY
from sqlalchemy.exc import IntegrityError

from ..extensions import db
from ..models import Book
from .common import Page, built, count_statement, on_postgresql, paginate, up_to, violated
from .errors import BookNotFound, BookOnLoan, CopiesOnLoan, IsbnTaken
from .values import MAX_ID, WORD_MAX, fold, isbn_or_none, like_escape, valid_id

EDITABLE = ("title", "author", "isbn", "year", "description")

# A capped list counts its books up to this many, and shows "1,000+" past it.
COUNT_CAP = 1000
# A capped search reads at most this many titles in order for its page (see _walk).
WALK_LIMIT = 10_000
# Where SQLite can count a search's matches, it walks the titles only past this many:
# below it, sorting the matches reads fewer books than a walk reads titles.
WALK_FROM = 2_000
# PostgreSQL: the words of search_text as a tsvector, a column the database computes
# (migrations 0008 and 0011); no model declares it, so a SELECT of a book never carries it.
SEARCH_TSV = literal_column("book.search_tsv")


def get_book(book_id):
    """The catalog's book `book_id`.

    Raises BookNotFound (also for a withdrawn book).
    """
    book = db.session.get(Book, book_id) if valid_id(book_id) else None
    if book is None or book.withdrawn_at is not None:
        raise BookNotFound(book_id=book_id)
    return book


def find_book_by_isbn(isbn):
    """The catalog's book with this ISBN-13, or None (a scan at the desk)."""
    if not isbn:
        return None
    return db.session.scalar(select(Book).where(Book.isbn == isbn, Book.withdrawn_at.is_(None)))


def words_match(column, q):
    """Every word of `q` starts some word of `column` (a search_text column)."""
    return and_(*(column.like(_word_start(w), escape="\\") for w in fold(q)))


def _word_start(word):
    """The LIKE pattern of a search_text in which some word starts with `word`."""
    return f"% {like_escape(word)}%"


def _word_starts(column, words):
    """words_match for `words` words, their patterns bound as word_0, word_1..."""
    return and_(*(column.like(bindparam(f"word_{i}"), escape="\\") for i in range(words)))


# Past every word that starts with a given one, in code point order: the last code point,
# which is no letter or digit, so no stored word (`fold`'s) holds it.
WORDS_AFTER = "\U0010ffff"
# Migration 0012: every word of the active books, each with a title at or before the
# first active book that has it.
_book_word = table("book_word", column("word", String), column("first_title", String))


def _started_by(i):
    """The conditions on book_word of the stored words that query word i starts: its
    range, bound as from_i and to_i (`_Query.params`)."""
    return (
        _book_word.c.word >= bindparam(f"from_{i}", type_=String),
        _book_word.c.word < bindparam(f"to_{i}", type_=String),
    )


# Search statements are kept for queries of up to this many words (nearly all of them).
KEPT_WORDS = 4
# The book with the ISBN a query spells (bound as `isbn`).
_HAS_ISBN = Book.isbn == bindparam("isbn")


@dataclass(frozen=True)
class _Query:
    """A search taken apart: the words of `q` (as `fold` makes them), the ISBN it spells
    (or None) and the `available` filter.

    Queries of the same shape (as many words, an ISBN or not, the same filter) run the
    same statements with other parameters: `statement` builds each once per app.
    """

    words: tuple
    isbn: str | None
    available: bool | None
    # For each word, the stored words it starts when `_whole_words` found few enough of
    # them (an empty tuple: the word is searched as a prefix).
    whole: tuple = ()

    @classmethod
    def of(cls, q, available):
        return cls(tuple(fold(q)), isbn_or_none(q), available)

    def statement(self, name, build):
        if len(self.words) > KEPT_WORDS:
            return build()
        shape = f"{len(self.words)}_{self.isbn is not None}_{self.available}"
        return built(f"search_{name}_{shape}", build)

    @property
    def params(self):
        """The bound parameters of its statements. The words come from `fold` (letters,
        digits, underscore), so they need no quoting beyond the quotes around each."""
        params = {f"word_{i}": _word_start(word) for i, word in enumerate(self.words)}
        for i, word in enumerate(self.words):
            # The stored words that start with it, in book_word's byte order: one range.
            params[f"from_{i}"], params[f"to_{i}"] = word, word + WORDS_AFTER
        whole = self.whole or ((),) * len(self.words)
        params["tsquery"] = " & ".join(
            _any_of(stored, "'{}'", " | ") if stored else f"'{w}':*"
            for w, stored in zip(self.words, whole, strict=True)
        )
        params["fts"] = " AND ".join(
            _any_of(stored, '"{}"', " OR ") if stored else f'"{w}"*'
            for w, stored in zip(self.words, whole, strict=True)
        )
        params["isbn"] = self.isbn
        return params


def _indexed_words_match(query):
    """Every word of `query` starts some word of the book's search_text, answered by the
    search index (PostgreSQL full-text, SQLite FTS5; migrations 0005, 0006, 0008 and
    0011), not by a scan. With an ISBN in `query`, the book with that ISBN matches too.
    """
    if on_postgresql():
        # search_tsv holds search_text's words as they are (migration 0011), so the
        # query's words are cast, not parsed by to_tsquery, which would split them
        # differently (at an underscore, say).
        words = cast(bindparam("tsquery", type_=String), TSQUERY)
        match = SEARCH_TSV.op("@@")(words)
        # PostgreSQL ORs the two indexes (a BitmapOr).
        return or_(_HAS_ISBN, match) if query.isbn else match
    ids = _fts_ids()
    if query.isbn:
        # SQLite answers `isbn = ? OR id IN (...)` by reading every book; the union of
        # the two id lists keeps both indexes in use.
        ids = union(select(Book.id).where(_HAS_ISBN, Book.withdrawn_at.is_(None)), ids)
    return Book.id.in_(ids)


def _fts_ids():
    """SQLite: the ids of the active books whose words start with the words bound as
    `fts`, from book_fts."""
    return (
        select(literal_column("rowid"))
        .select_from(text("book_fts"))
        .where(text("book_fts MATCH :fts").bindparams(bindparam("fts", type_=String)))
    )


def _search_match(query):
    """The condition of a search: its words, or the ISBN it spells.

    PostgreSQL's search column holds exactly search_text's words, so its index answers
    the words' rule alone (`words_match`): a search finds the same books whether it
    reads the index or walks the titles (`_walk`). A second condition, however
    redundant, would make the planner expect far fewer matches than there are (it
    multiplies the two), and count a common word's from a bitmap of all of them.
    On SQLite the words' LIKE patterns re-check what FTS5 found.
    """
    if not query.words:  # punctuation only: nothing can match
        return Book.id.is_(None)
    if on_postgresql():
        return _indexed_words_match(query)
    like = _word_starts(Book.search_text, len(query.words))
    if query.isbn:
        return and_(_indexed_words_match(query), or_(_HAS_ISBN, like))
    return and_(_indexed_words_match(query), like)


# The settings of a search's planning, for the rest of its transaction (set_config's
# `true`: SET LOCAL), in one round trip; see _search_planning.
_SEARCH_PLANNING = text(
    "SELECT set_config('max_parallel_workers_per_gather', '0', true), "
    "set_config('random_page_cost', "
    "least(current_setting('random_page_cost')::float8, :page_cost)::text, true)"
).bindparams(page_cost=2.0)


def _search_planning():
    """PostgreSQL: how the rest of this transaction's searches are planned.

    - No parallel workers: on a machine of two cores starting them costs more than
      they save (a word's count: 17 ms in parallel, 13 ms without, at 1,000,000 books).
    - A random page read priced at 2 rather than the default 4 (a disk seek; a server
      set lower keeps its own): the books a search reads are in memory, and at 4 the
      planner counted a prefix's matches (`hist`: 1 % of the books) by reading the table
      until the cap, 93,000 books in 34 ms, rather than from the search index in 14.
    """
    if on_postgresql():
        db.session.execute(_SEARCH_PLANNING)


def search_books(q=None, available=None, page=1, per_page=20):
    """A page of the catalog, by title; `q` matches title/author word starts or an ISBN.

    The books are counted only up to COUNT_CAP; the page says `total_capped` when more
    exist (every face shows "1,000+": an exact count of a common word in a big catalog
    costs most of a second).
    """
    stmt = select(Book).where(Book.withdrawn_at.is_(None), *_on_shelf(available))
    q = (q or "").replace("\x00", "")  # NUL: no stored text has one (PostgreSQL refuses it)
    if not q.strip():
        # In title order: the index ix_book_title_active, read until the page is full.
        return paginate(stmt.order_by(Book.title, Book.id), page, per_page, count_cap=COUNT_CAP)
    query = _Query.of(q, available)
    if any(len(word) > WORD_MAX for word in query.words):
        # No stored word is longer (values.search_text), and PostgreSQL would refuse it.
        return Page([], page, per_page, 0)
    _search_planning()
    if query.words and not query.isbn:  # an ISBN's own index answers that query
        query = _whole_words(query)
    matches = query.statement("matches", lambda: stmt.where(_search_match(query)))
    return _capped_search(query, matches, page, per_page)


# A query word that starts at most this many stored words is searched as those words
# (book_word), not as a prefix. PostgreSQL's GIN answers a prefix by gathering every
# match of every word it starts into a bitmap, and ANDs whole words by skipping through
# their lists: counting `the house` at 1,000,000 books took 30 ms as prefixes, 7 as
# words. SQLite's FTS5 merges the lists of a prefix's words: `the`'s count 9.5 ms as a
# prefix, 0.1 as its two words.
WHOLE_WORDS = 8


def _whole_words(query):
    """`query` with the stored words each of its words starts (book_word, migration 0012,
    holds every word of every active book), when there are at most WHOLE_WORDS of them;
    else (or when none is stored) the word stays a prefix. The same books match either
    way."""
    starting = query.statement("starting", lambda: _words_starting(len(query.words)))
    stored = {}
    for i, word in db.session.execute(starting, query.params):
        stored.setdefault(i, []).append(word)
    whole = tuple(
        tuple(words) if len(words) <= WHOLE_WORDS else ()
        for words in (stored.get(i, []) for i in range(len(query.words)))
    )
    return replace(query, whole=whole)


def _any_of(words, quoted, joined):
    """A search index's query for any of `words`, each `quoted` (a format), `joined`."""
    return "(" + joined.join(quoted.format(w) for w in words) + ")"


def _words_starting(words):
    """(i, word): the stored words that start the query's word i (its range from_i,
    to_i), up to one past WHOLE_WORDS of each."""
    parts = [
        select(literal_column(str(i)).label("i"), _book_word.c.word)
        .where(*_started_by(i))
        .order_by(_book_word.c.word)
        .limit(WHOLE_WORDS + 1)
        for i in range(words)
    ]
    if len(parts) == 1:
        return parts[0]
    # Each in a subquery of its own: SQLite takes no LIMIT on a part of a UNION.
    return union_all(*(select(part.subquery()) for part in parts))


def _on_shelf(available):
    """The conditions of the `available` filter: a copy on the shelf, or none."""
    if available is None:
        return ()
    return (Book.copies_available > 0,) if available else (Book.copies_available == 0,)


# A search's order, by title then id, written so that no index can give it: the
# database must find the matches by the search index and sort them, rather than walk
# every title in order (ix_book_title_active) until enough of them match. The planner
# takes a word to be spread evenly over the titles, but a Cyrillic word's books all sort
# after the Latin titles: such a walk read 850,000 books. (`_walk` walks, bounded.)
_MATCHES_FIRST = (Book.title.concat(""), Book.id)


def _capped_search(query, matches, page, per_page):
    """A page of `matches` (the statement of `query`), counted up to COUNT_CAP.

    SQLite counts a query of words in its search index alone (`_count_in_index`); else
    the database counts the matches up to the cap. With no more than COUNT_CAP the page
    is found by sorting them. With more, it comes from walking the titles in order
    (`_walk`, for words, not an ISBN), or else from sorting every match; SQLite, knowing
    how many there are, walks only when they are common enough for a walk to beat the
    sort.
    """
    offset = (page - 1) * per_page
    walkable = bool(query.words) and not query.isbn
    counted = _count_in_index(query) if walkable and query.available is None else None
    if counted is None:
        count = query.statement("count", lambda: count_statement(matches, COUNT_CAP))
        total, capped = up_to(db.session.scalar(count, query.params), COUNT_CAP)
    else:
        total, capped = min(counted, COUNT_CAP), counted > COUNT_CAP
    if not capped:
        books = _sorted_matches(query, matches, offset, per_page) if offset < total else []
        return Page(books, page, per_page, total)
    if offset > MAX_ID:  # keeps absurd page numbers away from the database
        return Page([], page, per_page, total, total_capped=True)
    books = None
    if walkable and (counted is None or counted > WALK_FROM):
        books = _walk(query, offset, per_page)
    if books is None:
        books = _sorted_matches(query, matches, offset, per_page)
    return Page(books, page, per_page, total, total_capped=True)


def _count_in_index(query):
    """SQLite: the active books matching the words of `query`, counted in book_fts alone
    (up to just past COUNT_CAP and WALK_FROM), without reading a book. None on
    PostgreSQL, whose index cannot count (each match is read from the table to see
    whether it is visible).

    book_fts holds exactly the active books, and its words are those of search_text
    (letters, digits and underscores, as `fold` makes them; migration 0006), so this is
    the count `words_match` gives.
    """
    if on_postgresql():
        return None
    limit = max(COUNT_CAP, WALK_FROM)
    count = query.statement("fts_count", lambda: count_statement(_fts_ids(), limit))
    return db.session.scalar(count, query.params)


def _sorted_matches(query, matches, offset, per_page):
    """A page of `matches`, found by the search index, then sorted by title."""
    ordered = query.statement(
        "sorted",
        lambda: (
            matches.order_by(*_MATCHES_FIRST)
            .limit(bindparam("per_page"))
            .offset(bindparam("offset"))
        ),
    )
    page = {"offset": offset, "per_page": per_page}
    return db.session.scalars(ordered, {**query.params, **page}).all()


def _walk(query, offset, per_page):
    """A page of the books matching the words of `query` (and its `available` filter),
    found by reading the titles in order, or None when WALK_LIMIT titles do not fill
    the page.

    The title index holds each title with its book's id and search_text (SQLite:
    ix_book_title_active; PostgreSQL: see `_first_titles`), so the walk tests the words
    from the index alone, at a fraction of a microsecond a title, and reads only the
    matching books: a word in one book of a hundred fills a first page after about
    2,000 titles, while sorting its 10,000 matches reads 10,000 books. It starts at the
    first title of the query's words (`_walk_start`): a Russian word's books all sort
    after the Latin titles, and a walk from the first title found none of them in its
    10,000 (at 1,000,000 books the sort of `война` then took 160 ms a search, the walk
    from its first title 9). The limit bounds the walk when the matches are rare past
    there.
    """
    walk = query.statement("walk", lambda: _walk_statement(len(query.words), query.available))
    page = {"offset": offset, "per_page": per_page, "walk_limit": WALK_LIMIT}
    books = db.session.scalars(walk, {**query.params, **page}).all()
    return books if len(books) == per_page else None


def _walk_statement(words, available):
    """The walk of `_walk` for a query of `words` words, their patterns bound as word_0,
    word_1... (and their ranges of book_word as from_0, to_0...), the page as offset and
    per_page, the titles read as walk_limit."""
    titles = _first_titles(_walk_start(words))
    found = select(titles.c.id, titles.c.title).where(_word_starts(titles.c.search_text, words))
    if available is not None:
        found = found.join(Book, Book.id == titles.c.id).where(*_on_shelf(available))
    # The page's ids first, then their books: SQLite would read every match's book.
    found = (
        found.order_by(titles.c.title, titles.c.id)
        .limit(bindparam("per_page"))
        .offset(bindparam("offset"))
        .subquery()
    )
    return select(Book).join(found, Book.id == found.c.id).order_by(found.c.title, found.c.id)


# Migration 0007's predicate, word for word: which books PostgreSQL's covering title
# index ix_book_title_walk holds (the others are in ix_book_title_walk_long).
WALK_FITS = "octet_length(title) + octet_length(search_text) <= 2000"


def _walk_start(words):
    """The title a walk for `words` words starts at: the latest of their first titles in
    book_word (a book matches only if it has them all), each the first of the stored
    words in its range (from_0, to_0...). NULL when no stored word starts with any
    of them: then nothing matches, the walk reads no title and the sort finds nothing.
    """
    firsts = [
        select(func.min(_book_word.c.first_title).label("first_title")).where(*_started_by(i))
        for i in range(words)
    ]
    if len(firsts) == 1:
        return firsts[0].scalar_subquery()
    latest = union_all(*firsts).subquery()
    return select(func.max(latest.c.first_title)).scalar_subquery()


def _first_titles(start):
    """The first `walk_limit` (a bound parameter: WALK_LIMIT) active books in title
    order from the title `start`: (id, title, search_text).

    PostgreSQL reads them from migration 0007's two partial indexes, merged in order:
    nearly all from the covering one, as an index-only scan; the few whose text is too
    long for a btree entry from the other, which reads search_text from the table.
    """
    columns = (Book.id, Book.title, Book.search_text)
    active = and_(Book.withdrawn_at.is_(None), Book.title >= start)
    in_order, limit = (Book.title, Book.id), bindparam("walk_limit")
    if not on_postgresql():
        return select(*columns).where(active).order_by(*in_order).limit(limit).subquery()
    both = union_all(
        *(
            select(*columns).where(active, text(part)).order_by(*in_order).limit(limit)
            for part in (WALK_FITS, f"NOT ({WALK_FITS})")
        )
    ).subquery()
    return select(both).order_by(both.c.title, both.c.id).limit(limit).subquery()


def _ensure_isbn_free(isbn, book_id=None):
    if isbn is None:
        return
    stmt = select(Book.id).where(Book.isbn == isbn, Book.withdrawn_at.is_(None))
    if book_id is not None:
        stmt = stmt.where(Book.id != book_id)
    if db.session.scalar(stmt.limit(1)) is not None:
        raise IsbnTaken(isbn=isbn)


def _flush_book(book):
    try:
        db.session.flush()
    except IntegrityError as exc:
        if violated(exc, "isbn"):  # a concurrent add won the race for this ISBN
            raise IsbnTaken(isbn=book.isbn) from exc
        raise


def add_book(*, title, author, now, isbn=None, year=None, description=None, copies_total=1):
    """Add a book with all its copies on the shelf.

    Raises IsbnTaken.
    """
    _ensure_isbn_free(isbn)
    book = Book(
        title=title,
        author=author,
        isbn=isbn,
        year=year,
        description=description,
        copies_total=copies_total,
        copies_available=copies_total,
        created_at=now,
        updated_at=now,
    )
    db.session.add(book)
    _flush_book(book)
    return book


def update_book(book_id, changes, *, now):
    """Change the given fields of a book; `copies_total` moves the shelf count with it.

    Raises BookNotFound, IsbnTaken, CopiesOnLoan.
    """
    book = get_book(book_id)
    if "copies_total" in changes:
        _set_copies_total(book, changes["copies_total"])
        # New copies go to the readers waiting for them first.
        from .holds import pass_on  # holds build on this module

        pass_on(book.id, now=now)
        db.session.refresh(book)
    if "isbn" in changes:
        _ensure_isbn_free(changes["isbn"], book_id=book.id)
    for field in EDITABLE:
        if field in changes:
            setattr(book, field, changes[field])
    book.updated_at = now
    _flush_book(book)
    return book


def _set_copies_total(book, total):
    # One statement checks and writes, so a loan issued meanwhile is counted: the
    # copies on loan (total - available) must still fit in the new total.
    moved = db.session.execute(
        update(Book)
        .where(
            Book.id == book.id,
            Book.withdrawn_at.is_(None),
            Book.copies_total - Book.copies_available <= total,
        )
        .values(
            copies_available=Book.copies_available + (total - Book.copies_total),
            copies_total=total,
        )
        .execution_options(synchronize_session=False)
    ).rowcount
    db.session.refresh(book)
    if not moved:
        if book.withdrawn_at is not None:
            raise BookNotFound(book_id=book.id)
        raise CopiesOnLoan(book_id=book.id, on_loan=book.copies_on_loan)


def withdraw_book(book_id, *, now):
    """Hide a book from the catalog and from issue; its loans stay as history.

    Raises BookNotFound, BookOnLoan.
    """
    if not valid_id(book_id):
        raise BookNotFound(book_id=book_id)
    withdrawn = db.session.execute(
        update(Book)
        .where(
            Book.id == book_id,
            Book.withdrawn_at.is_(None),
            Book.copies_available == Book.copies_total,
        )
        .values(withdrawn_at=now, updated_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount
    if not withdrawn:
        get_book(book_id)
        raise BookOnLoan(book_id=book_id)
    from .holds import cancel_holds_of_book  # holds build on this module

    cancel_holds_of_book(book_id, now=now)

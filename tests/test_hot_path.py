"""The desk's hot path (issue 8): an issue and a return are a few prebuilt statements
(on PostgreSQL joined into one or two, a round trip each), and on SQLite the write lock
is taken at the first write, not at the token check."""

import fcntl
import os
import re
import sqlite3
import threading

import pytest
from sqlalchemy import event, insert, text

from library.extensions import db
from library.models import Book, Reader, utcnow


def _outer(statement):
    """`statement` with its parenthesized parts (subqueries, WITH queries) taken out."""
    while re.search(r"\([^()]*\)", statement):
        statement = re.sub(r"\([^()]*\)", "", statement)
    return statement


_TABLE = re.compile(r"\b(?:FROM|UPDATE|INTO)\s+(\w+)", re.IGNORECASE)


def _one(statement):
    outer = _outer(statement)
    verb = outer.split()[0].upper()
    # A probe like SELECT EXISTS (SELECT ... FROM hold ...) is named by its inner table.
    table = _TABLE.search(outer) or _TABLE.search(statement)
    return f"{verb} {table.group(1) if table else ''}".strip()


def _with_queries(statement):
    """The bodies of a WITH statement's queries, in order."""
    bodies = []
    for start in re.finditer(r"\bAS\s*\((?=\s*(?:SELECT|UPDATE|INSERT|DELETE)\b)", statement):
        depth, i = 1, start.end()
        while depth:
            depth += {"(": 1, ")": -1}.get(statement[i], 0)
            i += 1
        bodies.append(statement[start.end() : i - 1])
    return bodies


def describe(statement):
    """`UPDATE reader`, `INSERT loan`...: a statement's verb and its own first table
    (subqueries taken out); a WITH statement as its queries joined by " + "."""
    if statement.lstrip().upper().startswith("WITH"):
        return " + ".join(_one(body) for body in _with_queries(statement))
    return _one(statement)


# Transaction control, and the ping of a connection that idled (`SELECT 1` on SQLite,
# an empty query on PostgreSQL): not the request's own statements.
_NOT_COUNTED = {"", "SELECT 1", "BEGIN", "BEGIN IMMEDIATE", "COMMIT", "ROLLBACK"}


def sent(app, call):
    """The response of `call` and the statements it sent, but for _NOT_COUNTED."""
    with app.app_context():
        engine = db.engine
    statements = []

    def record(_conn, _cursor, statement, *_args):
        if statement.strip(" ;\n").upper() not in _NOT_COUNTED:
            statements.append(describe(statement))

    event.listen(engine, "before_cursor_execute", record)
    try:
        response = call()
    finally:
        event.remove(engine, "before_cursor_execute", record)
    return response, statements


@pytest.fixture
def counter_case(make_book, make_reader, api):
    book = make_book(title="Dune", copies_total=2)
    reader = make_reader(name="Ann Reader")
    return book, reader


ISSUE = [
    "UPDATE reader",  # the loan limit
    "UPDATE book",  # a copy from the shelf (a ready hold of the reader is checked here)
    "INSERT loan",
    "INSERT notification",  # "borrowed" mail
]
# A return: the reader's lock (via the loan), first, as an issue takes it; the loan
# closed; the book's lock, so that what follows sees every hold placed.
CLOSE = ["SELECT reader", "UPDATE loan", "SELECT book"]
SHELVE = ["UPDATE reader", "UPDATE book"]  # the count, and the copy back on the shelf


def joined(dialect, *parts):
    """The statements `parts` run as: one by one on SQLite, each part one WITH
    statement on PostgreSQL (a round trip each)."""
    if dialect == "postgresql":
        return [" + ".join(part) for part in parts]
    return [statement for part in parts for statement in part]


def test_an_issue_is_one_statement_after_the_token_and_its_answer_loads_nothing_more(
    app, api, counter_case, dialect
):
    book, reader = counter_case
    response, statements = sent(
        app, lambda: api.post("/loans", json={"book_id": book["id"], "reader_id": reader["id"]})
    )
    assert response.status_code == 201, response.get_data(as_text=True)
    # The token first: its librarian, and whether it was revoked.
    assert statements == ["SELECT librarian", *joined(dialect, ISSUE)]
    loan = response.json
    assert loan["book"]["title"] == "Dune"
    assert loan["reader"]["name"] == "Ann Reader"
    assert loan["status"] == "open"


@pytest.mark.parametrize("by", ["loan", "reader_and_book"])
def test_a_return_is_two_statements_after_the_token_and_its_answer_is_current(
    app, api, counter_case, dialect, by
):
    book, reader = counter_case
    loan = api.post("/loans", json={"book_id": book["id"], "reader_id": reader["id"]}).json
    if by == "loan":
        response, statements = sent(app, lambda: api.post(f"/loans/{loan['id']}/return"))
    else:
        body = {"book_id": book["id"], "reader_id": reader["id"]}
        response, statements = sent(app, lambda: api.post("/loans/return", json=body))
    assert response.status_code == 200, response.get_data(as_text=True)
    assert statements == ["SELECT librarian", *joined(dialect, CLOSE, SHELVE)]
    assert response.json["status"] == "returned"
    assert response.json["book"]["title"] == "Dune"
    assert api.get(f"/books/{book['id']}").json["copies_available"] == 2
    assert api.get(f"/readers/{reader['id']}").json["open_loans"] == 0


def test_a_return_with_readers_waiting_hands_the_copy_on(app, api, make_book, make_reader, issue):
    """The short path of a return is taken only when nobody waits for the book."""
    book = make_book(copies_total=1)
    first, second = make_reader(), make_reader()
    loan = issue(book, first).json
    hold = api.post("/holds", json={"book_id": book["id"], "reader_id": second["id"]}).json
    response = api.post(f"/loans/{loan['id']}/return")
    assert response.status_code == 200
    assert api.get(f"/holds/{hold['id']}").json["status"] == "ready"
    assert api.get(f"/books/{book['id']}").json["copies_available"] == 0
    # The copy kept for the second reader is theirs; nobody else gets it.
    assert issue(book, first).status_code == 409
    assert issue(book, second).status_code == 201
    assert api.get(f"/holds/{hold['id']}").json["status"] == "fulfilled"


@pytest.fixture
def sqlite_writer(app, dialect):
    """Another connection holding SQLite's write lock, as a busy desk does."""
    if dialect != "sqlite":
        pytest.skip("SQLite's single write lock")
    with app.app_context():
        path = db.engine.url.database
    connection = sqlite3.connect(path, isolation_level=None, timeout=30)
    connection.execute("BEGIN IMMEDIATE")
    yield connection
    connection.rollback()
    connection.close()


def _in_thread(call):
    result = {}
    thread = threading.Thread(target=lambda: result.setdefault("response", call()))
    thread.start()
    return thread, result


def test_the_token_check_of_a_write_does_not_wait_for_the_write_lock(
    app, api, counter_case, sqlite_writer
):
    """A refused write (a body that is no loan) is answered while another desk holds
    the write lock: the token check reads beside the writer. A real issue waits for
    the lock, then goes through."""
    book, reader = counter_case
    thread, result = _in_thread(lambda: api.post("/loans", json={"book_id": "one"}))
    thread.join(timeout=20)
    assert not thread.is_alive(), "a request that writes nothing waited for the write lock"
    assert result["response"].status_code == 422

    thread, result = _in_thread(
        lambda: api.post("/loans", json={"book_id": book["id"], "reader_id": reader["id"]})
    )
    thread.join(timeout=1)
    assert thread.is_alive(), "an issue went through while another desk held the lock"
    sqlite_writer.rollback()
    thread.join(timeout=30)
    assert result["response"].status_code == 201


@pytest.fixture
def writers_queue_taken(app, dialect):
    """The app's queue of SQLite writers (database.WriterQueue), taken by someone else."""
    if dialect != "sqlite":
        pytest.skip("SQLite's single write lock")
    with app.app_context():
        path = f"{db.engine.url.database}-writers"
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX)
    yield fd
    fcntl.flock(fd, fcntl.LOCK_UN)
    os.close(fd)


def test_write_requests_wait_their_turn_in_the_writers_queue(
    app, api, counter_case, writers_queue_taken
):
    """Writers queue on an OS file lock that wakes the next one at once, instead of
    polling in SQLite's busy handler; reads and refused writes never queue."""
    book, reader = counter_case
    thread, result = _in_thread(lambda: api.post("/loans", json={"book_id": "one"}))
    thread.join(timeout=20)
    assert not thread.is_alive() and result["response"].status_code == 422
    assert api.get(f"/books/{book['id']}").status_code == 200

    thread, result = _in_thread(
        lambda: api.post("/loans", json={"book_id": book["id"], "reader_id": reader["id"]})
    )
    thread.join(timeout=1)
    assert thread.is_alive(), "an issue went by the writers' queue"
    fcntl.flock(writers_queue_taken, fcntl.LOCK_UN)
    thread.join(timeout=30)
    assert result["response"].status_code == 201
    # Its place was given back: the next write goes straight through.
    loan = result["response"].json
    assert api.post(f"/loans/{loan['id']}/return").status_code == 200


def test_the_joined_statements_are_compiled_and_parsed_once(app, dialect):
    """psycopg converts a statement's text to the server's form anew at every execution
    once it passes MAX_CACHED_STATEMENT_LENGTH characters (about 0.4 ms of an issue's
    CPU at 5,600): the joined statements of PostgreSQL stay below it."""
    if dialect != "postgresql":
        pytest.skip("SQLite runs the statements one by one")
    from psycopg._queries import MAX_CACHED_STATEMENT_LENGTH

    from library.circulation import statements

    with app.app_context():
        built = [
            statements._issue_statement(),
            *(statements._closing(*closing) for closing in statements.CLOSINGS.values()),
            statements._shelving_statement(),
        ]
        lengths = [len(str(stmt.compile(db.engine))) for stmt in built]
    assert max(lengths) <= MAX_CACHED_STATEMENT_LENGTH, lengths
    # And SQLAlchemy compiles each once (a VALUES list, say, would defeat its cache).
    assert all(stmt._generate_cache_key() is not None for stmt in built)


def _page_of(table, row_id):
    """The page of `table` that holds the row: the first part of its ctid, (page,item)."""
    ctid = db.session.execute(
        text(f"SELECT ctid::text FROM {table} WHERE id = :id"), {"id": row_id}
    ).scalar_one()
    return int(ctid.strip("()").split(",")[0])


def test_a_loan_updates_its_book_and_reader_rows_on_their_own_pages(app, api, dialect):
    """PostgreSQL: an issue and a return leave the book's and the reader's new row versions
    on their pages (heap-only updates: no index gets an entry), even on pages that a
    bulk load filled, because the tables keep room on every page (migration 0010).
    Where the version has to move, the update writes into every index of the table."""
    if dialect != "postgresql":
        pytest.skip("PostgreSQL's row versions; SQLite updates a row where it is")
    now = utcnow()
    books = [
        {"title": f"Packed {i}", "author": "Filler", "search_text": f" packed {i} filler"}
        for i in range(300)
    ]
    readers = [
        {
            "card_number": f"P{i:06d}",
            "name": f"Packed Reader {i}",
            "email": f"packed{i}@example.org",
            "search_text": f" packed reader {i}",
        }
        for i in range(300)
    ]
    with app.app_context():
        stamps = {"created_at": now, "updated_at": now}
        book_ids = db.session.scalars(
            insert(Book).returning(Book.id), [{**row, **stamps} for row in books]
        ).all()
        reader_ids = db.session.scalars(
            insert(Reader).returning(Reader.id), [{**row, **stamps} for row in readers]
        ).all()
        db.session.commit()
        book_id, reader_id = min(book_ids), min(reader_ids)  # on the first, full, pages
        pages = [_page_of("book", book_id), _page_of("reader", reader_id)]
        assert pages == [0, 0]
        db.session.rollback()
    loan = api.post("/loans", json={"book_id": book_id, "reader_id": reader_id})
    assert loan.status_code == 201, loan.get_data(as_text=True)
    assert api.post(f"/loans/{loan.json['id']}/return").status_code == 200
    with app.app_context():
        assert [_page_of("book", book_id), _page_of("reader", reader_id)] == pages
        assert db.session.get(Book, book_id).copies_available == 1
        db.session.rollback()

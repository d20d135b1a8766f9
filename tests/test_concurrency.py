"""Races over real HTTP: gunicorn worker processes on SQLite and on PostgreSQL.

SPEC section 2: the invariants hold "on every database, under any number of concurrent
requests". Each database gets one gunicorn (several sync workers, one process each) for
the whole module. Every race releases its requests together from a barrier, one thread
and one `requests` session each, and then counts the answers exactly: one winner, every
loser with the rule's own code, no 5xx, and `invariants(app)` read from the database.
"""

import os
import random
import re
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from tests.conftest import invariants

ROOT = Path(__file__).resolve().parent.parent
API = "/api/v1"
WORKERS = 4
LOAN_LIMIT = 3  # SPEC default; pinned in the server's environment
SERVER_SECRET_KEY = "gunicorn-concurrency-test-key-0123456789"  # 40 characters
HTTP_TIMEOUT = 60  # seconds; generous, only there so a hung server fails instead of hanging
START_TIMEOUT = 60


# ---- the server ------------------------------------------------------------------


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Server:
    url: str
    log_path: Path

    def log(self, since=0):
        return self.log_path.read_text(errors="replace")[since:]

    def log_size(self):
        return len(self.log_path.read_text(errors="replace"))


def _wait_until_healthy(proc, url, log_path):
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(
                f"gunicorn exited with {proc.returncode} while starting:\n"
                + log_path.read_text(errors="replace")
            )
        try:
            if requests.get(f"{url}/healthz", timeout=2).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.1)
    pytest.fail(
        f"gunicorn gave no healthy /healthz in {START_TIMEOUT}s:\n"
        + log_path.read_text(errors="replace")
    )


@pytest.fixture(scope="module")
def gunicorn(database_url, tmp_path_factory):
    """`gunicorn --workers 4 wsgi:app` on this database, for the whole module."""
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    log_path = tmp_path_factory.mktemp("gunicorn") / "stderr.log"
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "SECRET_KEY": SERVER_SECRET_KEY,
        "LIBRARY_ENV": "development",
        "LOAN_LIMIT": str(LOAN_LIMIT),
    }
    command = [
        sys.executable, "-m", "gunicorn",
        "--workers", str(WORKERS),
        "--bind", f"127.0.0.1:{port}",
        "--timeout", "120",
        "--graceful-timeout", "10",
        "--no-control-socket",  # no shared socket under ~/.gunicorn for parallel runs
        "wsgi:app",
    ]  # fmt: skip
    with open(log_path, "wb") as log_file:
        proc = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=log_file, stderr=subprocess.STDOUT
        )
    try:
        _wait_until_healthy(proc, url, log_path)
        yield Server(url, log_path)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture
def server(gunicorn, request, capsys):
    """The module's server; its log of this test is printed if the test fails."""
    start = gunicorn.log_size()
    failed_before = request.session.testsfailed
    yield gunicorn
    if request.session.testsfailed > failed_before:
        with capsys.disabled():
            print(f"\n---- gunicorn log during {request.node.name} ----")
            print(gunicorn.log(since=start) or "(empty)")


def test_every_worker_compiles_the_pages_before_its_first_request(app, server):
    """gunicorn.conf.py: no librarian waits for a template to compile in a new worker."""
    compiled = re.compile(r"templates compiled pid=(\d+) count=(\d+)")
    deadline = time.monotonic() + START_TIMEOUT
    while len(found := compiled.findall(server.log())) < WORKERS:
        assert time.monotonic() < deadline, server.log()
        time.sleep(0.1)
    assert len({pid for pid, _ in found}) == WORKERS
    # ours and flask-smorest's (the API documentation pages)
    assert {int(count) for _, count in found} == {len(app.jinja_env.list_templates())}
    assert "templates not compiled" not in server.log()


# ---- talking to it ---------------------------------------------------------------


@dataclass
class Reply:
    request: str
    status: int
    body: object

    @property
    def code(self):
        return self.body.get("code") if isinstance(self.body, dict) else None

    @property
    def outcome(self):
        """(status, problem code): what the counts compare; code is None on success."""
        return (self.status, self.code)


class Client:
    def __init__(self, server, token=None):
        self.server = server
        self.token = token
        self.session = requests.Session()

    def call(self, method, path, body=None, headers=None, *, session=None):
        headers = dict(headers or {})
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        response = (session or self.session).request(
            method, self.server.url + API + path, json=body, headers=headers, timeout=HTTP_TIMEOUT
        )
        try:
            data = response.json()
        except ValueError:
            data = response.text
        return Reply(f"{method} {path} {body or ''}".strip(), response.status_code, data)

    def ok(self, method, path, body=None, status=200):
        reply = self.call(method, path, body)
        assert reply.status == status, reply
        return reply.body

    def race(self, calls):
        """Send every (method, path, body[, headers]) at once; the replies, in order."""
        barrier = threading.Barrier(len(calls))

        def send(call):
            with requests.Session() as session:
                barrier.wait(timeout=HTTP_TIMEOUT)
                return self.call(*call, session=session)

        with ThreadPoolExecutor(max_workers=len(calls)) as pool:
            return list(pool.map(send, calls))

    # -- data --
    def book(self, copies):
        return self.ok(
            "POST", "/books", {"title": "Book", "author": "A", "copies_total": copies}, 201
        )

    def reader(self, n):
        return self.ok(
            "POST", "/readers", {"name": f"Reader {n}", "email": f"r{n}@example.org"}, 201
        )

    def get_book(self, book):
        return self.ok("GET", f"/books/{book['id']}")

    def get_reader(self, reader):
        return self.ok("GET", f"/readers/{reader['id']}")

    def loans(self, **query):
        params = "&".join(f"{k}={v}" for k, v in {"per_page": 100, **query}.items())
        return self.ok("GET", f"/loans?{params}")


@pytest.fixture
def desk(server, make_librarian):
    """A librarian signed in to the gunicorn server over HTTP."""
    librarian = make_librarian()
    client = Client(server)
    login = client.ok(
        "POST", "/auth/login", {"email": librarian.email, "password": librarian.password}
    )
    client.token = login["access_token"]
    return client


def assert_sound(app, replies):
    """No answer was a server error, and the database keeps every invariant.

    (The `server` fixture prints the server's log of a failed test.)
    """
    assert [r for r in replies if r.status >= 500] == []
    assert invariants(app) == []


def issue_call(book, reader):
    return ("POST", "/loans", {"book_id": book["id"], "reader_id": reader["id"]})


# ---- the races -------------------------------------------------------------------


def test_forty_readers_race_for_the_last_copy(app, server, desk):
    book = desk.book(copies=1)
    readers = [desk.reader(n) for n in range(40)]

    replies = desk.race([issue_call(book, reader) for reader in readers])

    assert_sound(app, replies)
    assert Counter(r.outcome for r in replies) == {
        (201, None): 1,
        (409, "book_unavailable"): 39,
    }, replies
    winner = next(r.body for r in replies if r.status == 201)
    assert desk.get_book(book)["copies_available"] == 0
    open_loans = desk.loans(book_id=book["id"], status="open")
    assert [loan["id"] for loan in open_loans["items"]] == [winner["id"]]
    assert desk.loans()["total"] == 1
    holders = [r for r in readers if desk.get_reader(r)["open_loans"]]
    assert [r["id"] for r in holders] == [winner["reader_id"]]


def test_one_reader_races_for_twelve_books_and_gets_the_limit(app, server, desk):
    books = [desk.book(copies=1) for _ in range(12)]
    reader = desk.reader(1)

    replies = desk.race([issue_call(book, reader) for book in books])

    assert_sound(app, replies)
    assert Counter(r.outcome for r in replies) == {
        (201, None): LOAN_LIMIT,
        (409, "loan_limit_reached"): 12 - LOAN_LIMIT,
    }, replies
    assert desk.get_reader(reader)["open_loans"] == LOAN_LIMIT
    assert desk.loans(reader_id=reader["id"], status="open")["total"] == LOAN_LIMIT
    lent = {r.body["book_id"] for r in replies if r.status == 201}
    shelves = {b["id"]: desk.get_book(b)["copies_available"] for b in books}
    assert shelves == {b["id"]: 0 if b["id"] in lent else 1 for b in books}


def test_one_reader_races_for_one_book_ten_times(app, server, desk):
    book = desk.book(copies=5)
    reader = desk.reader(1)

    replies = desk.race([issue_call(book, reader)] * 10)

    assert_sound(app, replies)
    assert Counter(r.outcome for r in replies) == {
        (201, None): 1,
        (409, "already_borrowed"): 9,
    }, replies
    assert desk.get_book(book)["copies_available"] == 4
    assert desk.get_reader(reader)["open_loans"] == 1
    assert desk.loans()["total"] == 1


def test_ten_returns_of_one_loan_by_id(app, server, desk):
    book = desk.book(copies=2)
    reader = desk.reader(1)
    loan = desk.ok("POST", "/loans", issue_call(book, reader)[2], 201)

    replies = desk.race([("POST", f"/loans/{loan['id']}/return", None)] * 10)

    assert_sound(app, replies)
    assert Counter(r.outcome for r in replies) == {
        (200, None): 1,
        (409, "already_returned"): 9,
    }, replies
    returned = next(r.body for r in replies if r.status == 200)
    assert returned["id"] == loan["id"] and returned["status"] == "returned"
    assert desk.ok("GET", f"/loans/{loan['id']}")["returned_at"] == returned["returned_at"]
    assert desk.get_book(book)["copies_available"] == 2
    assert desk.get_reader(reader)["open_loans"] == 0


def test_ten_returns_of_one_book_by_reader(app, server, desk):
    book = desk.book(copies=2)
    reader = desk.reader(1)
    body = issue_call(book, reader)[2]
    loan = desk.ok("POST", "/loans", body, 201)

    replies = desk.race([("POST", "/loans/return", body)] * 10)

    assert_sound(app, replies)
    assert Counter(r.outcome for r in replies) == {
        (200, None): 1,
        (409, "not_borrowed"): 9,
    }, replies
    assert next(r.body for r in replies if r.status == 200)["id"] == loan["id"]
    assert desk.get_book(book)["copies_available"] == 2
    assert desk.get_reader(reader)["open_loans"] == 0
    assert desk.loans(status="returned")["total"] == 1
    assert desk.loans(status="open")["total"] == 0


# Which answers each kind of request may get in the storm.
STORM_OUTCOMES = {
    "issue": {
        (201, None),
        (409, "book_unavailable"),
        (409, "loan_limit_reached"),
        (409, "already_borrowed"),
    },
    "return_book": {(200, None), (409, "not_borrowed")},
    "return_loan": {(200, None), (409, "already_returned")},
}


def test_storm_of_issues_and_returns_keeps_every_invariant(app, server, desk):
    """20 desks (two per reader) issue and return five books for 8 rounds, all at once."""
    copies = [1, 1, 2, 2, 3]
    books = [desk.book(copies=n) for n in copies]
    readers = [desk.reader(n) for n in range(10)]
    actors = [(reader, random.Random(i)) for i, reader in enumerate(readers * 2)]
    rounds = 8
    barrier = threading.Barrier(len(actors))

    def act(actor):
        reader, rng = actor
        mine, log = [], []
        with requests.Session() as session:
            try:
                for _ in range(rounds):
                    roll = rng.random()
                    book = rng.choice(books)
                    if mine and roll < 0.25:
                        kind, call = "return_loan", ("POST", f"/loans/{mine.pop(0)}/return", None)
                    elif roll < 0.5:
                        kind = "return_book"
                        call = ("POST", "/loans/return", issue_call(book, reader)[2])
                    else:
                        kind, call = "issue", issue_call(book, reader)
                    barrier.wait(timeout=HTTP_TIMEOUT)
                    reply = desk.call(*call, session=session)
                    log.append((kind, reply))
                    if kind == "issue" and reply.status == 201:
                        mine.append(reply.body["id"])
            except BaseException:
                barrier.abort()  # let the others stop instead of waiting for us
                raise
        return log

    with ThreadPoolExecutor(max_workers=len(actors)) as pool:
        logs = list(pool.map(act, actors))
    answers = [entry for log in logs for entry in log]
    replies = [reply for _, reply in answers]

    assert_sound(app, replies)
    unexpected = [(k, r) for k, r in answers if r.outcome not in STORM_OUTCOMES[k]]
    assert unexpected == []

    # Every success is accounted for in the database, and nothing else happened.
    issued = [r.body["id"] for k, r in answers if k == "issue" and r.status == 201]
    returned = [r.body["id"] for k, r in answers if k != "issue" and r.status == 200]
    assert issued, "the storm lent nothing: it tested nothing"
    assert len(set(issued)) == len(issued)
    assert len(set(returned)) == len(returned), "a loan was returned twice"
    assert set(returned) <= set(issued)
    all_loans = desk.loans()
    assert all_loans["total"] == len(issued)
    assert desk.loans(status="returned")["total"] == len(returned)
    open_ids = {loan["id"] for loan in desk.loans(status="open")["items"]}
    assert open_ids == set(issued) - set(returned)

    for book, total in zip(books, copies, strict=True):
        on_loan = desk.loans(book_id=book["id"], status="open")["total"]
        available = desk.get_book(book)["copies_available"]
        assert 0 <= available == total - on_loan, (book, available, on_loan)
    for reader in readers:
        held = desk.loans(reader_id=reader["id"], status="open")["items"]
        assert desk.get_reader(reader)["open_loans"] == len(held) <= LOAN_LIMIT
        assert len({loan["book_id"] for loan in held}) == len(held)


def test_returns_racing_issues_to_the_same_readers(app, server, desk):
    """A return and an issue to the same reader, both touching the same books, at once.

    Reader i holds book i; together: return it, borrow it again, borrow book i+1. On
    PostgreSQL the return and the issues lock the reader, the loan and the books; taken
    in different orders, requests wait on each other and one is aborted (deadlock).
    """
    books = [desk.book(copies=5) for _ in range(4)]
    readers = [desk.reader(n) for n in range(4)]
    pairs = list(zip(readers, books, books[1:] + books[:1], strict=True))
    replies = []
    for _ in range(12):
        for reader, book, _next in pairs:
            desk.ok("POST", "/loans", issue_call(book, reader)[2], 201)
        calls = []
        for reader, book, next_book in pairs:
            body = issue_call(book, reader)[2]
            calls += [("POST", "/loans/return", body), issue_call(book, reader)]
            calls.append(issue_call(next_book, reader))
        round_replies = desk.race(calls)
        replies += round_replies
        assert_sound(app, round_replies)
        returns, again, onward = round_replies[0::3], round_replies[1::3], round_replies[2::3]
        assert {r.outcome for r in returns} == {(200, None)}, returns
        assert {r.outcome for r in onward} == {(201, None)}, onward
        assert {r.outcome for r in again} <= {(201, None), (409, "already_borrowed")}, again
        for reply in onward + again:
            if reply.status == 201:
                desk.ok("POST", f"/loans/{reply.body['id']}/return")
        assert all(desk.get_book(book)["copies_available"] == 5 for book in books)
    assert invariants(app) == []


def test_the_same_idempotent_issue_sent_ten_times_at_once_lends_one_copy(app, server, desk):
    book = desk.book(copies=5)
    reader = desk.reader(1)
    call = (*issue_call(book, reader), {"Idempotency-Key": "desk-7-scan-0042"})

    replies = desk.race([call] * 10)

    assert_sound(app, replies)
    created = [r for r in replies if r.status == 201]
    assert created, replies
    assert {r.body["id"] for r in created} == {created[0].body["id"]}  # one loan, replayed
    assert {r.outcome for r in replies} <= {(201, None), (409, "idempotency_in_progress")}
    assert desk.loans()["total"] == 1
    assert desk.get_book(book)["copies_available"] == 4
    # Once the first has finished, every repeat gets its response
    again = desk.call(*call)
    assert again.status == 201 and again.body == created[0].body


# ---- holds -----------------------------------------------------------------------


def hold_call(book, reader):
    return ("POST", "/holds", {"book_id": book["id"], "reader_id": reader["id"]})


def test_twenty_readers_placing_holds_at_once_get_distinct_gap_free_places(app, server, desk):
    book = desk.book(copies=1)
    holder = desk.reader(0)
    desk.ok("POST", "/loans", {"book_id": book["id"], "reader_id": holder["id"]}, 201)
    readers = [desk.reader(n) for n in range(1, 21)]

    replies = desk.race([hold_call(book, reader) for reader in readers])

    assert_sound(app, replies)
    assert [r.status for r in replies] == [201] * 20, replies
    assert sorted(r.body["position"] for r in replies) == list(range(1, 21))
    queue = desk.ok("GET", f"/holds?book_id={book['id']}&status=waiting&per_page=100")
    assert [h["position"] for h in queue["items"]] == list(range(1, 21))
    # Queue order is arrival order: each reply's place is where it stands now
    assert {h["id"]: h["position"] for h in queue["items"]} == {
        r.body["id"]: r.body["position"] for r in replies
    }


def test_a_return_racing_an_issue_to_someone_else_keeps_the_copy_for_the_hold(app, server, desk):
    rounds = 8
    for n in range(rounds):
        book = desk.book(copies=1)
        holder, waiting, stranger = (desk.reader(f"{n}-{who}") for who in "hws")
        loan = desk.ok("POST", "/loans", {"book_id": book["id"], "reader_id": holder["id"]}, 201)
        hold = desk.ok("POST", "/holds", {"book_id": book["id"], "reader_id": waiting["id"]}, 201)

        replies = desk.race(
            [("POST", f"/loans/{loan['id']}/return", None), issue_call(book, stranger)]
        )

        assert_sound(app, replies)
        returned, issued = replies
        assert returned.status == 200, returned
        assert issued.outcome in {(409, "book_unavailable"), (409, "book_on_hold")}, issued
        assert desk.ok("GET", f"/holds/{hold['id']}")["status"] == "ready"
        assert desk.get_book(book)["copies_available"] == 0
        # The waiting reader, and only they, can now take it
        desk.ok("POST", "/loans", {"book_id": book["id"], "reader_id": waiting["id"]}, 201)
        assert invariants(app) == []


def test_a_storm_of_holds_returns_issues_and_cancels_keeps_the_invariant(app, server, desk):
    book = desk.book(copies=2)
    readers = [desk.reader(n) for n in range(12)]
    loans = [
        desk.ok("POST", "/loans", {"book_id": book["id"], "reader_id": r["id"]}, 201)
        for r in readers[:2]
    ]
    holds = [
        desk.ok("POST", "/holds", {"book_id": book["id"], "reader_id": r["id"]}, 201)
        for r in readers[2:6]
    ]
    calls = [("POST", f"/loans/{loan['id']}/return", None) for loan in loans]
    calls += [("POST", f"/holds/{h['id']}/cancel", None) for h in holds[:2]]
    calls += [hold_call(book, r) for r in readers[6:10]]
    calls += [issue_call(book, r) for r in readers[2:6] + readers[10:12]]

    replies = desk.race(calls)

    assert_sound(app, replies)
    ready = desk.ok("GET", f"/holds?book_id={book['id']}&status=ready")["total"]
    open_loans = desk.loans(book_id=book["id"], status="open")["total"]
    assert desk.get_book(book)["copies_available"] + ready + open_loans == 2


def test_first_registrations_at_once_make_exactly_one_admin(app, server):
    client = Client(server)
    calls = [
        ("POST", "/auth/register", {"email": f"first{n}@library.test", "password": "long enough"})
        for n in range(8)
    ]

    replies = client.race(calls)

    assert [r for r in replies if r.status >= 500] == []
    created = [r for r in replies if r.status == 201]
    assert len(created) == 1, replies  # the rest: registration closed
    assert created[0].body["is_admin"] is True
    assert {r.code for r in replies if r.status != 201} == {"registration_closed"}


def test_books_added_and_renamed_at_once_leave_each_words_first_title(app, server, desk):
    """Migration 0012's triggers under concurrent writers: thirty books added and ten
    renamed at once, all sharing words, in shuffled order. No request fails (on
    PostgreSQL the word rows are locked in one order, so no two deadlock), and every
    word keeps the first title of the books that have had it."""
    from tests.test_book_search_cap import first_titles, stored_first_titles

    renamed = [
        desk.ok("POST", "/books", {"title": f"Zz old {n} shared", "author": "Writer"}, 201)
        for n in range(10)
    ]
    adds = [
        ("POST", "/books", {"title": f"Race {n:02d} shared", "author": "Writer"}) for n in range(30)
    ]
    renames = [
        ("PATCH", f"/books/{book['id']}", {"title": f"Race {n:02d}b shared early"})
        for n, book in enumerate(renamed)
    ]
    calls = adds + renames
    random.shuffle(calls)

    replies = desk.race(calls)

    assert [r for r in replies if r.status not in (200, 201)] == []
    titles = [body["title"] for _, _, body in calls] + [f"Zz old {n} shared" for n in range(10)]
    assert stored_first_titles(app) == first_titles(titles, "Writer")
    page = desk.ok("GET", "/books?q=shared")
    assert [b["title"] for b in page["items"]][:3] == [
        "Race 00 shared",
        "Race 00b shared early",
        "Race 01 shared",
    ]

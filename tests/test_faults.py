"""Faults over real HTTP: the database goes away, a gunicorn worker is killed.

The servers are real gunicorn processes (sync workers), started per test like those of
`test_concurrency.py`, whose helpers these tests reuse. The database is never stopped:
the machine's PostgreSQL is shared, so a TCP proxy (`faults_proxy.TcpProxy`) stands
between gunicorn and PostgreSQL and takes the database away from the app's side.
"""

import contextlib
import os
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import jwt
import psycopg
import pytest
import requests
from sqlalchemy import select
from sqlalchemy.engine import make_url

from library.extensions import db
from library.models import Loan
from tests.conftest import invariants
from tests.faults_proxy import TcpProxy
from tests.test_concurrency import (
    API,
    HTTP_TIMEOUT,
    ROOT,
    SERVER_SECRET_KEY,
    Client,
    Server,
    _free_port,
    _wait_until_healthy,
)

COOKIE = "library_access"  # JWT_ACCESS_COOKIE_NAME: how the pages know who is signed in
CONNECT_TIMEOUT = 2  # DATABASE_CONNECT_TIMEOUT of the servers, in seconds
# DATABASE_PING_AFTER_SECONDS of the servers: a pooled connection idle this long is
# pinged before use (database.py); one used more recently is trusted.
PING_AFTER = 0.5
RECOVERY_TIMEOUT = 60  # seconds for a server to answer /healthz 200 again


# ---- servers -----------------------------------------------------------------------


@dataclass
class Gunicorn(Server):
    proc: subprocess.Popen = None

    def workers(self):
        """The pids of the master's worker processes, read from /proc."""
        return worker_pids(self.proc.pid)


def worker_pids(master):
    pids = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue  # the process ended while we looked
        # pid (comm) state ppid ...; comm may hold spaces and parentheses
        ppid = int(text[text.rindex(")") + 2 :].split()[1])
        if ppid == master:
            pids.add(int(stat.parent.name))
    return pids


def busy_worker(server, workers):
    """A worker now holding an HTTP connection (a sync worker is mid-request), or None.

    Reads the sockets of each worker in /proc/<pid>/fd and the established TCP
    connections to the server's port in /proc/net/tcp.
    """
    port = int(server.url.rsplit(":", 1)[1])
    inodes = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local_port = int(fields[1].rsplit(":", 1)[1], 16)
        if local_port == port and fields[3] == "01":  # ESTABLISHED
            inodes.add(fields[9])
    for pid in workers:
        try:
            for fd in Path(f"/proc/{pid}/fd").iterdir():
                target = os.readlink(fd)
                match = re.fullmatch(r"socket:\[(\d+)\]", target)
                if match and match.group(1) in inodes:
                    return pid
        except OSError:
            continue
    return None


@pytest.fixture
def launch(tmp_path, request, capsys):
    """Start gunicorn on a database URL; stopped after the test, its log shown on failure."""
    started = []
    failed_before = request.session.testsfailed

    def start(url, workers=3, env=None):
        port = _free_port()
        log_path = tmp_path / f"gunicorn-{len(started)}.log"
        environment = {
            **os.environ,
            "DATABASE_URL": url,
            "SECRET_KEY": SERVER_SECRET_KEY,
            "LIBRARY_ENV": "development",
            "DATABASE_CONNECT_TIMEOUT": str(CONNECT_TIMEOUT),
            "DATABASE_PING_AFTER_SECONDS": str(PING_AFTER),
            **(env or {}),
        }
        command = [
            sys.executable, "-m", "gunicorn",
            "--workers", str(workers),
            "--bind", f"127.0.0.1:{port}",
            "--timeout", "120",
            "--graceful-timeout", "10",
            "--no-control-socket",
            "wsgi:app",
        ]  # fmt: skip
        with open(log_path, "wb") as log_file:
            proc = subprocess.Popen(
                command, cwd=ROOT, env=environment, stdout=log_file, stderr=subprocess.STDOUT
            )
        server = Gunicorn(f"http://127.0.0.1:{port}", log_path, proc)
        started.append(server)
        _wait_until_healthy(proc, server.url, log_path)
        return server

    yield start
    for server in started:
        server.proc.terminate()
        try:
            server.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.proc.kill()
            server.proc.wait()
    if request.session.testsfailed > failed_before:
        with capsys.disabled():
            for server in started:
                print(f"\n---- gunicorn log of {request.node.name} ----")
                print(server.log() or "(empty)")


def sign_in(server, make_librarian):
    """A librarian signed in to `server` over HTTP: a Client with a bearer token."""
    librarian = make_librarian()
    client = Client(server)
    body = {"email": librarian.email, "password": librarian.password}
    client.token = client.ok("POST", "/auth/login", body)["access_token"]
    client.credentials = body
    client.librarian_id = librarian.id
    return client


def aging_token(librarian_id, minutes_left=10):
    """An access token of the server's in the second half of its 30 minutes of life.

    A page answered with it hands out a fresh one (web/session.py, `_refresh_token`).
    """
    now = int(time.time())
    claims = {
        "sub": str(librarian_id),
        "jti": uuid.uuid4().hex,
        "type": "access",
        "fresh": False,
        "iat": now - 60 * (30 - minutes_left),
        "nbf": now - 60 * (30 - minutes_left),
        "exp": now + 60 * minutes_left,
    }
    return jwt.encode(claims, SERVER_SECRET_KEY, algorithm="HS256")


def wait_healthy(server):
    """/healthz answers 200 again, and every connection the cut killed has idled long
    enough to be pinged before its next use (a worker that served no request since the
    cut still has them in its pool; test_a_dead_connection_fails_one_request says what
    a busier one does)."""
    deadline = time.monotonic() + RECOVERY_TIMEOUT
    while time.monotonic() < deadline:
        try:
            if requests.get(f"{server.url}/healthz", timeout=HTTP_TIMEOUT).status_code == 200:
                time.sleep(PING_AFTER)
                return
        except requests.RequestException:
            pass
        time.sleep(0.2)
    pytest.fail(f"/healthz did not come back to 200 within {RECOVERY_TIMEOUT}s")


# ---- 1. the database goes away -----------------------------------------------------


def assert_unavailable_problem(response):
    assert response.status_code == 503, (response.status_code, response.text[:500])
    assert response.headers["Content-Type"] == "application/problem+json", response.headers
    assert response.headers.get("Retry-After"), response.headers
    body = response.json()
    assert body["status"] == 503 and body["code"] == "unavailable", body
    assert body["title"] and body["detail"], body


def assert_unavailable_page(response):
    assert response.status_code == 503, (response.status_code, response.text[:500])
    assert response.headers["Content-Type"].startswith("text/html"), response.headers
    assert response.headers.get("Retry-After"), response.headers
    assert "<html" in response.text.lower()
    assert "Service Unavailable" in response.text, response.text[:2000]
    assert "Traceback" not in response.text


def assert_health_down(response):
    assert response.status_code == 503, (response.status_code, response.text[:500])
    assert response.json()["status"] == "unavailable", response.text


def down_requests(server, desk, book, reader):
    """What is asked while the database is away: (name, send, check) each."""
    bearer = {"Authorization": f"Bearer {desk.token}"}
    issue = {"book_id": book["id"], "reader_id": reader["id"]}

    def get(path, **kw):
        return lambda s: s.get(server.url + path, timeout=HTTP_TIMEOUT, **kw)

    def post(path, **kw):
        return lambda s: s.post(server.url + path, timeout=HTTP_TIMEOUT, **kw)

    page_cookie = {COOKIE: desk.token}
    return [
        ("list loans", get(f"{API}/loans", headers=bearer), assert_unavailable_problem),
        ("who am I", get(f"{API}/auth/me", headers=bearer), assert_unavailable_problem),
        ("issue", post(f"{API}/loans", json=issue, headers=bearer), assert_unavailable_problem),
        ("login", post(f"{API}/auth/login", json=desk.credentials), assert_unavailable_problem),
        ("sign-in page", get("/login"), assert_unavailable_page),
        ("books page", get("/books", cookies=page_cookie), assert_unavailable_page),
        ("healthz", get("/healthz"), assert_health_down),
    ]


def health_call(server):
    return ("healthz", lambda s: s.get(f"{server.url}/healthz", timeout=HTTP_TIMEOUT))


def ask_all(calls, times):
    """Each (name, send) `times` times, all at once (so every worker gets some)."""

    def send(call):
        name, fn = call
        with requests.Session() as session:
            return name, fn(session)

    with ThreadPoolExecutor(max_workers=len(calls) * times) as pool:
        return list(pool.map(send, calls * times))


def test_database_down_gets_503_everywhere_and_recovers(
    app, dialect, database_url, launch, make_librarian
):
    """PostgreSQL goes away (stopped, unreachable, in the middle of a transaction) and
    comes back: every face says 503, nothing half-written stays, and the same workers
    serve again, unrestarted.

    PostgreSQL only: SQLite is a file the app opens itself, there is no server to lose.
    A connection keeps working on a file that was moved away or (for root, who runs the
    tests here) made unreadable, and a new connection to a missing path makes a new empty
    database; neither is a "database down" that the app could notice and recover from.
    """
    if dialect == "sqlite":
        pytest.skip("SQLite has no database server to lose (see the docstring)")
    with proxied(database_url) as (proxy, url):
        server = launch(url, workers=3)
        desk = sign_in(server, make_librarian)
        book = desk.book(copies=5)
        readers = [desk.reader(n) for n in range(3)]
        first = desk.ok("POST", "/loans", issue_body(book, readers[0]), 201)
        # Every worker gets connections in its pool first: they all die at the cut.
        ask_all([health_call(server)], 12)
        workers = server.workers()
        assert len(workers) == 3

        # Stopped (connections refused), then unreachable (connections never answered).
        for hang, reader in ((False, readers[1]), (True, readers[2])):
            proxy.cut(hang=hang)
            calls = down_requests(server, desk, book, reader)
            checks = {name: check for name, _send, check in calls}
            for name, response in ask_all([c[:2] for c in calls], times=2):
                try:
                    checks[name](response)
                except AssertionError as exc:
                    raise AssertionError(f"{name} (hang={hang}): {exc}") from exc

            proxy.restore()
            wait_healthy(server)
            # Back by itself: every face answers again.
            desk.ok("GET", "/loans")
            assert desk.loans(reader_id=reader["id"])["total"] == 0, (
                "an issue answered 503 left a loan behind"
            )
            login = requests.post(
                f"{server.url}{API}/auth/login", json=desk.credentials, timeout=HTTP_TIMEOUT
            )
            assert login.status_code == 200, login.text
            page = requests.get(
                f"{server.url}/books", cookies={COOKIE: desk.token}, timeout=HTTP_TIMEOUT
            )
            assert page.status_code == 200, page.text[:2000]
            # Enough at once that every worker (very likely) serves one again.
            replies = [r for _name, r in ask_all([health_call(server)], 12)]
            assert {r.status_code for r in replies} == {200}, replies
            assert invariants(app) == []

        # Gone in the middle of a request, the sign-in already checked: the proxy cuts
        # as the first message holding the marker goes by. The COMMIT of an issue, and
        # of a return, never reaches the server, which rolls the rest back.
        bearer = {"Authorization": f"Bearer {desk.token}"}
        aging = aging_token(desk.librarian_id)
        mid_request = [
            (b"FROM loan", "GET", f"{API}/loans", {}),
            (b"FROM book", "GET", "/books", {"cookies": {COOKIE: aging}}),
            (b"COMMIT", "POST", f"{API}/loans", {"json": issue_body(book, readers[1])}),
            (b"COMMIT", "POST", f"{API}/loans/{first['id']}/return", {}),
        ]
        for marker, method, path, kw in mid_request:
            proxy.cut_on(marker)
            api = path.startswith(API)
            if api:
                kw = {"headers": bearer, **kw}
            response = requests.request(method, server.url + path, timeout=HTTP_TIMEOUT, **kw)
            assert proxy.tripped.is_set(), (f"no {marker} went by", method, path)
            check = assert_unavailable_problem if api else assert_unavailable_page
            try:
                check(response)
            except AssertionError as exc:
                raise AssertionError(f"{method} {path} cut at {marker}: {exc}") from exc
            proxy.restore()
            wait_healthy(server)

        assert server.workers() == workers, "a worker died or was restarted"
        assert [loan["id"] for loan in desk.loans()["items"]] == [first["id"]]
        assert desk.ok("GET", f"/loans/{first['id']}")["status"] == "open"
        assert desk.get_book(book)["copies_available"] == 4
        assert [desk.get_reader(r)["open_loans"] for r in readers] == [1, 0, 0]
        assert invariants(app) == []


def test_a_dead_connection_fails_one_request_then_the_pool_is_renewed(
    app, dialect, database_url, launch, make_librarian
):
    """A connection used moments ago is not pinged (issue 8: the ping was a quarter of an
    issue's round trips). If the server dropped it in between, the request that meets it
    gets the 503 problem and writes nothing; the pool is renewed, and the next request
    succeeds without waiting for any idle time."""
    if dialect == "sqlite":
        pytest.skip("SQLite has no database server to lose")
    with proxied(database_url) as (proxy, url):
        server = launch(url, workers=1, env={"DATABASE_PING_AFTER_SECONDS": "600"})
        desk = sign_in(server, make_librarian)
        book, reader = desk.book(copies=2), desk.reader(0)
        desk.ok("GET", "/loans")  # the worker's connection, now in its pool
        proxy.cut()
        proxy.restore()
        assert_unavailable_problem(
            requests.post(
                f"{server.url}{API}/loans",
                json=issue_body(book, reader),
                headers={"Authorization": f"Bearer {desk.token}"},
                timeout=HTTP_TIMEOUT,
            )
        )
        loan = desk.ok("POST", "/loans", issue_body(book, reader), 201)
        assert desk.loans(reader_id=reader["id"])["items"] == [loan]
        assert invariants(app) == []


def test_database_lost_under_load_keeps_every_acknowledged_write(
    app, dialect, database_url, launch, make_librarian
):
    """Issues and returns keep coming while PostgreSQL is cut off and comes back.

    Every answer is a success, a rule's 409 or a 503 `unavailable` (never a 500, never
    a hang), every acknowledged write is in the database, and the invariants hold.
    (A 503 may still have committed: the commit can reach the server and its answer
    be lost on the way back; a client cannot know, the database stays consistent.)
    PostgreSQL only, for the reason given in the previous test.
    """
    if dialect == "sqlite":
        pytest.skip("SQLite has no database server to lose")
    with proxied(database_url) as (proxy, url):
        server = launch(url, workers=3)
        desk = sign_in(server, make_librarian)
        pairs = [(desk.book(copies=1), desk.reader(n)) for n in range(6)]
        allowed = {
            **LOAD_OUTCOMES,
            "issue": LOAD_OUTCOMES["issue"] | {(503, "unavailable")},
            "return": LOAD_OUTCOMES["return"] | {(503, "unavailable")},
        }
        load = Load(desk, pairs, allowed).start()
        try:
            load.wait_for_progress(30)
            for hang in (False, True):
                proxy.cut(hang=hang)
                load.wait_for_outcome((503, "unavailable"), 6)
                proxy.restore()
                load.wait_for_progress(30)  # it recovers by itself, under load
        finally:
            load.stop()
        wait_healthy(server)

    load.assert_sound()
    load.assert_written(app)
    assert invariants(app) == []


@contextlib.contextmanager
def writes_held(database_url):
    """Hold the database's write lock (SQLite) or the readers' table (PostgreSQL: every
    issue and return locks its reader) until the block ends."""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        conn = sqlite3.connect(url.database, isolation_level=None, timeout=30)
        conn.execute("BEGIN IMMEDIATE")
    else:
        conn = psycopg.connect(url.set(drivername="postgresql").render_as_string(False))
        conn.execute("LOCK TABLE reader IN EXCLUSIVE MODE")
    try:
        yield
    finally:
        conn.rollback()
        conn.close()


def test_killed_worker_loses_no_acknowledged_write(app, database_url, launch, make_librarian):
    """SIGKILL two gunicorn workers in the middle of issue/return requests.

    The requests a killed worker was serving get no answer (the connection resets):
    they were not acknowledged, so they may or may not have happened. Every other
    answer is a normal one, and every acknowledged write is in the database: each loan
    answered 201 exists, each return answered 200 is returned; the invariants hold.
    """
    server = launch(database_url, workers=4)
    desk = sign_in(server, make_librarian)
    pairs = [(desk.book(copies=1), desk.reader(n)) for n in range(8)]
    first_workers = server.workers()
    assert len(first_workers) == 4

    load = Load(desk, pairs, LOAD_OUTCOMES).start()
    killed = []
    try:
        load.wait_for_progress(30)
        for _ in range(2):
            # Writes held back a moment, so every worker is mid-request, waiting for the
            # database, when one is killed: its request is surely cut short.
            with writes_held(database_url):
                time.sleep(0.3)
                victim = wait_for_busy_worker(server, server.workers() - set(killed))
                assert victim is not None, "no worker was serving a request"
                os.kill(victim, signal.SIGKILL)
                killed.append(victim)
            load.wait_for_progress(30)
        assert len(load.unanswered) >= 2, load.unanswered
        # The master replaced both, and the new workers carry the load too.
        deadline = time.monotonic() + RECOVERY_TIMEOUT
        while len(server.workers() - set(killed)) < 4 and time.monotonic() < deadline:
            time.sleep(0.1)
        load.wait_for_progress(30)
    finally:
        load.stop()

    replaced = server.workers()
    assert len(replaced) == 4 and not set(killed) & replaced, (killed, replaced)
    load.assert_sound()
    load.assert_written(app)
    assert invariants(app) == []
    # The answers still agree with the database, through the server too.
    for book, reader in pairs:
        held = desk.loans(reader_id=reader["id"], status="open")["total"]
        assert desk.get_book(book)["copies_available"] == 1 - held
        assert desk.get_reader(reader)["open_loans"] == held


# ---- load ------------------------------------------------------------------------


def issue_body(book, reader):
    return {"book_id": book["id"], "reader_id": reader["id"]}


# The answers each kind of request may get: a reader cycles issue, return of one book
# of their own, so a 409 only follows a request whose answer was lost.
LOAD_OUTCOMES = {
    "issue": {(201, None), (409, "already_borrowed")},
    "return": {(200, None), (409, "not_borrowed")},
}


# A request whose worker was killed: reset before the answer, or in the middle of it.
CUT_SHORT = (requests.ConnectionError, requests.exceptions.ChunkedEncodingError)


@dataclass
class Load:
    """One thread per (book, reader): issue the book, return it, again, until stopped."""

    desk: Client
    pairs: list
    allowed: dict
    issued: list = field(default_factory=list)  # loan ids answered 201
    returned: list = field(default_factory=list)  # loan ids answered 200
    outcomes: Counter = field(default_factory=Counter)  # (kind, status, code)
    unanswered: list = field(default_factory=list)  # connection cut, no answer
    unexpected: list = field(default_factory=list)
    errors: list = field(default_factory=list)

    def __post_init__(self):
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads = []

    def start(self):
        for book, reader in self.pairs:
            thread = threading.Thread(target=self._run, args=(book, reader), daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self):
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=HTTP_TIMEOUT + 10)
        assert not any(t.is_alive() for t in self._threads), "a load thread hangs"

    def _run(self, book, reader):
        body = issue_body(book, reader)
        calls = [("issue", "/loans"), ("return", "/loans/return")]
        with requests.Session() as session:
            while not self._stop.is_set():
                for kind, path in calls:
                    try:
                        reply = self.desk.call("POST", path, body, session=session)
                    except CUT_SHORT as exc:  # no whole answer: not acknowledged
                        with self._lock:
                            self.unanswered.append((kind, str(exc)[:200]))
                        continue
                    except Exception as exc:  # noqa: BLE001 - a hang or a bug: report it
                        with self._lock:
                            self.errors.append((kind, repr(exc)))
                        self._stop.set()
                        return
                    self._record(kind, reply)

    def _record(self, kind, reply):
        with self._lock:
            self.outcomes[(kind, *reply.outcome)] += 1
            if reply.outcome not in self.allowed[kind]:
                self.unexpected.append((kind, reply))
            elif kind == "issue" and reply.status == 201:
                self.issued.append(reply.body["id"])
            elif kind == "return" and reply.status == 200:
                self.returned.append(reply.body["id"])

    def _count(self, outcome=None):
        with self._lock:
            if outcome is None:
                return len(self.issued) + len(self.returned)
            return sum(n for (_k, *o), n in self.outcomes.items() if tuple(o) == outcome)

    def _wait(self, what, outcome, more):
        target = self._count(outcome) + more
        deadline = time.monotonic() + RECOVERY_TIMEOUT
        while self._count(outcome) < target:
            if self.errors or self.unexpected:
                pytest.fail(f"the load failed: {self.errors or self.unexpected}")
            if time.monotonic() > deadline:
                pytest.fail(f"no {more} {what} in {RECOVERY_TIMEOUT}s: {dict(self.outcomes)}")
            time.sleep(0.05)

    def wait_for_progress(self, writes):
        """Until `writes` more issues or returns have been acknowledged."""
        self._wait("acknowledged writes", None, writes)

    def wait_for_outcome(self, outcome, more):
        self._wait(f"answers {outcome}", outcome, more)

    def assert_sound(self):
        assert self.errors == []
        assert self.unexpected == []
        assert [o for o in self.outcomes if o[1] >= 500 and o[1:] != (503, "unavailable")] == []
        assert self.issued, "nothing was lent: the load tested nothing"
        assert len(set(self.issued)) == len(self.issued)
        assert len(set(self.returned)) == len(self.returned), "a loan was returned twice"

    def assert_written(self, app):
        """Every acknowledged write is in the database."""
        with app.app_context():
            loans = {
                loan.id: loan
                for loan in db.session.scalars(
                    select(Loan).where(Loan.id.in_(self.issued + self.returned))
                )
            }
            missing = [i for i in self.issued if i not in loans]
            not_returned = [i for i in self.returned if loans[i].returned_at is None]
            db.session.rollback()
        assert missing == [], "loans answered 201 are not in the database"
        assert not_returned == [], "returns answered 200 are not in the database"


def wait_for_busy_worker(server, workers, timeout=5):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pid = busy_worker(server, workers)
        if pid is not None:
            return pid
        time.sleep(0.001)
    return None


# ---- talking to it -----------------------------------------------------------------


@contextlib.contextmanager
def proxied(database_url):
    """A TcpProxy in front of PostgreSQL: `with proxied(url) as (proxy, proxied_url)`."""
    url = make_url(database_url)
    proxy = TcpProxy(url.host or "127.0.0.1", url.port or 5432).start()
    try:
        yield (
            proxy,
            url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False),
        )
    finally:
        proxy.stop()

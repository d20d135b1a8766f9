"""Fixtures in flaskr's shape, over real databases.

Every test that takes `app` (or anything built on it) runs twice: on a SQLite file and
on PostgreSQL. The schema comes from the migrations (`flask_migrate.upgrade()`), once
per database per session; tables are emptied after each test, so tests may commit
for real (the concurrency tests need it).

PostgreSQL: TEST_DATABASE_URL, default postgresql://postgres@127.0.0.1:5432/test
(its public schema is dropped and rebuilt). Unreachable, it skips those tests with the
reason, except under CI=true, where it fails them: CI must test PostgreSQL.
"""

import os
from types import SimpleNamespace

import flask_migrate
import pytest
from flask_jwt_extended import create_access_token
from sqlalchemy import create_engine, text

from config import TestConfig, normalize_database_url
from library import create_app
from library.auth.passwords import hash_password
from library.extensions import db, limiter
from library.models import Librarian, utcnow

PG_URL = os.environ.get("TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
PASSWORD = "correct horse battery"


def _postgres_reachable(url):
    try:
        engine = create_engine(normalize_database_url(url))
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        engine.dispose()
        return None
    except Exception as exc:  # noqa: BLE001 - any failure means "not here"
        return str(exc).splitlines()[0]


def _reset_postgres(url):
    engine = create_engine(normalize_database_url(url), isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def database_url(request, tmp_path_factory):
    """A migrated, empty database of each kind; its URL."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'library.db'}"
    else:
        problem = _postgres_reachable(PG_URL)
        if problem:
            message = f"PostgreSQL at {PG_URL} is unreachable: {problem}"
            if IN_CI:
                pytest.fail(message + " (CI must run the PostgreSQL tests)")
            pytest.skip(message)
        _reset_postgres(PG_URL)
        url = normalize_database_url(PG_URL)
    app = create_app(TestConfig, SQLALCHEMY_DATABASE_URI=url)
    with app.app_context():
        flask_migrate.upgrade()
        db.engine.dispose()
    return url


@pytest.fixture(scope="session")
def _session_app(database_url):
    app = create_app(TestConfig, SQLALCHEMY_DATABASE_URI=database_url)
    yield app
    with app.app_context():
        db.engine.dispose()


# Tables of the migrations that no model declares and no trigger empties with the books.
UNMODELLED_TABLES = ("book_word",)


def empty_tables(app):
    with app.app_context():
        tables = [t.name for t in db.metadata.sorted_tables] + list(UNMODELLED_TABLES)
        if db.engine.dialect.name == "postgresql":
            db.session.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
        else:
            for name in reversed(tables):
                db.session.execute(text(f"DELETE FROM {name}"))
        db.session.commit()


@pytest.fixture
def app(_session_app):
    """The app on one database; config changes and rows are undone after the test."""
    saved = dict(_session_app.config)
    limiter.reset()  # sign-in failure counters start at zero
    yield _session_app
    _session_app.config.clear()
    _session_app.config.update(saved)
    empty_tables(_session_app)


@pytest.fixture
def dialect(app):
    with app.app_context():
        return db.engine.dialect.name


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


class ApiClient:
    """The test client, speaking to /api/v1 with a bearer token."""

    def __init__(self, app, token=None, prefix="/api/v1"):
        self.client = app.test_client()
        self.token = token
        self.prefix = prefix

    def request(self, method, path, **kwargs):
        headers = dict(kwargs.pop("headers", None) or {})
        if self.token and "Authorization" not in headers:
            headers["Authorization"] = f"Bearer {self.token}"
        return self.client.open(self.prefix + path, method=method, headers=headers, **kwargs)

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, **kw):
        return self.request("POST", path, **kw)

    def put(self, path, **kw):
        return self.request("PUT", path, **kw)

    def patch(self, path, **kw):
        return self.request("PATCH", path, **kw)

    def delete(self, path, **kw):
        return self.request("DELETE", path, **kw)


_password_hashes = {}


def _hash(app, password):
    if password not in _password_hashes:
        with app.app_context():
            _password_hashes[password] = hash_password(password)
    return _password_hashes[password]


@pytest.fixture
def make_librarian(app):
    """Create a librarian directly; returns it with a fresh `token`."""
    counter = iter(range(1, 10_000))

    def make(email=None, password=PASSWORD, is_admin=False, is_active=True, name="Staff"):
        email = email or f"librarian{next(counter)}@library.test"
        with app.app_context():
            librarian = Librarian(
                email=email,
                name=name,
                password_hash=_hash(app, password),
                is_admin=is_admin,
                is_active=is_active,
                created_at=utcnow(),
            )
            db.session.add(librarian)
            db.session.commit()
            token = create_access_token(identity=librarian)
            return SimpleNamespace(
                id=librarian.id, email=email, password=password, is_admin=is_admin, token=token
            )

    return make


@pytest.fixture
def admin(make_librarian):
    return make_librarian(email="admin@library.test", is_admin=True)


@pytest.fixture
def librarian(make_librarian):
    return make_librarian(email="desk@library.test")


@pytest.fixture
def api(app, librarian):
    """The API as a signed-in (non-admin) librarian."""
    return ApiClient(app, librarian.token)


@pytest.fixture
def admin_api(app, admin):
    return ApiClient(app, admin.token)


@pytest.fixture
def anon(app):
    """The API without a token."""
    return ApiClient(app)


@pytest.fixture
def make_book(api):
    """Add a book through the API; overrides change the defaults."""
    counter = iter(range(1, 10_000))

    def make(**overrides):
        body = {"title": f"Book {next(counter)}", "author": "Some Author", "copies_total": 1}
        body.update(overrides)
        r = api.post("/books", json=body)
        assert r.status_code == 201, r.json
        return r.json

    return make


@pytest.fixture
def make_reader(api):
    """Register a reader through the API; overrides change the defaults."""
    counter = iter(range(1, 10_000))

    def make(**overrides):
        n = next(counter)
        body = {"name": f"Reader {n}", "email": f"reader{n}@example.org"}
        body.update(overrides)
        r = api.post("/readers", json=body)
        assert r.status_code == 201, r.json
        return r.json

    return make


@pytest.fixture
def issue(api):
    """Issue a book; returns the response."""

    def do(book, reader, **kw):
        return api.post("/loans", json={"book_id": book["id"], "reader_id": reader["id"]}, **kw)

    return do


def invariants(app):
    """Broken circulation invariants, read straight from the database (empty = all hold)."""
    with app.app_context():
        broken = (
            db.session.execute(
                text(
                    """
                SELECT 'book ' || b.id || ': available ' || b.copies_available
                       || ' != total ' || b.copies_total || ' - open ' || COUNT(l.id)
                       || ' - ready holds ' || (SELECT COUNT(*) FROM hold h
                                                 WHERE h.book_id = b.id AND h.status = 'ready')
                FROM book b LEFT JOIN loan l ON l.book_id = b.id AND l.returned_at IS NULL
                GROUP BY b.id, b.copies_available, b.copies_total
                HAVING b.copies_available != b.copies_total - COUNT(l.id)
                       - (SELECT COUNT(*) FROM hold h WHERE h.book_id = b.id AND h.status = 'ready')
                    OR b.copies_available < 0
                UNION ALL
                SELECT 'book ' || h.book_id || ': waiting holds while a copy is on the shelf'
                FROM hold h JOIN book b ON b.id = h.book_id
                WHERE h.status = 'waiting' AND b.copies_available > 0
                GROUP BY h.book_id
                UNION ALL
                SELECT 'reader ' || r.id || ': counter ' || r.open_loans || ' != open '
                       || COUNT(l.id)
                FROM reader r LEFT JOIN loan l ON l.reader_id = r.id AND l.returned_at IS NULL
                GROUP BY r.id, r.open_loans
                HAVING r.open_loans != COUNT(l.id) OR COUNT(l.id) > :limit
                """
                ),
                {"limit": app.config["LOAN_LIMIT"]},
            )
            .scalars()
            .all()
        )
        db.session.rollback()
        return broken


@pytest.fixture
def smtp(app):
    """A real SMTP server on 127.0.0.1 (aiosmtpd), and the app pointed at it."""
    from .fakes import SmtpServer

    server = SmtpServer().start()
    app.config.update(server.config())
    yield server
    server.stop()


@pytest.fixture
def bot_api(app):
    """A local stand-in for the Telegram Bot API, and the app pointed at it."""
    from .fakes import BotApi

    api = BotApi().start()
    app.config.update(api.config())
    yield api
    api.stop()


@pytest.fixture
def desk(app, librarian):
    """The pages, signed in as a librarian (a `tests.test_web.Desk`)."""
    from tests.test_web import Desk

    d = Desk(app)
    d.sign_in(librarian.email)
    return d

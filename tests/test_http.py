"""What every response carries (security headers, a request id), the request log, and
what production insists on."""

import json
import logging
import re

import pytest

from config import TestConfig
from library import create_app
from tests.conftest import PASSWORD
from tests.test_web import Desk

from .helpers import assert_problem

PAGES_AND_API = [
    "/login",
    "/api/v1/books",
    "/api/v1/openapi.json",
    "/api/docs",
    "/healthz",
    "/static/css/app.css",
    "/no/such/page",
    "/api/v1/no/such/route",
]


@pytest.mark.parametrize("path", PAGES_AND_API)
def test_every_response_has_the_security_headers(client, path):
    r = client.get(path)
    csp = r.headers["Content-Security-Policy"]
    directives = dict(d.strip().split(" ", 1) for d in csp.split(";"))
    assert directives["script-src"] == "'self'"  # no inline script, no other site
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert directives["frame-ancestors"] == "'none'"
    assert directives["default-src"] == "'self'"
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    assert r.headers["Referrer-Policy"] == "same-origin"
    assert r.headers["X-Frame-Options"] == "DENY"


def test_pages_have_no_inline_script_or_style(app, librarian):
    desk = Desk(app)
    desk.sign_in(librarian.email)
    for path in ("/", "/books", "/readers", "/loans", "/notifications", "/login", "/api/docs"):
        html = desk.get(path).text
        assert "<script>" not in html and "<script " not in html.replace("<script src=", "")
        assert " style=" not in html and "<style" not in html, path
        assert not re.search(r"<[^>]*\son[a-z]+\s*=", html), path  # no onclick=...


def test_request_id_is_made_or_taken_and_sent_back(client):
    made = client.get("/healthz").headers["X-Request-ID"]
    assert len(made) == 32 and made != client.get("/healthz").headers["X-Request-ID"]
    assert (
        client.get("/healthz", headers={"X-Request-ID": "lb-42.abc"}).headers["X-Request-ID"]
        == "lb-42.abc"
    )
    hostile = "x" * 65
    for bad in (hostile, "a b", "id;Set-Cookie=x", "<script>", "é"):
        assert client.get("/healthz", headers={"X-Request-ID": bad}).headers["X-Request-ID"] != bad


def request_lines(caplog):
    return [json.loads(r.getMessage()) for r in caplog.records if r.name == "library.request"]


def test_one_structured_log_line_per_request_with_its_ids(app, api, make_book, caplog):
    caplog.set_level(logging.INFO)
    book = make_book()
    caplog.clear()
    r = api.get(f"/books/{book['id']}", headers={"X-Request-ID": "trace-7"})
    [line] = request_lines(caplog)
    assert line["request_id"] == "trace-7" == r.headers["X-Request-ID"]
    assert line["method"] == "GET" and line["path"] == f"/api/v1/books/{book['id']}"
    assert line["status"] == 200 and line["librarian_id"] is not None
    assert isinstance(line["ms"], float)
    caplog.clear()
    api.get("/books/999999")
    [line] = request_lines(caplog)
    assert line["status"] == 404


def test_no_password_token_or_cookie_in_any_log_line(app, anon, make_librarian, caplog):
    caplog.set_level(logging.DEBUG)
    secret_password = "Sup3r-secret-passphrase"
    anon.post("/auth/register", json={"email": "first@library.test", "password": secret_password})
    r = anon.post("/auth/login", json={"email": "first@library.test", "password": secret_password})
    token = r.json["access_token"]
    anon.post(
        "/auth/login", json={"email": "first@library.test", "password": "Wr0ng-" + secret_password}
    )
    anon.get("/books", headers={"Authorization": f"Bearer {token}"})
    anon.get("/books", headers={"Authorization": f"Bearer {token}x"})  # tampered
    desk = Desk(app)
    desk.get("/login")
    desk.post("/login", {"email": "first@library.test", "password": secret_password})
    cookie = desk.client.get_cookie("library_access").value
    desk.get("/books?q=anything")
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert text  # something was logged
    for secret in (secret_password, token, cookie, token.split(".")[2]):
        assert secret not in text


def test_too_large_a_form_gets_a_413_page(app, librarian):
    desk = Desk(app)
    desk.sign_in(librarian.email, PASSWORD)
    r = desk.post("/books/new", {"title": "x" * (2 * 1024 * 1024), "author": "A"})
    assert r.status_code == 413
    assert "text/html" in r.content_type and "too large" in r.text


def test_too_large_a_json_body_is_a_413_problem(api):
    r = api.post(
        "/loans",
        data=b'{"book_id": 1, "reader_id": 1, "pad": "' + b"x" * (2 * 1024 * 1024) + b'"}',
        content_type="application/json",
    )
    assert_problem(r, 413, "payload_too_large")


@pytest.mark.parametrize("key", [None, "", "dev-only-secret-key-not-for-production-use", "short"])
def test_production_refuses_to_start_without_a_real_secret_key(key, database_url):
    with pytest.raises(RuntimeError, match="SECRET_KEY"):
        create_app(
            TestConfig,
            LIBRARY_ENV="production",
            SECRET_KEY=key,
            SQLALCHEMY_DATABASE_URI=database_url,
        )


def test_production_marks_cookies_secure(database_url, make_librarian):
    librarian = make_librarian()
    app = create_app(
        TestConfig,
        LIBRARY_ENV="production",
        SECRET_KEY=TestConfig.SECRET_KEY,
        SQLALCHEMY_DATABASE_URI=database_url,
    )
    desk = Desk(app)
    desk.get("/login")
    r = desk.post("/login", {"email": librarian.email, "password": PASSWORD})
    cookies = r.headers.getlist("Set-Cookie")
    access = next(c for c in cookies if c.startswith("library_access="))
    assert "Secure" in access and "HttpOnly" in access
    assert r.headers["Strict-Transport-Security"].startswith("max-age=")
    with app.app_context():
        from library.extensions import db

        db.engine.dispose()

"""Sign-in throttling (flask-limiter): failures per email and per address get 429 with
Retry-After, in the API and on the sign-in page; with Redis, across gunicorn workers."""

import os
import subprocess
import sys
import uuid

import pytest
import redis
import requests
from flask import Flask
from flask_limiter.util import get_remote_address

from library.extensions import DecoratedLimitsOnly
from tests.conftest import PASSWORD
from tests.test_concurrency import ROOT, _free_port, _wait_until_healthy
from tests.test_web import Desk, alerts

from .helpers import assert_problem

REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")


def login(anon, email, password, **kw):
    return anon.post("/auth/login", json={"email": email, "password": password}, **kw)


def test_failures_for_one_email_get_429_with_retry_after(app, anon, librarian):
    app.config["LOGIN_LIMIT_PER_EMAIL"] = "3 per 15 minutes"
    for _ in range(3):
        assert_problem(login(anon, librarian.email, "wrong password"), 401, "invalid_credentials")
    r = login(anon, librarian.email, "wrong password")
    body = assert_problem(r, 429, "rate_limited")
    assert 1 <= int(r.headers["Retry-After"]) <= 15 * 60
    assert "try again" in body["detail"].lower()
    # Locked even with the right password (and however the email is written)
    assert_problem(login(anon, f"  {librarian.email.upper()} ", PASSWORD), 429, "rate_limited")
    # The OAuth2 form counts the same email
    r = anon.post("/auth/login", data={"username": librarian.email, "password": PASSWORD})
    assert_problem(r, 429, "rate_limited")


def test_other_emails_and_successes_are_not_slowed(app, anon, make_librarian):
    app.config["LOGIN_LIMIT_PER_EMAIL"] = "3 per 15 minutes"
    one, two = make_librarian(), make_librarian()
    for _ in range(3):
        login(anon, one.email, "wrong password")
    assert login(anon, two.email, PASSWORD).status_code == 200
    for _ in range(10):  # right passwords never count
        assert login(anon, two.email, PASSWORD).status_code == 200


def test_failures_from_one_address_get_429_whatever_the_email(app, anon, librarian):
    app.config["LOGIN_LIMIT_PER_ADDRESS"] = "4 per 15 minutes"
    for i in range(4):
        assert login(anon, f"guess{i}@library.test", "password123").status_code == 401
    assert_problem(login(anon, "guess9@library.test", "password123"), 429, "rate_limited")
    other = {"REMOTE_ADDR": "10.9.8.7"}
    r = anon.post(
        "/auth/login",
        json={"email": librarian.email, "password": PASSWORD},
        environ_base=other,
    )
    assert r.status_code == 200


def test_sign_in_page_shows_the_wait_beside_the_form(app, librarian, anon):
    app.config["LOGIN_LIMIT_PER_EMAIL"] = "2 per 15 minutes"
    desk = Desk(app)
    desk.get("/login")
    for _ in range(2):
        r = desk.post("/login", {"email": librarian.email, "password": "wrong password"})
        assert r.status_code == 401
    r = desk.post("/login", {"email": librarian.email, "password": PASSWORD})
    assert r.status_code == 429 and "text/html" in r.content_type
    assert int(r.headers["Retry-After"]) > 0
    assert any("Too many failed sign-ins" in a for a in alerts(r.text)), r.text
    assert 'name="email"' in r.text  # the form is still there
    assert "library_access" not in (desk.client.get_cookie("library_access") or "")
    # The same counter throttles the API for that email
    assert_problem(login(anon, librarian.email, PASSWORD), 429, "rate_limited")
    # Looking at the page is never throttled
    assert desk.get("/login").status_code == 200


def test_throttled_sign_in_is_documented(anon):
    doc = anon.client.get("/api/v1/openapi.json").get_json()
    assert "429" in doc["paths"]["/api/v1/auth/login"]["post"]["responses"]


def _redis_or_skip():
    try:
        redis.Redis.from_url(REDIS_URL).ping()
    except redis.RedisError as exc:
        if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
            pytest.fail(f"Redis at {REDIS_URL} is unreachable under CI: {exc}")
        pytest.skip(f"Redis at {REDIS_URL} is unreachable: {exc}")


def test_gunicorn_workers_share_the_counters_in_redis(database_url, make_librarian, tmp_path):
    """4 workers, a limit of 3: with Redis the 4th failure is refused whichever worker
    takes it (with memory storage each worker would keep counts of its own)."""
    _redis_or_skip()
    librarian = make_librarian()
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    log_path = tmp_path / "gunicorn.log"
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "SECRET_KEY": "throttle-test-secret-key-0123456789abcdef",
        "REDIS_URL": REDIS_URL,
        "LOGIN_LIMIT_PER_EMAIL": "3 per 15 minutes",
        # A fresh key space, so parallel runs and earlier runs do not meet.
        "RATELIMIT_KEY_PREFIX": f"library-test-{uuid.uuid4().hex}",
    }
    command = [sys.executable, "-m", "gunicorn", "--workers", "4", "--bind",
               f"127.0.0.1:{port}", "--no-control-socket", "wsgi:app"]  # fmt: skip
    with open(log_path, "wb") as log_file:
        proc = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=log_file, stderr=subprocess.STDOUT
        )
    try:
        _wait_until_healthy(proc, url, log_path)
        statuses = []
        for _ in range(8):  # new connections: spread over the workers
            r = requests.post(
                f"{url}/api/v1/auth/login",
                json={"email": librarian.email, "password": "wrong password"},
                headers={"Connection": "close"},
                timeout=30,
            )
            statuses.append(r.status_code)
        assert statuses == [401] * 3 + [429] * 5, statuses
        # The counters live in Redis (not in any worker's memory)
        client = redis.Redis.from_url(REDIS_URL)
        keys = client.keys(f"*{env['RATELIMIT_KEY_PREFIX']}*")
        assert keys
        client.delete(*keys)
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@pytest.mark.parametrize(
    "setting",
    ["RATELIMIT_DEFAULT", "RATELIMIT_APPLICATION", "RATELIMIT_META"],
)
def test_a_limit_on_every_request_is_refused_at_start(setting):
    """Only decorated views check limits (library/extensions.py): a limit meant for every
    request would silently never count, so the app refuses to start with one."""
    app = Flask(__name__)
    app.config.update({setting: "100 per minute", "RATELIMIT_STORAGE_URI": "memory://"})
    with pytest.raises(RuntimeError, match="Only decorated views"):
        DecoratedLimitsOnly(key_func=get_remote_address).init_app(app)

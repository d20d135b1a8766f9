"""Scale-out (SPEC section 6): two gunicorn servers on different ports share one
PostgreSQL, with a Celery worker and beat on Redis. Loans issued and returned through
both keep every invariant, and every notification is delivered exactly once."""

import os
import subprocess
import sys
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from sqlalchemy import select

from library.extensions import db
from library.models import Notification
from tests.conftest import invariants
from tests.test_celery import queue, redis_url, worker  # noqa: F401 - fixtures
from tests.test_concurrency import ROOT, _free_port, _wait_until_healthy

SECRET_KEY = "scale-out-test-secret-key-0123456789abcdef"


@pytest.fixture
def servers(app, dialect, tmp_path):
    """Two gunicorn servers (2 workers each) on the test's PostgreSQL."""
    if dialect != "postgresql":
        pytest.skip("hosts share a PostgreSQL; SQLite lives on one machine")
    procs, urls = [], []
    env = {
        **os.environ,
        "DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"],
        "SECRET_KEY": SECRET_KEY,
        "LIBRARY_ENV": "development",
    }
    try:
        for n in range(2):
            port = _free_port()
            url = f"http://127.0.0.1:{port}"
            log_path = tmp_path / f"gunicorn-{n}.log"
            with open(log_path, "wb") as log_file:
                proc = subprocess.Popen(
                    [sys.executable, "-m", "gunicorn", "--workers", "2", "--bind",
                     f"127.0.0.1:{port}", "--no-control-socket", "wsgi:app"],
                    cwd=ROOT, env=env, stdout=log_file, stderr=subprocess.STDOUT,
                )  # fmt: skip
            procs.append(proc)
            _wait_until_healthy(proc, url, log_path)
            urls.append(url)
        yield urls
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(timeout=30)


def test_two_servers_and_a_celery_worker_keep_invariants_and_send_each_mail_once(
    app,
    servers,
    worker,  # noqa: F811 - the fixture imported from test_celery
    smtp,
    make_librarian,
):
    librarian = make_librarian()
    first, second = servers
    login = requests.post(
        f"{first}/api/v1/auth/login",
        json={"email": librarian.email, "password": librarian.password},
        timeout=30,
    )
    headers = {"Authorization": f"Bearer {login.json()['access_token']}"}

    def call(base, method, path, body=None):
        return requests.request(
            method, f"{base}/api/v1{path}", json=body, headers=headers, timeout=60
        )

    books = [
        call(
            first, "POST", "/books", {"title": f"Shared {i}", "author": "A", "copies_total": 2}
        ).json()
        for i in range(3)
    ]
    readers = [
        call(second, "POST", "/readers", {"name": f"R {i}", "email": f"r{i}@example.org"}).json()
        for i in range(12)
    ]
    # Every reader asks for every book, half of them through each server, all at once.
    attempts = [
        (servers[(i + j) % 2], book, reader)
        for i, reader in enumerate(readers)
        for j, book in enumerate(books)
    ]
    barrier = threading.Barrier(len(attempts))

    def issue(attempt):
        base, book, reader = attempt
        barrier.wait(timeout=60)
        return call(base, "POST", "/loans", {"book_id": book["id"], "reader_id": reader["id"]})

    with ThreadPoolExecutor(max_workers=len(attempts)) as pool:
        replies = list(pool.map(issue, attempts))
    assert [r for r in replies if r.status_code >= 500] == []
    lent = [
        (base, r.json())
        for (base, _, _), r in zip(attempts, replies, strict=True)
        if r.status_code == 201
    ]
    assert len(lent) == 6  # 3 books x 2 copies
    assert Counter(r.json()["code"] for r in replies if r.status_code != 201) == {
        "book_unavailable": len(attempts) - 6
    }

    # Each returned through the other server than the one that lent it
    def give_back(lent_by):
        base, loan = lent_by
        other = servers[1 - servers.index(base)]
        return call(other, "POST", f"/loans/{loan['id']}/return")

    with ThreadPoolExecutor(max_workers=len(lent)) as pool:
        returns = list(pool.map(give_back, lent))
    assert [r.status_code for r in returns] == [200] * len(lent)
    assert invariants(app) == []

    def entries():
        with app.app_context():
            rows = db.session.execute(
                select(Notification.recipient, Notification.subject, Notification.status)
            ).all()
            db.session.rollback()
            return rows

    worker.wait_for(
        lambda: len(entries()) == 6 and all(e.status == "sent" for e in entries()),
        "every issue mail to be sent",
        timeout=60,
    )
    # Two more delivery passes: nothing is sent twice
    passes = worker.succeeded("library.deliver_notifications")
    worker.wait_for(
        lambda: worker.succeeded("library.deliver_notifications") >= passes + 2, "two more passes"
    )
    sent = Counter((m["To"], m["Subject"]) for m in smtp.received())
    assert sent == Counter((e.recipient, e.subject) for e in entries())
    assert set(sent.values()) == {1}

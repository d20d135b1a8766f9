"""Idempotency-Key (SPEC section 3): a retried write gets its first response again and
changes nothing. Keys are stored in the database; the race over gunicorn is in
test_concurrency.py."""

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select, update

from library.extensions import db
from library.models import IdempotencyKey, Loan

from .helpers import assert_invalid, assert_problem


def key(value):
    return {"Idempotency-Key": value}


def loan_count(app):
    with app.app_context():
        n = db.session.scalar(select(func.count()).select_from(Loan))
        db.session.rollback()
        return n


@pytest.fixture
def pair(make_book, make_reader):
    return make_book(copies_total=3), make_reader()


def test_a_repeated_issue_gets_the_first_response_and_lends_once(app, api, pair, issue):
    book, reader = pair
    first = issue(book, reader, headers=key("issue-1"))
    second = issue(book, reader, headers=key("issue-1"))
    assert first.status_code == second.status_code == 201
    assert second.get_json() == first.get_json()
    assert second.headers["Location"] == first.headers["Location"]
    assert second.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert loan_count(app) == 1
    assert api.get(f"/books/{book['id']}").json["copies_available"] == 2
    # Without a key the same request is a new one, refused by the rules
    assert_problem(issue(book, reader), 409, "already_borrowed")


@pytest.mark.parametrize("how", ["by_id", "by_pair"])
def test_a_repeated_return_is_answered_again(app, api, pair, issue, how):
    book, reader = pair
    loan = issue(book, reader).json
    if how == "by_id":
        send = lambda: api.post(f"/loans/{loan['id']}/return", headers=key("ret"))  # noqa: E731
    else:
        body = {"book_id": book["id"], "reader_id": reader["id"]}
        send = lambda: api.post("/loans/return", json=body, headers=key("ret"))  # noqa: E731
    first, second = send(), send()
    assert first.status_code == second.status_code == 200
    assert second.get_json() == first.get_json() and first.json["returned_at"]
    assert api.get(f"/books/{book['id']}").json["copies_available"] == 3


def test_a_repeated_renewal_renews_once(app, api, pair, issue):
    book, reader = pair
    loan = issue(book, reader).json
    first = api.post(f"/loans/{loan['id']}/renew", headers=key("renew-a"))
    second = api.post(f"/loans/{loan['id']}/renew", headers=key("renew-a"))
    assert first.status_code == second.status_code == 200
    assert first.json["renewals"] == second.json["renewals"] == 1
    assert api.get(f"/loans/{loan['id']}").json["renewals"] == 1


def test_the_same_key_with_another_body_is_refused(app, api, pair, make_book, issue):
    book, reader = pair
    assert issue(book, reader, headers=key("k")).status_code == 201
    other = make_book()
    body = assert_problem(issue(other, reader, headers=key("k")), 422, "idempotency_key_reused")
    assert body["errors"][0]["field"] == "Idempotency-Key"
    r = api.post(f"/loans/{1}/renew", headers=key("k"))  # another path, same key
    assert_problem(r, 422, "idempotency_key_reused")
    assert loan_count(app) == 1


def test_keys_belong_to_one_librarian(app, pair, issue, make_librarian):
    from tests.conftest import ApiClient

    book, reader = pair
    assert issue(book, reader, headers=key("shared")).status_code == 201
    colleague = ApiClient(app, make_librarian().token)
    r = colleague.post(
        "/loans", json={"book_id": book["id"], "reader_id": reader["id"]}, headers=key("shared")
    )
    assert_problem(r, 409, "already_borrowed")  # ran as a request of its own


def test_a_refusal_is_the_first_response_too(app, api, pair, make_book, make_reader, issue):
    book = make_book(copies_total=1)
    holder, waiting = make_reader(), make_reader()
    loan = issue(book, holder).json
    assert_problem(issue(book, waiting, headers=key("w")), 409, "book_unavailable")
    api.post(f"/loans/{loan['id']}/return")  # a copy is back on the shelf
    r = issue(book, waiting, headers=key("w"))
    assert_problem(r, 409, "book_unavailable")
    assert r.headers["Idempotent-Replayed"] == "true"
    assert issue(book, waiting, headers=key("w2")).status_code == 201  # a new key is new


def test_an_invalid_request_frees_its_key(app, api, pair):
    book, reader = pair
    r = api.post("/loans", json={"book_id": book["id"]}, headers=key("fix-me"))
    assert_invalid(r, "reader_id")
    r = api.post(
        "/loans", json={"book_id": book["id"], "reader_id": reader["id"]}, headers=key("fix-me")
    )
    assert r.status_code == 201


@pytest.mark.parametrize("bad", ["", "x" * 256, "two words", "tab\there", "ключ"])
def test_a_malformed_key_is_422(api, pair, issue, bad):
    book, reader = pair
    try:
        r = issue(book, reader, headers=key(bad))
    except ValueError:  # the test client itself refuses some header values
        pytest.skip("not sendable")
    assert_invalid(r, "Idempotency-Key")


def test_a_key_runs_anew_after_it_expires(app, api, pair, issue):
    book, reader = pair
    loan = issue(book, reader, headers=key("old")).json
    api.post(f"/loans/{loan['id']}/return")
    with app.app_context():
        db.session.execute(
            update(IdempotencyKey).values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )
        db.session.commit()
    r = issue(book, reader, headers=key("old"))
    assert r.status_code == 201 and r.json["id"] != loan["id"]


def test_a_request_still_running_gets_409_and_a_dead_claim_is_taken_over(app, api, pair, librarian):
    book, reader = pair
    body = {"book_id": book["id"], "reader_id": reader["id"]}
    # The fingerprint of this exact request, learnt by sending it under another key
    assert api.post("/loans", json=body, headers=key("probe")).status_code == 201
    api.post("/loans/return", json=body)
    now = datetime.now(UTC)
    with app.app_context():
        fingerprint = db.session.get(IdempotencyKey, (librarian.id, "probe")).fingerprint
        # The same request under "slow", claimed and not answered yet: still running
        db.session.add(
            IdempotencyKey(
                librarian_id=librarian.id,
                key="slow",
                fingerprint=fingerprint,
                created_at=now,
                expires_at=now + timedelta(hours=24),
            )
        )
        db.session.commit()
    r = api.post("/loans", json=body, headers=key("slow"))
    assert_problem(r, 409, "idempotency_in_progress")
    assert loan_count(app) == 1
    # Its worker died: after the lease the claim is taken over and the request runs
    with app.app_context():
        db.session.execute(
            update(IdempotencyKey)
            .where(IdempotencyKey.key == "slow")
            .values(created_at=now - timedelta(hours=1))
        )
        db.session.commit()
    assert api.post("/loans", json=body, headers=key("slow")).status_code == 201
    assert loan_count(app) == 2


def test_the_header_is_documented_on_the_retryable_writes(anon):
    doc = anon.client.get("/api/v1/openapi.json").get_json()
    for path in (
        "/api/v1/loans",
        "/api/v1/loans/return",
        "/api/v1/loans/{loan_id}/return",
        "/api/v1/loans/{loan_id}/renew",
    ):
        params = doc["paths"][path]["post"].get("parameters", [])
        assert any(p["name"] == "Idempotency-Key" and p["in"] == "header" for p in params), path

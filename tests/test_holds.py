"""Holds (SPEC section 7): each rule and error code, and the whole life of a hold, on
both databases. Races over gunicorn are in test_concurrency.py."""

from datetime import UTC, datetime, timedelta

import pytest

from library import notifications
from tests.conftest import invariants

from .helpers import assert_problem, assert_utc, ids


def place(api, book, reader, **kw):
    return api.post("/holds", json={"book_id": book["id"], "reader_id": reader["id"]}, **kw)


@pytest.fixture
def lent(make_book, make_reader, issue):
    """A one-copy book lent to its holder: (book, holder, loan)."""
    book = make_book(title="Dune", copies_total=1)
    holder = make_reader(name="Holder")
    loan = issue(book, holder).json
    return book, holder, loan


def deliver(app):
    with app.app_context():
        return notifications.deliver_due()


def test_place_a_hold_on_a_book_that_is_all_out(app, api, lent, make_reader):
    book, _, _ = lent
    waiting = make_reader(name="Waiting")
    r = place(api, book, waiting)
    assert r.status_code == 201
    hold = r.json
    assert r.headers["Location"].endswith(f"/api/v1/holds/{hold['id']}")
    assert hold["status"] == "waiting" and hold["position"] == 1
    assert hold["book"]["title"] == "Dune" and hold["reader"]["name"] == "Waiting"
    assert_utc(hold["placed_at"])
    assert hold["ready_at"] is None and hold["expires_at"] is None
    assert api.get(f"/holds/{hold['id']}").json == hold
    assert invariants(app) == []


def test_queue_positions_are_first_come_first_served(api, lent, make_reader):
    book, _, _ = lent
    holds = [place(api, book, make_reader()).json for _ in range(3)]
    assert [h["position"] for h in holds] == [1, 2, 3]
    api.post(f"/holds/{holds[0]['id']}/cancel")
    assert api.get(f"/holds/{holds[2]['id']}").json["position"] == 2
    page = api.get("/holds", query_string={"book_id": book["id"], "status": "waiting"}).json
    assert ids(page) == [holds[1]["id"], holds[2]["id"]]
    assert [h["position"] for h in page["items"]] == [1, 2]


def test_refusals_and_their_codes(app, api, lent, make_book, make_reader, issue):
    book, holder, _ = lent
    reader = make_reader()
    on_shelf = make_book(copies_total=2)
    assert_problem(place(api, on_shelf, reader), 409, "copy_available")
    assert_problem(place(api, book, holder), 409, "already_borrowed")
    assert place(api, book, reader).status_code == 201
    assert_problem(place(api, book, reader), 409, "already_on_hold")
    assert_problem(place(api, {"id": 99999}, reader), 404, "book_not_found")
    assert_problem(place(api, book, {"id": 99999}), 404, "reader_not_found")
    assert_problem(api.get("/holds/99999"), 404, "hold_not_found")
    assert_problem(api.post("/holds/99999/cancel"), 404, "hold_not_found")
    r = api.post("/holds", json={"book_id": "x"})
    assert_problem(r, 422, "validation_error")


def test_hold_limit(app, api, make_book, make_reader, issue):
    app.config["HOLD_LIMIT"] = 2
    other, reader = make_reader(), make_reader()
    books = [make_book() for _ in range(3)]
    for b in books:
        issue(b, other)
    assert place(api, books[0], reader).status_code == 201
    assert place(api, books[1], reader).status_code == 201
    body = assert_problem(place(api, books[2], reader), 409, "hold_limit_reached")
    assert "already has 2 holds" in body["detail"]


def test_return_makes_the_first_hold_ready_and_mails_its_reader(app, api, lent, make_reader, smtp):
    book, _, loan = lent
    first = place(api, book, make_reader(name="First", email="first@example.org")).json
    second = place(api, book, make_reader(name="Second", email="second@example.org")).json
    before = datetime.now(UTC)
    assert api.post(f"/loans/{loan['id']}/return").status_code == 200
    ready = api.get(f"/holds/{first['id']}").json
    assert ready["status"] == "ready" and ready["position"] is None
    deadline = assert_utc(ready["expires_at"]) - assert_utc(ready["ready_at"])
    assert deadline == timedelta(days=7) and assert_utc(ready["ready_at"]) >= before
    assert api.get(f"/books/{book['id']}").json["copies_available"] == 0  # kept, not shelved
    assert api.get(f"/holds/{second['id']}").json["position"] == 1
    assert invariants(app) == []
    deliver(app)
    [mail] = [m for m in smtp.received("first@example.org") if "pickup" in m["Subject"]]
    assert mail["Subject"] == "Ready for pickup: Dune"
    body = mail.get_body(preferencelist=("plain",)).get_content()
    assert assert_utc(ready["expires_at"]).date().isoformat() in body
    assert not [m for m in smtp.received("second@example.org") if "pickup" in m["Subject"]]


def test_the_held_copy_goes_only_to_its_reader(app, api, lent, make_reader, issue):
    book, _, loan = lent
    waiting = make_reader()
    stranger = make_reader()
    hold = place(api, book, waiting).json
    api.post(f"/loans/{loan['id']}/return")
    assert_problem(issue(book, stranger), 409, "book_on_hold")
    r = issue(book, waiting)
    assert r.status_code == 201
    assert api.get(f"/holds/{hold['id']}").json["status"] == "fulfilled"
    assert api.get(f"/books/{book['id']}").json["copies_available"] == 0
    assert invariants(app) == []
    # Returned again with nobody waiting: back on the shelf
    api.post(f"/loans/{r.json['id']}/return")
    assert api.get(f"/books/{book['id']}").json["copies_available"] == 1
    assert invariants(app) == []


def test_renewal_refused_while_others_wait_and_no_copy_is_on_the_shelf(app, api, lent, make_reader):
    book, _, loan = lent
    assert api.post(f"/loans/{loan['id']}/renew").status_code == 200
    hold = place(api, book, make_reader()).json
    assert_problem(api.post(f"/loans/{loan['id']}/renew"), 409, "book_on_hold")
    assert api.get(f"/loans/{loan['id']}").json["renewals"] == 1
    api.post(f"/holds/{hold['id']}/cancel")
    assert api.post(f"/loans/{loan['id']}/renew").status_code == 200


def test_uncollected_hold_expires_and_passes_the_copy_on(app, api, lent, make_reader, runner, smtp):
    book, _, loan = lent
    first = place(api, book, make_reader(email="late@example.org")).json
    second = place(api, book, make_reader(email="next@example.org")).json
    api.post(f"/loans/{loan['id']}/return")
    deadline = assert_utc(api.get(f"/holds/{first['id']}").json["expires_at"])
    out = runner.invoke(
        args=["reminders", "run", "--now", (deadline - timedelta(minutes=1)).isoformat()]
    )
    assert "expired 0 hold" in out.output
    out = runner.invoke(args=["reminders", "run", "--now", deadline.isoformat()])
    assert "expired 1 hold" in out.output, out.output
    assert api.get(f"/holds/{first['id']}").json["status"] == "expired"
    nxt = api.get(f"/holds/{second['id']}").json
    assert nxt["status"] == "ready"
    assert assert_utc(nxt["expires_at"]) == deadline + timedelta(days=7)  # counted from --now
    again = runner.invoke(args=["reminders", "run", "--now", deadline.isoformat()])
    assert "expired 0 hold" in again.output  # idempotent
    assert invariants(app) == []
    deliver(app)
    assert len([m for m in smtp.received("next@example.org") if "pickup" in m["Subject"]]) == 1
    # The last one expires too: the copy goes back on the shelf
    runner.invoke(args=["reminders", "run", "--now", (deadline + timedelta(days=8)).isoformat()])
    assert api.get(f"/holds/{second['id']}").json["status"] == "expired"
    assert api.get(f"/books/{book['id']}").json["copies_available"] == 1
    assert invariants(app) == []


def test_cancelling_a_ready_hold_passes_the_copy_on(app, api, lent, make_reader):
    book, _, loan = lent
    first = place(api, book, make_reader()).json
    second = place(api, book, make_reader()).json
    api.post(f"/loans/{loan['id']}/return")
    r = api.post(f"/holds/{first['id']}/cancel")
    assert r.status_code == 200 and r.json["status"] == "cancelled"
    assert api.get(f"/holds/{second['id']}").json["status"] == "ready"
    body = assert_problem(api.post(f"/holds/{first['id']}/cancel"), 409, "hold_not_active")
    assert "cancelled" in body["detail"]
    assert invariants(app) == []


def test_pickup_mail_for_a_hold_cancelled_before_delivery_is_skipped(
    app, api, lent, make_reader, smtp
):
    book, _, loan = lent
    hold = place(api, book, make_reader(email="gone@example.org")).json
    api.post(f"/loans/{loan['id']}/return")
    api.post(f"/holds/{hold['id']}/cancel")
    report = deliver(app)
    assert report.skipped == 1
    assert not [m for m in smtp.received("gone@example.org") if "pickup" in m["Subject"]]


def test_more_copies_go_to_the_waiting_readers_first(app, api, lent, make_reader):
    book, _, _ = lent
    holds = [place(api, book, make_reader()).json for _ in range(2)]
    r = api.patch(f"/books/{book['id']}", json={"copies_total": 4})
    assert r.status_code == 200 and r.json["copies_available"] == 1
    assert [api.get(f"/holds/{h['id']}").json["status"] for h in holds] == ["ready", "ready"]
    assert invariants(app) == []


def test_deleting_a_reader_cancels_their_holds_and_moves_the_queue(app, api, lent, make_reader):
    book, _, loan = lent
    first_reader = make_reader()
    first = place(api, book, first_reader).json
    second = place(api, book, make_reader()).json
    api.post(f"/loans/{loan['id']}/return")
    assert api.delete(f"/readers/{first_reader['id']}").status_code == 204
    assert api.get(f"/holds/{first['id']}").json["status"] == "cancelled"
    assert api.get(f"/holds/{second['id']}").json["status"] == "ready"
    assert invariants(app) == []


def test_reader_holds_and_filters(api, lent, make_reader):
    book, _, _ = lent
    reader = make_reader()
    hold = place(api, book, reader).json
    r = api.get(f"/readers/{reader['id']}/holds", query_string={"status": "active"})
    assert ids(r.json) == [hold["id"]]
    assert (
        api.get(f"/readers/{reader['id']}/holds", query_string={"status": "ready"}).json["total"]
        == 0
    )
    assert_problem(api.get("/readers/99999/holds"), 404, "reader_not_found")
    assert_problem(api.get("/holds", query_string={"status": "lost"}), 422, "validation_error")


def test_placing_a_hold_is_idempotent_with_a_key(app, api, lent, make_reader):
    book, _, _ = lent
    reader = make_reader()
    first = place(api, book, reader, headers={"Idempotency-Key": "h-1"})
    again = place(api, book, reader, headers={"Idempotency-Key": "h-1"})
    assert first.status_code == again.status_code == 201
    assert again.json == first.json

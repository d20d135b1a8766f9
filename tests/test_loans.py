"""Issue, return and renew: every rule and error code of SPEC section 2."""

from datetime import UTC, datetime, timedelta

import pytest

from library import circulation
from library.extensions import db
from tests.conftest import invariants
from tests.helpers import backdate_loan


def book_copies(api, book):
    return api.get(f"/books/{book['id']}").json["copies_available"]


# ---- the five cases of the original system's suite ----------------------------------


def test_successful_borrow_takes_one_copy_off_the_shelf(api, make_book, make_reader, issue):
    book = make_book(copies_total=2)
    reader = make_reader()
    r = issue(book, reader)
    assert r.status_code == 201
    assert r.headers["Location"] == f"/api/v1/loans/{r.json['id']}"
    assert book_copies(api, book) == 1
    assert api.get(f"/readers/{reader['id']}").json["open_loans"] == 1


def test_borrowing_a_book_with_no_copy_left_is_refused(api, make_book, make_reader, issue):
    book = make_book(copies_total=1)
    assert issue(book, make_reader()).status_code == 201
    r = issue(book, make_reader())
    assert r.status_code == 409
    assert r.json["code"] == "book_unavailable"
    assert r.headers["Content-Type"] == "application/problem+json"
    assert book_copies(api, book) == 0


def test_borrowing_a_fourth_book_is_refused(api, make_book, make_reader, issue):
    reader = make_reader()
    for _ in range(3):
        assert issue(make_book(), reader).status_code == 201
    fourth = make_book()
    r = issue(fourth, reader)
    assert r.status_code == 409 and r.json["code"] == "loan_limit_reached"
    assert book_copies(api, fourth) == 1  # nothing half-done


def test_protected_endpoint_without_a_token_is_401(anon):
    r = anon.get("/books")
    assert r.status_code == 401
    assert r.json["code"] == "unauthorized"


def test_protected_endpoint_with_a_token_is_200(api):
    assert api.get("/books").status_code == 200


# ---- issue ---------------------------------------------------------------------


def test_loan_has_the_documented_shape(api, librarian, make_book, make_reader, issue):
    book = make_book(title="Война и мир", author="Лев Толстой", isbn="9785170878833")
    reader = make_reader(name="Анна Иванова")
    loan = issue(book, reader).json
    assert set(loan) == {
        "id", "book_id", "reader_id", "book", "reader", "issued_at", "due_at",
        "returned_at", "renewals", "status", "overdue", "issued_by", "returned_by",
    }  # fmt: skip
    assert loan["book"] == {
        "id": book["id"],
        "title": "Война и мир",
        "author": "Лев Толстой",
        "isbn": "9785170878833",
    }
    assert loan["reader"] == {"id": reader["id"], "name": "Анна Иванова", "email": reader["email"]}
    issued = datetime.fromisoformat(loan["issued_at"])
    due = datetime.fromisoformat(loan["due_at"])
    assert issued.utcoffset() == timedelta(0)
    assert due - issued == timedelta(days=14)
    assert loan["status"] == "open" and loan["overdue"] is False
    assert loan["renewals"] == 0 and loan["returned_at"] is None
    assert loan["issued_by"] == librarian.id and loan["returned_by"] is None
    assert api.get(f"/loans/{loan['id']}").json == loan


def test_loan_period_follows_the_setting(app, api, make_book, make_reader, issue):
    app.config["LOAN_PERIOD_DAYS"] = 21
    loan = issue(make_book(), make_reader()).json
    due = datetime.fromisoformat(loan["due_at"]) - datetime.fromisoformat(loan["issued_at"])
    assert due == timedelta(days=21)


def test_issue_of_unknown_book_is_404(api, make_reader):
    r = api.post("/loans", json={"book_id": 999, "reader_id": make_reader()["id"]})
    assert r.status_code == 404 and r.json["code"] == "book_not_found"


def test_issue_to_unknown_reader_is_404(api, make_book):
    r = api.post("/loans", json={"book_id": make_book()["id"], "reader_id": 999})
    assert r.status_code == 404 and r.json["code"] == "reader_not_found"


def test_unknown_book_is_reported_before_unknown_reader(api):
    r = api.post("/loans", json={"book_id": 998, "reader_id": 999})
    assert r.json["code"] == "book_not_found"


def test_ids_beyond_63_bits_are_not_found(api, make_book, make_reader):
    r = api.post("/loans", json={"book_id": 2**63, "reader_id": make_reader()["id"]})
    assert r.status_code == 404 and r.json["code"] == "book_not_found"
    r = api.post("/loans", json={"book_id": make_book()["id"], "reader_id": 2**70})
    assert r.status_code == 404 and r.json["code"] == "reader_not_found"
    assert api.get(f"/loans/{2**64}").json["code"] == "loan_not_found"


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"book_id": 1},
        {"book_id": "x", "reader_id": 1},
        {"book_id": 0, "reader_id": 1},
        {"book_id": 1.5, "reader_id": 1},
        {"book_id": True, "reader_id": 1},
    ],
)
def test_issue_with_bad_fields_is_422(api, body):
    r = api.post("/loans", json=body)
    assert r.status_code == 422
    assert r.json["code"] == "validation_error"
    assert r.json["errors"] and all({"field", "message"} <= set(e) for e in r.json["errors"])


def test_issue_of_withdrawn_book_is_404(api, make_book, make_reader, issue):
    book = make_book()
    assert api.delete(f"/books/{book['id']}").status_code == 204
    assert issue(book, make_reader()).json["code"] == "book_not_found"


def test_issue_to_deleted_reader_is_404(api, make_book, make_reader, issue):
    reader = make_reader()
    assert api.delete(f"/readers/{reader['id']}").status_code == 204
    assert issue(make_book(), reader).json["code"] == "reader_not_found"


def test_same_book_twice_to_one_reader_is_already_borrowed(api, make_book, make_reader, issue):
    book = make_book(copies_total=3)
    reader = make_reader()
    assert issue(book, reader).status_code == 201
    r = issue(book, reader)
    assert r.status_code == 409 and r.json["code"] == "already_borrowed"
    assert book_copies(api, book) == 2


def test_already_borrowed_wins_over_the_loan_limit(api, make_book, make_reader, issue):
    reader = make_reader()
    first = make_book(copies_total=2)
    issue(first, reader)
    issue(make_book(), reader)
    issue(make_book(), reader)
    assert issue(first, reader).json["code"] == "already_borrowed"


def test_loan_limit_wins_over_no_copy(api, make_book, make_reader, issue):
    reader = make_reader()
    for _ in range(3):
        issue(make_book(), reader)
    gone = make_book()
    issue(gone, make_reader())
    assert issue(gone, reader).json["code"] == "loan_limit_reached"


def test_returned_loans_do_not_count_towards_the_limit(api, make_book, make_reader, issue):
    reader = make_reader()
    loans = [issue(make_book(), reader).json for _ in range(3)]
    assert api.post(f"/loans/{loans[0]['id']}/return").status_code == 200
    assert issue(make_book(), reader).status_code == 201


def test_loan_limit_follows_the_setting(app, api, make_book, make_reader, issue):
    app.config["LOAN_LIMIT"] = 1
    reader = make_reader()
    assert issue(make_book(), reader).status_code == 201
    assert issue(make_book(), reader).json["code"] == "loan_limit_reached"


def test_book_with_zero_copies_cannot_be_issued(api, make_book, make_reader, issue):
    assert issue(make_book(copies_total=0), make_reader()).json["code"] == "book_unavailable"


# ---- return --------------------------------------------------------------------------


def test_return_by_id_puts_the_copy_back_and_keeps_the_record(
    api, librarian, make_book, make_reader, issue
):
    book, reader = make_book(), make_reader()
    loan = issue(book, reader).json
    r = api.post(f"/loans/{loan['id']}/return")
    assert r.status_code == 200
    assert r.json["status"] == "returned" and r.json["returned_by"] == librarian.id
    assert datetime.fromisoformat(r.json["returned_at"]).utcoffset() == timedelta(0)
    assert book_copies(api, book) == 1
    assert api.get(f"/readers/{reader['id']}").json["open_loans"] == 0
    history = api.get(f"/readers/{reader['id']}/loans").json
    assert [item["id"] for item in history["items"]] == [loan["id"]]


def test_return_by_book_and_reader(api, make_book, make_reader, issue):
    book, reader = make_book(), make_reader()
    loan = issue(book, reader).json
    r = api.post("/loans/return", json={"book_id": book["id"], "reader_id": reader["id"]})
    assert r.status_code == 200 and r.json["id"] == loan["id"]
    assert r.json["returned_at"] is not None


def test_return_of_a_book_not_borrowed_is_409(api, make_book, make_reader, issue):
    book, reader = make_book(), make_reader()
    r = api.post("/loans/return", json={"book_id": book["id"], "reader_id": reader["id"]})
    assert r.status_code == 409 and r.json["code"] == "not_borrowed"
    issue(book, reader)
    api.post("/loans/return", json={"book_id": book["id"], "reader_id": reader["id"]})
    r = api.post("/loans/return", json={"book_id": book["id"], "reader_id": reader["id"]})
    assert r.json["code"] == "not_borrowed"
    assert book_copies(api, book) == 1


def test_second_return_of_a_loan_is_already_returned(api, make_book, make_reader, issue):
    book = make_book()
    loan = issue(book, make_reader()).json
    api.post(f"/loans/{loan['id']}/return")
    r = api.post(f"/loans/{loan['id']}/return")
    assert r.status_code == 409 and r.json["code"] == "already_returned"
    assert book_copies(api, book) == 1


def test_return_of_unknown_loan_is_404(api):
    r = api.post("/loans/12345/return")
    assert r.status_code == 404 and r.json["code"] == "loan_not_found"


# ---- renew -------------------------------------------------------------------------------


def test_renew_moves_the_due_date_and_counts(api, make_book, make_reader, issue):
    loan = issue(make_book(), make_reader()).json
    r = api.post(f"/loans/{loan['id']}/renew")
    assert r.status_code == 200
    assert r.json["renewals"] == 1
    assert r.json["due_at"] > loan["due_at"]


def test_third_renewal_is_refused(api, make_book, make_reader, issue):
    loan = issue(make_book(), make_reader()).json
    for _ in range(2):
        assert api.post(f"/loans/{loan['id']}/renew").status_code == 200
    r = api.post(f"/loans/{loan['id']}/renew")
    assert r.status_code == 409 and r.json["code"] == "renewal_limit_reached"
    assert api.get(f"/loans/{loan['id']}").json["renewals"] == 2


def test_renewing_a_returned_loan_is_refused(api, make_book, make_reader, issue):
    loan = issue(make_book(), make_reader()).json
    api.post(f"/loans/{loan['id']}/return")
    r = api.post(f"/loans/{loan['id']}/renew")
    assert r.status_code == 409 and r.json["code"] == "already_returned"


def test_renewing_unknown_loan_is_404(api):
    assert api.post("/loans/777/renew").json["code"] == "loan_not_found"


# ---- lists -------------------------------------------------------------------------------


def test_loan_lists_filter_by_status(app, api, make_book, make_reader, issue):
    reader = make_reader()
    returned = issue(make_book(), reader).json
    api.post(f"/loans/{returned['id']}/return")
    late = issue(make_book(), reader).json
    backdate_loan(app, late["id"], 20)
    current = issue(make_book(), reader).json

    def ids(status, path="/loans"):
        return [item["id"] for item in api.get(f"{path}?status={status}").json["items"]]

    assert ids("all") == [current["id"], late["id"], returned["id"]]  # newest first
    assert ids("open") == [current["id"], late["id"]]
    assert ids("returned") == [returned["id"]]
    assert ids("overdue") == [late["id"]]
    assert ids("open", f"/readers/{reader['id']}/loans") == [current["id"], late["id"]]
    assert api.get(f"/loans/{late['id']}").json["overdue"] is True
    assert api.get("/loans?status=late").status_code == 422


def test_loan_lists_filter_by_reader_and_book(api, make_book, make_reader, issue):
    a, b = make_reader(), make_reader()
    book = make_book(copies_total=2)
    la = issue(book, a).json
    issue(make_book(), b)
    assert [x["id"] for x in api.get(f"/loans?reader_id={a['id']}").json["items"]] == [la["id"]]
    page = api.get(f"/loans?book_id={book['id']}").json
    assert page["total"] == 1 and page["items"][0]["id"] == la["id"]


def test_loans_of_unknown_reader_is_404(api):
    assert api.get("/readers/4242/loans").json["code"] == "reader_not_found"


def test_history_of_a_withdrawn_book_and_deleted_reader_stays_readable(
    api, make_book, make_reader, issue
):
    book, reader = make_book(title="Old Book"), make_reader(name="Gone Reader")
    loan = issue(book, reader).json
    api.post(f"/loans/{loan['id']}/return")
    assert api.delete(f"/books/{book['id']}").status_code == 204
    assert api.delete(f"/readers/{reader['id']}").status_code == 204
    kept = api.get(f"/loans/{loan['id']}").json
    assert kept["book"]["title"] == "Old Book" and kept["reader"]["name"] == "Gone Reader"


def test_invariants_hold_after_a_busy_day(app, api, make_book, make_reader, issue):
    books = [make_book(copies_total=2) for _ in range(4)]
    readers = [make_reader() for _ in range(4)]
    for i, reader in enumerate(readers):
        for book in books[i % 2 :]:
            issue(book, reader)
    for loan in api.get("/loans?status=open&per_page=100").json["items"][::2]:
        api.post(f"/loans/{loan['id']}/return")
    assert invariants(app) == []


def test_domain_refuses_naive_datetimes(app, make_book, make_reader):
    book, reader = make_book(), make_reader()
    with app.app_context(), pytest.raises(Exception, match="naive"):
        circulation.issue_loan(book["id"], reader["id"], now=datetime(2026, 1, 1))
    with app.app_context():
        db.session.rollback()
        loan = circulation.issue_loan(
            book["id"], reader["id"], now=datetime(2026, 1, 1, tzinfo=UTC)
        )
        assert loan.due_at == datetime(2026, 1, 15, tzinfo=UTC)
        db.session.rollback()

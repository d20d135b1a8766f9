"""Holds on the pages (SPEC section 7, "Pages"): the reader's holds with cancel, a book's
queue, "place a hold" from the issue box, the hold shelf on the dashboard. The same in
a real browser is in test_browser_holds.py."""

import re
from zoneinfo import ZoneInfo

import pytest
from babel.dates import format_date

from tests.conftest import invariants
from tests.test_web import HX, alerts, issue_by

from .helpers import assert_utc, zone_of_another_day


def place(api, book, reader):
    r = api.post("/holds", json={"book_id": book["id"], "reader_id": reader["id"]})
    assert r.status_code == 201, r.json
    return r.json


def local_day(value, zone="UTC"):
    """The calendar day of `value` in `zone`, as the pages write it (English, medium)."""
    return format_date(assert_utc(value).astimezone(ZoneInfo(zone)).date(), locale="en")


@pytest.fixture
def lent(make_book, make_reader, issue):
    """Make a one-copy book lent to its holder: (book, holder, loan)."""

    def make(title="Dune", **overrides):
        book = make_book(title=title, copies_total=1, **overrides)
        holder = make_reader(name=f"Holder of {title}")
        return book, holder, issue(book, holder).json

    return make


def held_row(html, hold_id):
    match = re.search(rf'<tr id="hold-{hold_id}">.*?</tr>', html, re.S)
    assert match, f"no row for hold {hold_id}"
    return match.group(0)


# ---- the reader's page ----------------------------------------------------------------


def test_reader_page_lists_active_holds_with_queue_place_and_pickup_deadline(
    api, desk, lent, make_reader
):
    reader = make_reader(name="Waiting Reader")
    dune, _, _ = lent("Dune")
    place(api, dune, make_reader())  # someone got there first
    waiting = place(api, dune, reader)
    emma, _, emma_loan = lent("Emma")
    ready = place(api, emma, reader)
    api.post(f"/loans/{emma_loan['id']}/return")
    ready = api.get(f"/holds/{ready['id']}").json
    odyssey, _, _ = lent("Odyssey")
    gone = place(api, odyssey, reader)
    api.post(f"/holds/{gone['id']}/cancel")

    html = desk.get(f"/readers/{reader['id']}").text
    assert "Holds" in html and "(2 of 5)" in html
    row = held_row(html, waiting["id"])
    assert "Dune" in row and "waiting" in row and "number 2 in the queue" in row
    assert 'action="/holds/{}/cancel"'.format(waiting["id"]) in row
    row = held_row(html, ready["id"])
    assert "Emma" in row and "ready" in row
    assert f"pick up by {local_day(ready['expires_at'])}" in row
    # the ended one is listed apart, without a cancel button
    earlier = html.split("Earlier holds", 1)[1]
    assert "Odyssey" in earlier and "cancelled" in earlier
    assert f"/holds/{gone['id']}/cancel" not in html


def test_a_reader_without_holds_says_so(desk, make_reader):
    reader = make_reader()
    html = desk.get(f"/readers/{reader['id']}").text
    assert "Not waiting for any book." in html and "Earlier holds" not in html


def test_cancel_through_the_page_answers_with_only_the_row(app, api, desk, lent, make_reader):
    book, _, _ = lent()
    reader = make_reader()
    hold = place(api, book, reader)
    desk.get(f"/readers/{reader['id']}")
    r = desk.post(f"/holds/{hold['id']}/cancel", htmx=True)
    assert r.status_code == 200
    assert r.text.lstrip().startswith(f'<tr id="hold-{hold["id"]}">')
    assert "<html" not in r.text and r.text.rstrip().endswith("</tr>")
    assert "Cancelled the hold on “Dune”." in r.text and "cancelled" in r.text
    assert "/cancel" not in r.text  # nothing left to cancel
    assert api.get(f"/holds/{hold['id']}").json["status"] == "cancelled"
    again = desk.post(f"/holds/{hold['id']}/cancel", htmx=True)
    assert again.status_code == 409
    assert alerts(again.text) == ["This hold has already ended."]
    assert invariants(app) == []


def test_cancelling_a_ready_hold_on_the_page_passes_the_copy_on(app, api, desk, lent, make_reader):
    book, _, loan = lent()
    first = place(api, book, make_reader())
    second = place(api, book, make_reader())
    api.post(f"/loans/{loan['id']}/return")
    desk.get("/")
    assert desk.post(f"/holds/{first['id']}/cancel", htmx=True).status_code == 200
    assert api.get(f"/holds/{second['id']}").json["status"] == "ready"
    assert invariants(app) == []


def test_cancel_without_htmx_goes_back_with_a_message(api, desk, lent, make_reader):
    book, _, _ = lent()
    reader = make_reader()
    hold = place(api, book, reader)
    desk.get(f"/readers/{reader['id']}")
    r = desk.post(
        f"/holds/{hold['id']}/cancel",
        headers={"Referer": f"http://localhost/readers/{reader['id']}"},
    )
    assert r.status_code == 302 and r.headers["Location"] == f"/readers/{reader['id']}"
    page = desk.get(r.headers["Location"]).text
    assert page.startswith("<!doctype html>") and "Cancelled the hold on “Dune”." in page
    assert api.get(f"/holds/{hold['id']}").json["status"] == "cancelled"
    # with no page to go back to, the reader's page
    r = desk.post(f"/holds/{hold['id']}/cancel")
    assert r.headers["Location"] == f"/readers/{reader['id']}"
    assert "This hold has already ended." in desk.get(r.headers["Location"]).text


def test_cancelling_an_unknown_hold_is_a_404_page(desk):
    r = desk.post("/holds/99999/cancel")
    assert r.status_code == 404 and "Hold 99999 does not exist." in r.text


@pytest.mark.parametrize("htmx", [True, False])
def test_cancel_without_its_csrf_token_is_refused(api, desk, lent, make_reader, htmx):
    book, _, _ = lent()
    hold = place(api, book, make_reader())
    desk.get("/")
    r = desk.post(f"/holds/{hold['id']}/cancel", htmx=htmx, csrf=False)
    assert r.status_code == 400
    assert api.get(f"/holds/{hold['id']}").json["status"] == "waiting"


# ---- the issue box: place a hold when no copy is left ----------------------------------


def test_issue_refused_for_want_of_a_copy_offers_a_hold(api, desk, lent, make_reader):
    book, _, _ = lent(isbn="9785170878833")
    reader = make_reader()
    desk.get(f"/readers/{reader['id']}")
    r = issue_by(desk, reader, q="9785170878833")
    assert r.status_code == 409 and "<html" not in r.text
    assert alerts(r.text) == ["No copy of this book is on the shelf."]
    button = re.search(r"<button[^>]*>Place a hold</button>", r.text).group(0)
    assert f'formaction="/readers/{reader["id"]}/holds"' in button
    assert f'hx-post="/readers/{reader["id"]}/holds"' in button
    assert f'name="book_id" value="{book["id"]}"' in button
    assert 'value="9785170878833"' in r.text  # the scan is kept


def test_place_a_hold_from_the_issue_box_shows_its_place_in_the_queue(
    app, api, desk, lent, make_reader
):
    book, _, _ = lent(isbn="9785170878833")
    place(api, book, make_reader())
    reader = make_reader()
    desk.get(f"/readers/{reader['id']}")
    # What the button sends: the issue form's fields and its own book_id.
    r = desk.post(
        f"/readers/{reader['id']}/holds",
        {"q": "9785170878833", "book_id": str(book["id"])},
        htmx=True,
    )
    assert r.status_code == 200 and "<html" not in r.text
    assert 'id="issue-q"' in r.text  # the issue box, swapped in place
    assert "Placed a hold on “Dune”: number 2 in the queue." in r.text
    assert 'value="9785170878833"' not in r.text  # ready for the next scan
    [hold] = api.get(f"/readers/{reader['id']}/holds").json["items"]
    assert (hold["book_id"], hold["status"], hold["position"]) == (book["id"], "waiting", 2)
    assert "number 2 in the queue" in held_row(r.text, hold["id"])
    assert invariants(app) == []


def test_place_a_hold_without_htmx_redirects_with_the_outcome(api, desk, lent, make_reader):
    book, _, _ = lent()
    reader = make_reader()
    desk.get(f"/readers/{reader['id']}")
    r = desk.post(f"/readers/{reader['id']}/holds", {"q": "", "book_id": str(book["id"])})
    assert r.status_code == 302 and r.headers["Location"] == f"/readers/{reader['id']}"
    page = desk.get(r.headers["Location"]).text
    assert "Placed a hold on “Dune”: number 1 in the queue." in page
    assert api.get(f"/readers/{reader['id']}/holds").json["total"] == 1


def test_place_a_hold_without_its_csrf_token_is_refused(api, desk, lent, make_reader):
    book, _, _ = lent()
    reader = make_reader()
    desk.get(f"/readers/{reader['id']}")
    for htmx in (True, False):
        r = desk.post(
            f"/readers/{reader['id']}/holds", {"book_id": str(book["id"])}, htmx=htmx, csrf=False
        )
        assert r.status_code == 400
    assert api.get(f"/readers/{reader['id']}/holds").json["total"] == 0


def test_place_a_hold_refusals_show_in_place(app, api, desk, lent, make_book, make_reader):
    app.config["HOLD_LIMIT"] = 1
    reader = make_reader()
    on_shelf = make_book(title="On the shelf")
    dune, _, _ = lent("Dune")
    emma, _, _ = lent("Emma")
    desk.get(f"/readers/{reader['id']}")

    def attempt(book):
        return desk.post(
            f"/readers/{reader['id']}/holds", {"q": "x", "book_id": str(book["id"])}, htmx=True
        )

    r = attempt(on_shelf)
    assert r.status_code == 409 and "<html" not in r.text
    assert alerts(r.text) == ["A copy of this book is on the shelf: issue it instead."]
    assert 'value="x"' in r.text  # the field keeps what was there, to issue at once
    assert attempt(dune).status_code == 200
    r = attempt(dune)
    assert r.status_code == 409
    assert alerts(r.text) == ["This reader is already waiting for this book."]
    r = attempt(emma)
    assert r.status_code == 409
    assert alerts(r.text) == ["This reader already has 1 holds, the most allowed."]
    r = attempt({"id": 99999})
    assert r.status_code == 404 and alerts(r.text) == ["That book is not in the catalog."]
    r = desk.post(f"/readers/{reader['id']}/holds", {"q": ""}, htmx=True)
    assert r.status_code == 422 and alerts(r.text) == ["Choose the book to place a hold on."]
    assert api.get(f"/readers/{reader['id']}/holds").json["total"] == 1


def test_a_reader_already_waiting_is_told_so_instead_of_offered_a_hold(
    api, desk, lent, make_reader
):
    book, _, _ = lent(isbn="9785170878833")
    reader = make_reader()
    place(api, book, make_reader())
    place(api, book, reader)
    desk.get(f"/readers/{reader['id']}")
    r = issue_by(desk, reader, q="9785170878833")
    assert r.status_code == 409
    error = re.search(r'<p id="issue-error".*?</p>', r.text, re.S).group(0)
    assert "already waiting for it" in error and "number 2 in the queue" in error
    assert "Place a hold" not in error


def test_a_copy_kept_for_another_reader_is_refused_with_a_hold_offered(
    api, desk, lent, make_reader
):
    book, _, loan = lent(isbn="9785170878833")
    place(api, book, make_reader())
    api.post(f"/loans/{loan['id']}/return")  # the copy is kept for the first in line
    stranger = make_reader()
    desk.get(f"/readers/{stranger['id']}")
    r = issue_by(desk, stranger, q="9785170878833")
    assert r.status_code == 409
    assert alerts(r.text) == ["Every copy of this book is kept for readers who are waiting for it."]
    assert re.search(r"<button[^>]*>Place a hold</button>", r.text)
    assert api.get(f"/readers/{stranger['id']}").json["open_loans"] == 0


def test_issuing_to_the_reader_of_a_ready_hold_fulfils_it(app, api, desk, lent, make_reader):
    book, _, loan = lent(isbn="9785170878833")
    reader = make_reader()
    hold = place(api, book, reader)
    api.post(f"/loans/{loan['id']}/return")
    desk.get(f"/readers/{reader['id']}")
    r = issue_by(desk, reader, q="9785170878833")
    assert r.status_code == 200 and "Issued “Dune”" in r.text
    assert api.get(f"/holds/{hold['id']}").json["status"] == "fulfilled"
    assert "Not waiting for any book." in r.text
    assert "issued" in r.text.split("Earlier holds", 1)[1]
    assert invariants(app) == []


def test_title_matches_offer_a_hold_for_a_book_all_out(api, desk, lent, make_reader):
    kept, _, loan = lent("Dune Messiah")
    out, _, _ = lent("Dune")
    awaited, _, _ = lent("Children of Dune")
    reader = make_reader()
    place(api, kept, reader)
    api.post(f"/loans/{loan['id']}/return")  # kept for this reader: issuable to them
    place(api, awaited, reader)
    desk.get(f"/readers/{reader['id']}")
    r = issue_by(desk, reader, q="dune")
    assert re.search(r"<button[^>]*>Issue “Dune Messiah”</button>", r.text)
    assert re.search(r"<button[^>]*disabled>Issue “Dune”</button>", r.text)
    assert re.search(r"<button[^>]*disabled>Issue “Children of Dune”</button>", r.text)
    # a hold is offered only where the reader is not already waiting
    assert r.text.count(">Place a hold<") == 1
    assert 'Place a hold<span class="visually-hidden"> on “Dune”</span>' in r.text
    # and placing it from there answers in place
    r = desk.post(f"/readers/{reader['id']}/holds", {"book_id": str(out["id"])}, htmx=True)
    assert r.status_code == 200 and "Placed a hold on “Dune”: number 1 in the queue." in r.text


def test_a_renewal_refused_for_waiting_readers_says_why(api, desk, lent, make_reader):
    book, holder, loan = lent()
    place(api, book, make_reader())
    desk.get(f"/readers/{holder['id']}")
    r = desk.post(f"/loans/{loan['id']}/renew", {"context": "reader"}, htmx=True)
    assert r.status_code == 409
    assert alerts(r.text) == ["Readers are waiting for this book: it cannot be renewed."]


def test_reader_page_whole_and_as_a_fragment_both_carry_the_holds(api, desk, lent, make_reader):
    book, _, _ = lent()
    reader = make_reader()
    hold = place(api, book, reader)
    whole = desk.get(f"/readers/{reader['id']}")
    assert whole.text.startswith("<!doctype html>") and 'id="header-search"' in whole.text
    fragment = desk.get(f"/readers/{reader['id']}", headers=HX)
    assert "<html" not in fragment.text and "<header" not in fragment.text
    for r in (whole, fragment):
        assert 'id="holds"' in r.text and held_row(r.text, hold["id"])
        assert "HX-Request" in r.headers["Vary"]


# ---- the book's page: its queue ---------------------------------------------------------


def test_book_page_shows_its_queue(api, desk, make_book, make_reader, issue):
    book = make_book(title="Dune", copies_total=2)
    loans = [issue(book, make_reader()).json for _ in range(2)]
    first = place(api, book, make_reader(name="First"))
    second = place(api, book, make_reader(name="Second"))
    third = place(api, book, make_reader(name="Third"))
    api.post(f"/loans/{loans[0]['id']}/return")  # the first in line: ready
    ready = api.get(f"/holds/{first['id']}").json
    html = desk.get(f"/books/{book['id']}").text
    queue = html.split('id="queue"', 1)[1].split("</section>", 1)[0]
    assert "2 readers waiting" in queue
    rows = re.findall(r'<tr id="hold-(\d+)">', queue)
    assert rows == [str(first["id"]), str(second["id"]), str(third["id"])]
    assert f"pick up by {local_day(ready['expires_at'])}" in held_row(queue, first["id"])
    assert "number 1 in the queue" in held_row(queue, second["id"])
    assert "number 2 in the queue" in held_row(queue, third["id"])
    assert f'href="/readers/{second["reader_id"]}"' in held_row(queue, second["id"])
    assert "On the hold shelf" in html


def test_book_page_without_a_queue_says_so(desk, make_book):
    book = make_book()
    html = desk.get(f"/books/{book['id']}").text
    assert "Nobody is waiting for this book." in html and "On the hold shelf" not in html


# ---- the dashboard: the hold shelf and what expires today ----------------------------------


def test_dashboard_lists_the_hold_shelf_oldest_first_and_what_expires_today(
    app, api, desk, lent, make_reader
):
    app.config["HOLD_PICKUP_DAYS"] = 0  # ready now, deadline today
    dune, _, dune_loan = lent("Dune")
    today = place(api, dune, make_reader(name="Picks Up Today"))
    api.post(f"/loans/{dune_loan['id']}/return")
    app.config["HOLD_PICKUP_DAYS"] = 7
    emma, _, emma_loan = lent("Emma")
    later = place(api, emma, make_reader(name="Has A Week"))
    api.post(f"/loans/{emma_loan['id']}/return")
    odyssey, _, _ = lent("Odyssey")
    place(api, odyssey, make_reader(name="Still Waiting"))

    html = desk.get("/").text
    shelf = html.split('id="hold-shelf"', 1)[1].split("</section>", 1)[0]
    assert "(2)" in shelf and "Still Waiting" not in shelf
    assert shelf.index("Picks Up Today") < shelf.index("Has A Week")  # oldest first
    assert f'href="/readers/{today["reader_id"]}"' in shelf
    deadline = api.get(f"/holds/{later['id']}").json["expires_at"]
    assert f"Emma, <span>pick up by {local_day(deadline)}</span>" in shelf
    expiring = html.split('id="expiring-today"', 1)[1].split("</section>", 1)[0]
    assert "Picks Up Today" in expiring and "Dune" in expiring
    assert f'href="/readers/{today["reader_id"]}"' in expiring
    assert "Has A Week" not in expiring


def test_dashboard_with_no_holds(desk):
    html = desk.get("/").text
    assert "No copy is waiting to be picked up." in html and "No hold expires today." in html


def test_hold_dates_are_calendar_days_in_the_library_timezone(app, api, desk, lent, make_reader):
    book, _, loan = lent()
    reader = make_reader()
    hold = place(api, book, reader)
    api.post(f"/loans/{loan['id']}/return")
    hold = api.get(f"/holds/{hold['id']}").json
    zone = zone_of_another_day(hold["expires_at"])  # the page is written as it is asked for
    app.config["LIBRARY_TIMEZONE"] = zone
    expected = local_day(hold["expires_at"], zone)
    assert expected != local_day(hold["expires_at"])
    row = held_row(desk.get(f"/readers/{reader['id']}").text, hold["id"])
    assert f"pick up by {expected}" in row
    assert f"pick up by {local_day(hold['expires_at'])}" not in row
    assert local_day(hold["placed_at"], zone) in row

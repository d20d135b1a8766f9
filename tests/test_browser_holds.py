"""Holds in a real browser (Playwright, Debian's chromium): a hold placed from the issue
box, the copy returned and kept on the hold shelf, then issued to its reader.

Fixtures (chromium, the live server, the page) are test_browser.py's.
"""

import re

from library import circulation
from library.extensions import db
from library.models import utcnow
from tests.conftest import invariants
from tests.test_browser import (  # noqa: F401 - fixtures, used by name
    SCREENSHOTS,
    browser,
    expect,
    live_url,
    page,
    scan,
    shoot,
    sign_in,
)

ISBN = "9785170878833"


def desk_setup(app):
    """One copy of a book, lent to one reader; another reader who wants it."""
    with app.app_context():
        book = circulation.add_book(
            title="Война и мир", author="Лев Толстой", isbn=ISBN, copies_total=1, now=utcnow()
        )
        holder = circulation.add_reader(
            name="Пётр Holder", email="holder@example.org", now=utcnow()
        )
        waiting = circulation.add_reader(
            name="Мария Waiting", email="maria@example.org", now=utcnow()
        )
        circulation.issue_loan(book.id, holder.id, now=utcnow())
        db.session.commit()
        return book.id, holder.id, waiting.id


def test_a_hold_from_the_issue_box_to_the_hold_shelf_to_the_loan(app, page, make_librarian):  # noqa: F811
    refused = []  # anything the CSP blocked: no inline script, style or handler anywhere
    page.on(
        "console",
        lambda m: refused.append(m.text) if "Content Security Policy" in m.text else None,
    )
    librarian = make_librarian(email="desk@library.test")
    book_id, holder_id, waiting_id = desk_setup(app)
    page.goto("/login")
    sign_in(page, librarian.email, librarian.password)
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()

    # The waiting reader asks for the book: no copy on the shelf, so a hold is offered.
    page.goto(f"/readers/{waiting_id}")
    posts = []
    page.on("request", lambda r: posts.append(r.url) if r.method == "POST" else None)
    expect(page.locator("#issue-q")).to_be_focused()
    scan(page, ISBN)
    alert = page.locator("#issue-error")
    expect(alert).to_contain_text("No copy of this book is on the shelf.")
    shoot(page, "hold-offer")
    with page.expect_response(re.compile(rf"/readers/{waiting_id}/holds$")) as placed:
        alert.get_by_role("button", name="Place a hold").click()
    assert placed.value.request.headers.get("hx-request") == "true"  # htmx, not a reload
    # One request for the button, not the issue form around it as well.
    assert [url.rsplit("/", 1)[-1] for url in posts] == ["issue", "holds"]
    expect(page.get_by_role("status")).to_have_text(
        "Placed a hold on “Война и мир”: number 1 in the queue."
    )
    holds = page.locator("#holds")
    expect(holds.locator("tr", has_text="Война и мир")).to_contain_text("waiting")
    expect(holds.locator("tr", has_text="Война и мир")).to_contain_text("number 1 in the queue")
    expect(page).to_have_url(re.compile(rf"/readers/{waiting_id}$"))  # swapped in place

    # The book's page shows the queue.
    page.goto(f"/books/{book_id}")
    expect(page.locator("#queue")).to_contain_text("Мария Waiting")

    # The copy comes back on the other reader's page: it is kept, not shelved.
    page.goto(f"/readers/{holder_id}")
    row = page.locator("tr", has_text="Война и мир")
    row.get_by_role("button", name="Return").click()
    expect(row.get_by_text("Returned “Война и мир”.")).to_be_visible()

    # The dashboard's hold shelf: the copy, its reader and the pickup deadline.
    page.get_by_role("link", name="Dashboard", exact=True).click()
    shelf = page.locator("#hold-shelf")
    entry = shelf.get_by_role("listitem").filter(has_text="Война и мир")
    expect(entry).to_contain_text("Мария Waiting")
    expect(entry).to_contain_text(re.compile(r"pick up by [A-Z][a-z]{2} \d{1,2}, \d{4}"))
    shoot(page, "hold-shelf")
    entry.get_by_role("link", name="Мария Waiting").click()

    # On the waiting reader's page the hold is ready; issuing the book fulfils it.
    expect(page.get_by_role("heading", name="Мария Waiting")).to_be_visible()
    expect(page.locator("#holds tr", has_text="Война и мир")).to_contain_text("ready")
    shoot(page, "reader-holds")
    page.locator("#issue-q").focus()
    scan(page, ISBN)
    expect(page.get_by_text("Issued “Война и мир”")).to_be_visible()
    expect(page.locator("#holds")).to_contain_text("Not waiting for any book.")
    with app.app_context():
        [hold] = circulation.list_holds(reader_id=waiting_id).items
        assert hold.status == "fulfilled"
        assert circulation.get_book(book_id).copies_available == 0
    assert invariants(app) == []
    if not SCREENSHOTS:  # Playwright's screenshots inject a style of their own
        assert refused == []


def test_cancel_a_hold_on_the_reader_page_asks_first(app, page, make_librarian):  # noqa: F811
    librarian = make_librarian(email="desk@library.test")
    book_id, _, waiting_id = desk_setup(app)
    with app.app_context():
        hold = circulation.place_hold(book_id, waiting_id, now=utcnow())
        db.session.commit()
        hold_id = hold.id
    page.goto("/login")
    sign_in(page, librarian.email, librarian.password)
    page.goto(f"/readers/{waiting_id}")
    row = page.locator(f"#hold-{hold_id}")
    asked = []
    page.once("dialog", lambda dialog: (asked.append(dialog.message), dialog.dismiss()))
    row.get_by_role("button", name="Cancel").click()
    expect(row).to_contain_text("waiting")  # said no: nothing changed
    page.once("dialog", lambda dialog: (asked.append(dialog.message), dialog.accept()))
    row.get_by_role("button", name="Cancel").click()
    expect(row).to_contain_text("Cancelled the hold on “Война и мир”.")
    expect(row.get_by_role("button", name="Cancel")).to_have_count(0)
    assert asked == ["Cancel this hold? The reader loses their place in the queue."] * 2
    with app.app_context():
        assert circulation.get_hold(hold_id).status == "cancelled"

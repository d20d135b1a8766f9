"""The pages in a real browser: Playwright driving Debian's chromium (/usr/bin/chromium).

The app is served by a real HTTP server in a thread, on each test database. Without
chromium these tests skip (CI installs it, see .ci/run) - except under CI=true, where
a missing browser fails them.
"""

import os
import re
import threading
from datetime import timedelta
from pathlib import Path

import pytest
from flask_jwt_extended import create_access_token
from werkzeug.serving import make_server

from library import circulation
from library.extensions import db
from library.models import Librarian, utcnow
from tests.conftest import IN_CI, invariants

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
SCREENSHOTS = os.environ.get("SCREENSHOTS_DIR")  # set to refresh docs/screenshots

playwright_api = pytest.importorskip("playwright.sync_api")
expect = playwright_api.expect


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        message = f"no chromium at {CHROMIUM} (apt-get install chromium)"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield browser
        browser.close()


@pytest.fixture
def live_url(app):
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=10)


@pytest.fixture
def page(browser, live_url):
    context = browser.new_context(base_url=live_url, viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(10_000)
    yield page
    context.close()


def shoot(page, name):
    if SCREENSHOTS:
        Path(SCREENSHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(SCREENSHOTS) / f"{name}.png"), full_page=True)


def add_books(app, *specs):
    with app.app_context():
        for title, isbn in specs:
            circulation.add_book(title=title, author="Лев Толстой", isbn=isbn, now=utcnow())
        db.session.commit()


def sign_in(page, email, password):
    page.get_by_label("Email", exact=True).fill(email)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_role("button", name="Sign in").click()


def scan(page, text):
    """What a barcode scanner does: type into the focused field, then Enter."""
    page.keyboard.type(text)
    page.keyboard.press("Enter")


def test_a_day_at_the_desk(app, page):
    # First run: nobody has an account, so the app offers registration.
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/register$"))
    page.get_by_label("Your name").fill("Анна Петровна")
    page.get_by_label("Email", exact=True).fill("anna@library.test")
    page.locator("#password").fill("desk-password")
    page.get_by_label("Repeat the password").fill("desk-password")
    page.get_by_role("button", name="Create the account").click()
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_text("You have signed out.")).to_be_visible()

    sign_in(page, "anna@library.test", "desk-password")
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()

    # Add a book.
    page.get_by_role("link", name="Books", exact=True).click()
    page.get_by_role("button", name="Add a book").click()
    page.get_by_label("Title", exact=True).fill("Война и мир")
    page.get_by_label("Author", exact=True).fill("Лев Толстой")
    page.get_by_label("ISBN", exact=True).fill("978-5-17-087883-3")
    page.get_by_role("button", name="Add the book").click()
    expect(page.get_by_text("Added “Война и мир”.")).to_be_visible()
    add_books(
        app,
        ("Анна Каренина", "9785170906307"),
        ("Воскресение", "9785389062238"),
        ("Детство", "9785170904716"),
    )

    # Add a reader; the app gives them a card number.
    page.get_by_role("link", name="Readers", exact=True).click()
    page.get_by_role("button", name="Add a reader").click()
    page.get_by_label("Name", exact=True).fill("Иван Иванов")
    page.get_by_label("Email", exact=True).fill("ivan@example.org")
    page.get_by_role("button", name="Add the reader").click()
    card = page.locator(".card-number").inner_text().strip()
    assert re.fullmatch(r"\d{8}", card)

    # Scan the card into the header search from another page: "/" focuses it.
    page.get_by_role("link", name="Dashboard", exact=True).click()
    page.wait_for_load_state("load")  # app.js, which binds "/", is loaded
    page.keyboard.press("/")
    expect(page.locator("#header-search")).to_be_focused()
    scan(page, card)
    expect(page.get_by_role("heading", name="Иван Иванов")).to_be_visible()

    # Issue by scanning ISBNs into the issue box (focused on arrival).
    expect(page.locator("#issue-q")).to_be_focused()
    for isbn, title in [
        ("9785170878833", "Война и мир"),
        ("9785170906307", "Анна Каренина"),
        ("9785389062238", "Воскресение"),
    ]:
        page.locator("#issue-q").fill("")
        page.locator("#issue-q").focus()
        scan(page, isbn)
        expect(page.get_by_text(f"Issued “{title}”")).to_be_visible()
    shoot(page, "reader")

    # A fourth book: the limit, said in place, and nothing issued.
    page.locator("#issue-q").fill("")
    page.locator("#issue-q").focus()
    scan(page, "9785170904716")
    expect(page.get_by_role("alert")).to_contain_text("already has 3 books on loan")
    expect(page.locator("tbody tr[id^=loan-]")).to_have_count(3)

    # Return one and renew another, in their rows.
    row = page.locator("tr", has_text="Война и мир")
    row.get_by_role("button", name="Return").click()
    expect(row.get_by_text("Returned “Война и мир”.")).to_be_visible()
    row = page.locator("tr", has_text="Анна Каренина")
    row.get_by_role("button", name="Renew").click()
    expect(row.get_by_text("Renewed “Анна Каренина” until")).to_be_visible()
    assert invariants(app) == []

    page.goto("/")
    shoot(page, "dashboard")
    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(re.compile(r"/login$"))
    page.goto("/loans")
    expect(page).to_have_url(re.compile(r"/login\?next="))


def test_live_search_narrows_the_list(app, page, make_librarian):
    librarian = make_librarian(email="desk@library.test")
    add_books(
        app,
        ("Война и мир", "9785170878833"),
        ("Анна Каренина", "9785170906307"),
        ("Воскресение", "9785389062238"),
    )
    page.goto("/login")
    sign_in(page, librarian.email, librarian.password)
    page.goto("/books")
    rows = page.locator("#results tbody tr")
    expect(rows).to_have_count(3)
    shoot(page, "books")
    page.get_by_label("Search by title, author or ISBN").press_sequentially("воск", delay=50)
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("Воскресение")
    expect(page).to_have_url(re.compile(r"q=%D0%B2%D0%BE%D1%81%D0%BA|q=воск"))


def test_a_form_without_its_csrf_token_is_refused(app, page, make_librarian):
    librarian = make_librarian(email="desk@library.test")
    page.goto("/login")
    sign_in(page, librarian.email, librarian.password)
    page.goto("/readers/new")
    page.get_by_label("Name", exact=True).fill("Eve")
    page.get_by_label("Email", exact=True).fill("eve@example.org")
    page.locator("main form input[name=csrf_token]").evaluate("el => el.remove()")
    page.get_by_role("button", name="Add the reader").click()
    expect(page.get_by_text("This form has expired or was not sent from this site")).to_be_visible()
    with app.app_context():
        assert circulation.search_readers().total == 0


def test_an_expired_session_goes_to_sign_in_and_comes_back(app, page, live_url, make_librarian):
    librarian = make_librarian(email="desk@library.test")
    with app.app_context():
        user = db.session.get(Librarian, librarian.id)
        expired = create_access_token(identity=user, expires_delta=timedelta(seconds=-1))
    page.context.add_cookies([{"name": "library_access", "value": expired, "url": live_url}])
    page.goto("/loans?status=overdue")
    expect(page).to_have_url(re.compile(r"/login\?next="))
    sign_in(page, librarian.email, librarian.password)
    expect(page).to_have_url(re.compile(r"/loans\?status=overdue$"))
    expect(page.get_by_role("heading", name="Loans")).to_be_visible()


def test_pages_fit_a_phone_and_work_by_keyboard(app, browser, live_url, make_librarian):
    librarian = make_librarian(email="desk@library.test")
    context = browser.new_context(base_url=live_url, viewport={"width": 360, "height": 740})
    page = context.new_page()
    try:
        page.goto("/login")
        # Keyboard alone: Tab to each field, Enter to submit. The email field has focus
        # on arrival; wait for it, or a loaded machine types before the page is ready.
        expect(page.locator("input[name=email]")).to_be_focused()
        page.keyboard.type(librarian.email)
        page.keyboard.press("Tab")
        page.keyboard.type(librarian.password)
        page.keyboard.press("Enter")
        expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
        for url in ["/", "/books", "/readers", "/loans", "/books/new"]:
            page.goto(url)
            overflow = page.evaluate(
                "document.documentElement.scrollWidth - document.documentElement.clientWidth"
            )
            assert overflow <= 0, f"{url} is wider than 360 px by {overflow} px"
        shoot(page, "phone-dashboard")
    finally:
        context.close()

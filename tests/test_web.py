"""The librarian's pages over HTTP: sign-in, CSRF, full pages vs htmx fragments, rules
shown in place. The same flows in a real browser are in test_browser.py."""

import re
from datetime import timedelta

import pytest
from flask_jwt_extended import create_access_token

from library.extensions import db
from library.models import Librarian
from tests.conftest import PASSWORD, invariants

HX = {"HX-Request": "true"}


def csrf_of(html):
    match = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html)
    assert match, "page has no CSRF token"
    return match.group(1)


def alerts(html):
    return [m.strip() for m in re.findall(r'role="alert">([^<]*)<', html)]


def field_errors(html):
    return re.findall(r'class="field-error">([^<]*)<', html)


class Desk:
    """A browser-like test client: cookies, and the CSRF token of the last page."""

    def __init__(self, app):
        self.client = app.test_client()
        self.token = None

    def get(self, url, **kw):
        r = self.client.get(url, **kw)
        if "csrf_token" in r.text:
            self.token = csrf_of(r.text)
        return r

    def post(self, url, data=None, htmx=False, csrf=True, **kw):
        data = dict(data or {})
        headers = dict(kw.pop("headers", {}))
        if htmx:
            headers.update(HX)
            if csrf:
                headers["X-CSRFToken"] = self.token
        elif csrf:
            data.setdefault("csrf_token", self.token)
        return self.client.post(url, data=data, headers=headers, **kw)

    def sign_in(self, email, password=PASSWORD):
        self.get("/login")
        r = self.post("/login", {"email": email, "password": password})
        assert r.status_code == 302, r.text
        self.get("/")
        return r


# ---- sign in, first run, sign out --------------------------------------------------


def test_first_run_goes_to_registration_and_makes_an_admin(app):
    d = Desk(app)
    assert d.get("/").headers["Location"].startswith("/login")
    r = d.get("/login")
    assert r.status_code == 302 and r.headers["Location"] == "/register"
    page = d.get("/register")
    assert "first account" in page.text
    r = d.post(
        "/register",
        {
            "name": "Anna",
            "email": "Anna@Library.test",
            "password": "long enough",
            "confirm": "long enough",
        },
    )
    assert r.status_code == 302 and r.headers["Location"] == "/"
    cookie = d.client.get_cookie("library_access")
    assert cookie is not None and cookie.http_only and cookie.same_site == "Lax"
    assert d.get("/").status_code == 200
    with app.app_context():
        librarian = db.session.query(Librarian).one()
        assert librarian.email == "anna@library.test" and librarian.is_admin


def test_registration_is_closed_once_a_librarian_exists(app, librarian):
    d = Desk(app)
    r = d.get("/register")
    assert r.status_code == 302 and r.headers["Location"] == "/login"


def test_registration_errors_show_beside_their_fields(app):
    d = Desk(app)
    d.get("/register")
    r = d.post("/register", {"email": "not-an-email", "password": "short", "confirm": "other"})
    assert r.status_code == 422
    errors = field_errors(r.text)
    assert "Enter a valid email address." in errors
    assert "From 8 to 128 characters." in errors
    assert 'value="not-an-email"' in r.text  # what was typed is kept


def test_wrong_password_and_unknown_email_get_the_same_answer(app, librarian):
    d = Desk(app)
    d.get("/login")
    wrong = d.post("/login", {"email": librarian.email, "password": "wrong password"})
    unknown = d.post("/login", {"email": "nobody@library.test", "password": "wrong password"})
    assert wrong.status_code == unknown.status_code == 401
    assert alerts(wrong.text) == alerts(unknown.text) == ["Wrong email or password."]
    assert d.client.get_cookie("library_access") is None


def test_sign_in_returns_to_the_page_asked_for(app, librarian):
    d = Desk(app)
    r = d.get("/loans?status=overdue")
    assert r.headers["Location"] == "/login?next=/loans?status%3Doverdue"
    d.get(r.headers["Location"])
    r = d.post(
        "/login", {"email": librarian.email, "password": PASSWORD, "next": "/loans?status=overdue"}
    )
    assert r.headers["Location"] == "/loans?status=overdue"


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/x", "/\\evil.example"])
def test_sign_in_never_redirects_off_site(app, librarian, target):
    d = Desk(app)
    d.get("/login")
    r = d.post("/login", {"email": librarian.email, "password": PASSWORD, "next": target})
    assert r.headers["Location"] == "/"


def test_sign_out_revokes_the_token(app, desk):
    token = desk.client.get_cookie("library_access").value
    r = desk.post("/logout")
    assert r.status_code == 302 and r.headers["Location"] == "/login"
    assert desk.client.get_cookie("library_access") is None
    other = app.test_client()
    other.set_cookie("library_access", token)
    assert other.get("/").status_code == 302  # the old cookie no longer signs anyone in


def test_an_expired_session_goes_to_sign_in_and_comes_back(app, librarian):
    d = Desk(app)
    with app.app_context():
        user = db.session.get(Librarian, librarian.id)
        expired = create_access_token(identity=user, expires_delta=timedelta(seconds=-1))
    d.client.set_cookie("library_access", expired)
    r = d.get("/readers?q=ann")
    assert r.status_code == 302 and r.headers["Location"] == "/login?next=/readers?q%3Dann"
    # htmx requests are told to navigate, not handed a sign-in page to swap into a table
    r = d.client.get("/books?q=x", headers={**HX, "HX-Current-URL": "http://localhost/books"})
    assert r.headers["HX-Redirect"] == "/login?next=/books"


def test_an_active_session_gets_a_fresh_token(app, librarian):
    d = Desk(app)
    with app.app_context():
        user = db.session.get(Librarian, librarian.id)
        old = create_access_token(identity=user, expires_delta=timedelta(minutes=5))
    d.client.set_cookie("library_access", old)
    assert d.get("/books").status_code == 200
    assert d.client.get_cookie("library_access").value != old


def test_the_api_does_not_accept_the_cookie(app, desk):
    # Cookies are for the pages (CSRF-checked); a script must send the bearer token.
    assert desk.client.get("/api/v1/books").status_code == 401


# ---- CSRF -----------------------------------------------------------------------


def test_a_form_without_its_csrf_token_is_refused_and_changes_nothing(api, desk):
    r = desk.post("/books/new", {"title": "Sneaky", "author": "X", "copies_total": "1"}, csrf=False)
    assert r.status_code == 400
    assert "expired or was not sent from this site" in r.text
    assert api.get("/books").json["total"] == 0


def test_an_htmx_request_without_its_csrf_header_is_refused(
    api, desk, make_book, make_reader, issue
):
    loan = issue(make_book(), make_reader()).json
    r = desk.post(f"/loans/{loan['id']}/return", htmx=True, csrf=False)
    assert r.status_code == 400
    assert api.get(f"/loans/{loan['id']}").json["status"] == "open"


def test_a_forged_csrf_token_is_refused(api, desk):
    desk.token = "forged." + desk.token
    r = desk.post("/readers/new", {"name": "Eve", "email": "eve@example.org", "language": "en"})
    assert r.status_code == 400
    assert api.get("/readers").json["total"] == 0


# ---- full pages and fragments ---------------------------------------------------


def page_urls(book, reader):
    return [
        ("/", None),
        ("/books", "results"),
        ("/books?q=war", "results"),
        ("/books/new", None),
        (f"/books/{book['id']}", None),
        (f"/books/{book['id']}/edit", None),
        ("/readers", "results"),
        ("/readers/new", None),
        (f"/readers/{reader['id']}", None),
        (f"/readers/{reader['id']}/edit", None),
        ("/loans", "results"),
        ("/loans?status=overdue", "results"),
        ("/search?q=war", None),
    ]


def test_every_page_renders_whole_on_a_direct_load(desk, make_book, make_reader):
    for url, _block in page_urls(make_book(title="War and Peace"), make_reader()):
        r = desk.get(url)
        assert r.status_code == 200, url
        assert r.text.startswith("<!doctype html>"), url
        assert 'id="header-search"' in r.text and "</html>" in r.text, url
        assert "HX-Request" in r.headers.get("Vary", ""), url


def test_htmx_requests_get_only_the_fragment(desk, make_book, make_reader):
    for url, block in page_urls(make_book(title="War and Peace"), make_reader()):
        if block is None:
            continue
        r = desk.get(url, headers=HX)
        assert r.status_code == 200, url
        assert "<html" not in r.text and "<header" not in r.text, url
        assert "<table" in r.text or "No " in r.text, url


def test_no_page_loads_anything_from_another_site(desk, make_book, make_reader):
    for url, _block in page_urls(make_book(), make_reader()):
        html = desk.get(url).text
        for attr in re.findall(r'(?:src|href|action|hx-get|hx-post)="([^"]*)"', html):
            assert not re.match(r"^(https?:)?//", attr), (url, attr)


def test_live_search_narrows_the_list(desk, make_book):
    make_book(title="Война и мир", author="Лев Толстой")
    make_book(title="Анна Каренина", author="Лев Толстой")
    make_book(title="Пиковая дама", author="Александр Пушкин")
    assert "3 books" in desk.get("/books", headers=HX).text
    r = desk.get("/books?q=толст", headers=HX)
    assert "2 books" in r.text and "Пиковая дама" not in r.text
    r = desk.get("/books?q=вой+мир", headers=HX)
    assert "1 book" in r.text and "Война и мир" in r.text


def test_books_list_pages(desk, make_book):
    for i in range(25):
        make_book(title=f"Volume {i:02d}")
    first = desk.get("/books").text
    assert "Volume 00" in first and "Volume 20" not in first and "Page 1 of 2" in first
    second = desk.get("/books?page=2", headers=HX).text
    assert "Volume 20" in second and "Volume 00" not in second


def test_unknown_page_is_an_html_404(desk):
    r = desk.get("/no/such/page")
    assert r.status_code == 404
    assert r.content_type.startswith("text/html")
    assert "There is nothing at this address." in r.text


def test_withdrawn_book_page_is_404(desk, api, make_book):
    book = make_book()
    api.delete(f"/books/{book['id']}")
    assert desk.get(f"/books/{book['id']}").status_code == 404


# ---- books and readers ------------------------------------------------------------


def test_add_edit_and_withdraw_a_book(api, desk):
    desk.get("/books/new")
    r = desk.post(
        "/books/new",
        {
            "title": " Dune ",
            "author": "Frank Herbert",
            "isbn": "0-441-17271-7",
            "year": "1965",
            "copies_total": "2",
        },
    )
    assert r.status_code == 302
    book = api.get("/books").json["items"][0]
    assert (book["title"], book["isbn"], book["copies_total"]) == ("Dune", "9780441172719", 2)
    assert r.headers["Location"] == f"/books/{book['id']}"
    desk.get(f"/books/{book['id']}/edit")
    r = desk.post(
        f"/books/{book['id']}/edit",
        {"title": "Dune", "author": "Frank Herbert", "isbn": "9780441172719", "copies_total": "3"},
    )
    assert r.status_code == 302
    assert api.get(f"/books/{book['id']}").json["copies_total"] == 3
    desk.get(f"/books/{book['id']}")
    assert desk.post(f"/books/{book['id']}/withdraw").status_code == 302
    assert api.get(f"/books/{book['id']}").status_code == 404


def test_a_wrong_isbn_says_why_beside_the_field(api, desk):
    desk.get("/books/new")
    book = {"title": "Dune", "author": "Frank Herbert", "copies_total": "1"}
    for isbn, why in [
        ("9780441172718", "Not a valid ISBN: its check digit is wrong."),
        ("97804411727", "Not a valid ISBN: it has 10 or 13 digits."),
        ("97804411727x9", "Not a valid ISBN-10 or ISBN-13."),
    ]:
        r = desk.post("/books/new", {**book, "isbn": isbn})
        assert r.status_code == 422 and field_errors(r.text) == [why], isbn
        assert f'value="{isbn}"' in r.text  # nothing typed is lost
    assert api.get("/books").json["total"] == 0


def test_book_rule_errors_show_beside_the_field(api, desk, make_book, make_reader, issue):
    taken = make_book(isbn="9785170878833", copies_total=2)
    desk.get("/books/new")
    r = desk.post(
        "/books/new",
        {"title": "Copy", "author": "X", "isbn": "978-5-17-087883-3", "copies_total": "1"},
    )
    assert r.status_code == 409
    assert any("already" in e.lower() or "9785170878833" in e for e in field_errors(r.text))
    assert 'value="Copy"' in r.text  # nothing typed is lost
    issue(taken, make_reader())
    issue(taken, make_reader())
    desk.get(f"/books/{taken['id']}/edit")
    r = desk.post(
        f"/books/{taken['id']}/edit",
        {"title": taken["title"], "author": "X", "isbn": "9785170878833", "copies_total": "1"},
    )
    assert r.status_code == 409
    assert any("copies on loan" in e for e in field_errors(r.text))
    assert api.get(f"/books/{taken['id']}").json["copies_total"] == 2


def test_a_book_on_loan_cannot_be_withdrawn(api, desk, make_book, make_reader, issue):
    book = make_book()
    issue(book, make_reader())
    desk.get(f"/books/{book['id']}")
    r = desk.post(f"/books/{book['id']}/withdraw")
    assert r.headers["Location"] == f"/books/{book['id']}"
    assert "copies on loan" in desk.get(r.headers["Location"]).text
    assert api.get(f"/books/{book['id']}").status_code == 200


def test_add_edit_and_delete_a_reader(api, desk):
    desk.get("/readers/new")
    r = desk.post(
        "/readers/new", {"name": "Мария Иванова", "email": "Maria@Example.org", "language": "ru"}
    )
    assert r.status_code == 302
    reader = api.get("/readers").json["items"][0]
    assert reader["email"] == "maria@example.org" and reader["language"] == "ru"
    assert re.fullmatch(r"\d{4,20}", reader["card_number"])
    page = desk.get(r.headers["Location"]).text
    assert reader["card_number"] in page
    r = desk.post(
        f"/readers/{reader['id']}/edit",
        {
            "name": "Мария Петрова",
            "email": "maria@example.org",
            "card_number": "12345678",
            "language": "ru",
        },
    )
    assert r.status_code == 302
    assert api.get(f"/readers/{reader['id']}").json["card_number"] == "12345678"
    assert desk.post(f"/readers/{reader['id']}/delete").status_code == 302
    assert api.get(f"/readers/{reader['id']}").status_code == 404


def test_reader_errors_show_beside_the_field(desk, make_reader):
    make_reader(email="taken@example.org", card_number="55555555")
    desk.get("/readers/new")
    r = desk.post("/readers/new", {"name": "X", "email": "taken@example.org", "language": "en"})
    assert r.status_code == 409 and field_errors(r.text)
    r = desk.post(
        "/readers/new",
        {"name": "X", "email": "x@example.org", "card_number": "12a", "language": "en"},
    )
    assert r.status_code == 422
    assert "A card number is 4 to 20 digits." in field_errors(r.text)


# ---- the desk: scan, issue, return, renew -----------------------------------------------


def test_header_search_opens_a_scanned_card_or_isbn(desk, make_book, make_reader):
    reader = make_reader(card_number="00012345")
    book = make_book(isbn="9785170878833", title="Война и мир")
    r = desk.get("/search?q=00012345")
    assert r.status_code == 302 and r.headers["Location"] == f"/readers/{reader['id']}"
    r = desk.get("/search?q=978-5-17-087883-3")
    assert r.headers["Location"] == f"/books/{book['id']}"
    r = desk.get("/search?q=война")
    assert r.status_code == 200 and "Война и мир" in r.text


def issue_by(desk, reader, q=None, book_id=None):
    data = {"q": q or ""}
    if book_id:
        data["book_id"] = str(book_id)
    return desk.post(f"/readers/{reader['id']}/issue", data, htmx=True)


def test_issue_by_scanned_isbn_shows_the_loan_in_place(app, api, desk, make_book, make_reader):
    reader = make_reader()
    book = make_book(isbn="9785170878833", title="Война и мир")
    desk.get(f"/readers/{reader['id']}")
    r = issue_by(desk, reader, q="978-5-17-087883-3")
    assert r.status_code == 200 and "<html" not in r.text
    assert "Issued “Война и мир”" in r.text
    assert re.search(r'<tr id="loan-\d+">', r.text)
    assert api.get(f"/books/{book['id']}").json["copies_available"] == 0
    assert invariants(app) == []


def test_issue_by_title_words_offers_the_matches(api, desk, make_book, make_reader):
    reader = make_reader()
    book = make_book(title="Анна Каренина")
    make_book(title="Война и мир")
    desk.get(f"/readers/{reader['id']}")
    r = issue_by(desk, reader, q="анна")
    assert "Issue “Анна Каренина”" in r.text and "Война и мир" not in r.text
    r = issue_by(desk, reader, book_id=book["id"])
    assert "Issued “Анна Каренина”" in r.text
    assert api.get(f"/readers/{reader['id']}").json["open_loans"] == 1


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        ("limit", "already has 3 books on loan"),
        ("unavailable", "No copy of this book is on the shelf."),
        ("borrowed", "already has this book on loan"),
    ],
)
def test_issue_refusals_show_in_place(api, desk, make_book, make_reader, issue, setup, message):
    reader = make_reader()
    book = make_book(isbn="9785170878833")
    if setup == "limit":
        for _ in range(3):
            issue(make_book(), reader)
    elif setup == "unavailable":
        issue(book, make_reader())
    else:
        issue(book, reader)
    before = api.get(f"/readers/{reader['id']}").json["open_loans"]
    desk.get(f"/readers/{reader['id']}")
    r = issue_by(desk, reader, q="9785170878833")
    assert r.status_code == 409
    assert "<html" not in r.text  # the issue box, swapped in place
    assert any(message in a for a in alerts(r.text)), alerts(r.text)
    assert 'value="9785170878833"' in r.text  # the scan is kept
    assert api.get(f"/readers/{reader['id']}").json["open_loans"] == before


def test_unknown_isbn_says_so(desk, make_reader):
    reader = make_reader()
    desk.get(f"/readers/{reader['id']}")
    r = issue_by(desk, reader, q="9780441172719")
    assert r.status_code == 404 and "No book in the catalog has ISBN 9780441172719." in r.text


def test_return_and_renew_answer_with_the_row(app, api, desk, make_book, make_reader, issue):
    loan = issue(make_book(title="Dune"), make_reader()).json
    desk.get("/loans")
    r = desk.post(f"/loans/{loan['id']}/renew", htmx=True)
    assert r.status_code == 200 and r.text.lstrip().startswith(f'<tr id="loan-{loan["id"]}">')
    assert "Renewed “Dune”" in r.text
    assert api.get(f"/loans/{loan['id']}").json["renewals"] == 1
    r = desk.post(f"/loans/{loan['id']}/return", htmx=True)
    assert "Returned “Dune”" in r.text and "returned" in r.text
    r = desk.post(f"/loans/{loan['id']}/return", htmx=True)
    assert r.status_code == 409 and "already been returned" in r.text
    assert invariants(app) == []


def test_renewal_limit_shows_in_the_row(api, desk, make_book, make_reader, issue):
    loan = issue(make_book(), make_reader()).json
    desk.get("/loans")
    for _ in range(2):
        assert desk.post(f"/loans/{loan['id']}/renew", htmx=True).status_code == 200
    r = desk.post(f"/loans/{loan['id']}/renew", htmx=True)
    assert r.status_code == 409 and "Renewed 2 times already" in r.text


def test_return_without_htmx_redirects_back_with_a_message(desk, make_book, make_reader, issue):
    reader = make_reader()
    loan = issue(make_book(title="Dune"), reader).json
    desk.get(f"/readers/{reader['id']}")
    r = desk.post(
        f"/loans/{loan['id']}/return",
        headers={"Referer": f"http://localhost/readers/{reader['id']}"},
    )
    assert r.status_code == 302 and r.headers["Location"] == f"/readers/{reader['id']}"
    assert "Returned “Dune”." in desk.get(r.headers["Location"]).text


def test_loans_tabs_filter(desk, make_book, make_reader, issue, api):
    reader = make_reader()
    returned = issue(make_book(title="Came Back"), reader).json
    api.post(f"/loans/{returned['id']}/return")
    issue(make_book(title="Still Out"), reader)
    open_page = desk.get("/loans?status=open").text
    assert "Still Out" in open_page and "Came Back" not in open_page
    returned_page = desk.get("/loans?status=returned").text
    assert "Came Back" in returned_page and "Still Out" not in returned_page


def test_dashboard_counts_and_chart(desk, make_book, make_reader, issue, api):
    reader = make_reader()
    book = make_book(copies_total=3)
    loan = issue(book, reader).json
    issue(make_book(), reader)
    api.post(f"/loans/{loan['id']}/return")
    html = desk.get("/").text
    counts = re.findall(r"<strong>([\d,]+)</strong>\s*([^<]+)<", html)
    assert ("2", "books") in [(n, label.strip()) for n, label in counts]
    assert ("1", "open loan") in [(n, label.strip()) for n, label in counts]
    assert "2 issued, 1 returned." in html
    assert html.count('class="bar-issued"') == 30


def test_text_no_database_can_store_is_refused_beside_its_field(api, desk):
    desk.get("/books/new")
    r = desk.post("/books/new", {"title": "Nul\x00byte", "author": "X", "copies_total": "1"})
    assert r.status_code == 422
    assert "Contains characters that cannot be stored." in field_errors(r.text)
    assert api.get("/books").json["total"] == 0


@pytest.mark.parametrize(
    "url", ["/books?q=%00", "/readers?q=a%00b", "/search?q=%00", "/books?q=%ED%A0%80"]
)
def test_unstorable_text_in_a_search_is_not_a_500(desk, url):
    assert desk.get(url).status_code < 500


def test_compile_templates_compiles_every_page_once(app):
    from library.web.render import compile_templates

    env = app.jinja_env
    env.cache.clear()
    count = compile_templates(app)
    assert count == len(env.list_templates()) > 30
    assert len(env.cache) == count  # each one compiled and kept, the reader page among them
    kept = {name: env.get_template(name) for name in env.list_templates()}
    assert "readers/detail.html" in kept
    assert compile_templates(app) == count
    assert all(env.get_template(name) is template for name, template in kept.items())

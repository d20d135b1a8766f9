"""No N+1 queries: every list endpoint and page runs the same number of SQL statements
whatever the page size, and the pages that list all there is (the dashboard, a reader's
page, a book's page) the same for one loan or hold as for several."""

import pytest
from sqlalchemy import event

from library.extensions import db
from tests.helpers import backdate_loan
from tests.test_holds import place
from tests.test_web import Desk


class StatementCounter:
    def __init__(self, app):
        with app.app_context():
            self.engine = db.engine
        self.count = 0

    def _count(self, *_args, **_kwargs):
        self.count += 1

    def __enter__(self):
        event.listen(self.engine, "before_cursor_execute", self._count)
        return self

    def __exit__(self, *exc):
        event.remove(self.engine, "before_cursor_execute", self._count)


@pytest.fixture
def busy_library(app, api, make_book, make_reader, issue, admin_api, make_librarian):
    """Enough of everything for two page sizes to differ: 30 loans, holds, notices."""
    reader = make_reader(name="Busy Reader")
    others = [make_reader() for _ in range(12)]
    books = [make_book(title=f"Book {i}", copies_total=1) for i in range(30)]
    for i, book in enumerate(books):
        r = issue(book, others[i % 10]) if i >= 3 else issue(book, reader)
        assert r.status_code in (201, 409)
    for book in books[3:8]:
        assert (
            api.post("/holds", json={"book_id": book["id"], "reader_id": reader["id"]}).status_code
            == 201
        )
    for other in others[10:12]:
        api.post("/holds", json={"book_id": books[0]["id"], "reader_id": other["id"]})
    for _ in range(8):
        make_librarian()
    return {"reader": reader}


API_LISTS = [
    "/books",
    "/books?q=book",
    "/books?available=false",
    "/readers",
    "/readers?q=reader",
    "/loans",
    "/loans?status=open",
    "/holds",
    "/notifications",
    "/notifications?status=pending",
    "/readers/{reader}/loans",
    "/readers/{reader}/loans?status=open",
    "/readers/{reader}/holds",
    "/librarians",
]


def _counted(app, call):
    """The response of `call()` and the SQL statements it ran."""
    with StatementCounter(app) as counter:
        response = call()
    assert response.status_code == 200, response.get_data(as_text=True)[:300]
    return response, counter.count


@pytest.mark.parametrize("path", API_LISTS)
def test_api_lists_run_a_fixed_number_of_statements(app, admin_api, busy_library, path):
    path = path.format(reader=busy_library["reader"]["id"])
    sep = "&" if "?" in path else "?"
    short, small = _counted(app, lambda: admin_api.get(f"{path}{sep}per_page=2"))
    long, large = _counted(app, lambda: admin_api.get(f"{path}{sep}per_page=50"))
    assert small == large, (path, small, large)
    # Two pages of different lengths, not the same page twice.
    assert len(short.json["items"]) == 2 < len(long.json["items"]), path


# Pages whose lists follow per_page; the dashboard and the detail pages list all there is
# (test_detail_pages_run_the_same_statements_for_one_loan_as_for_many and
# test_the_dashboard_runs_the_same_statements_however_much_it_lists).
PAGES = [
    "/books",
    "/books?q=book",
    "/books?available=false",
    "/readers",
    "/readers?q=reader",
    "/loans",
    "/loans?status=all",
    "/notifications",
    "/notifications?status=pending",
]


@pytest.mark.parametrize("path", PAGES)
def test_pages_run_a_fixed_number_of_statements(app, librarian, busy_library, path):
    desk = Desk(app)
    desk.sign_in(librarian.email)
    sep = "&" if "?" in path else "?"
    short, small = _counted(app, lambda: desk.client.get(f"{path}{sep}per_page=2"))
    long, large = _counted(app, lambda: desk.client.get(f"{path}{sep}per_page=50"))
    assert small == large, (path, small, large)
    # Two pages of different lengths, not the same page twice.
    assert short.text.count("<tr") < long.text.count("<tr"), path


@pytest.fixture
def lent(api, make_book, make_reader, issue):
    """A new book of `copies` copies, each lent to a new reader (or to `reader`)."""

    def lend(title, copies=1, reader=None):
        book = make_book(title=title, copies_total=copies)
        loans = []
        for _ in range(copies):
            r = issue(book, reader or make_reader())
            assert r.status_code == 201, r.json
            loans.append(r.json)
        return book, loans

    return lend


def _give_back(api, loan):
    assert api.post(f"/loans/{loan['id']}/return").status_code == 200


def _hold(api, book, reader):
    r = place(api, book, reader)
    assert r.status_code == 201, r.json
    return r.json


def _reader_with(api, make_reader, lent, n, tag):
    """A reader with `n` open loans, `n` returned ones and `n` holds: the titles."""
    reader = make_reader(name=f"Reader {tag}")
    titles = []
    for i in range(n):
        _, (loan,) = lent(f"Returned {tag} {i}", reader=reader)
        _give_back(api, loan)
        lent(f"Open {tag} {i}", reader=reader)
        book, _ = lent(f"Held {tag} {i}")
        _hold(api, book, reader)
        titles += [f"Returned {tag} {i}", f"Open {tag} {i}", f"Held {tag} {i}"]
    return reader, titles


def _book_with(api, make_reader, issue, lent, n, tag):
    """A book with `n` returned loans, `n` open ones and `n` readers waiting: the names."""
    book, returned = lent(f"Book {tag}", copies=n)
    for loan in returned:
        _give_back(api, loan)
    borrowers = [make_reader(name=f"Borrower {tag} {i}") for i in range(n)]
    for reader in borrowers:
        r = issue(book, reader)
        assert r.status_code == 201, r.json
    waiting = [make_reader(name=f"Waiting {tag} {i}") for i in range(n)]
    for reader in waiting:  # every copy is out now
        _hold(api, book, reader)
    return book, [reader["name"] for reader in borrowers + waiting]


def test_detail_pages_run_the_same_statements_for_one_loan_as_for_many(
    app, api, librarian, make_reader, issue, lent
):
    """The reader and book pages list everything the reader or book has (no per_page):
    one of each or three of each, the same statements."""
    desk = Desk(app)
    desk.sign_in(librarian.email)
    few_reader, few_titles = _reader_with(api, make_reader, lent, 1, "few")
    many_reader, many_titles = _reader_with(api, make_reader, lent, 3, "many")
    few_book, few_names = _book_with(api, make_reader, issue, lent, 1, "few")
    many_book, many_names = _book_with(api, make_reader, issue, lent, 3, "many")
    for path, few, many, shown in (
        ("/readers/{}", few_reader, many_reader, many_titles),
        ("/books/{}", few_book, many_book, many_names),
    ):
        _, small = _counted(app, lambda p=path, x=few: desk.client.get(p.format(x["id"])))
        page, large = _counted(app, lambda p=path, x=many: desk.client.get(p.format(x["id"])))
        assert small == large, (path, small, large)
        assert all(text in page.text for text in shown), path
    # ... and the small pages show their one of each too.
    reader_page = desk.client.get(f"/readers/{few_reader['id']}").text
    book_page = desk.client.get(f"/books/{few_book['id']}").text
    assert all(title in reader_page for title in few_titles)
    assert all(name in book_page for name in few_names)


def test_the_dashboard_runs_the_same_statements_however_much_it_lists(
    app, api, librarian, make_reader, lent
):
    """Loans due soon, overdue loans and the hold shelf: one of each, then three."""
    desk = Desk(app)
    desk.sign_in(librarian.email)

    def add(tag):
        _, (due_soon,) = lent(f"Due soon {tag}")
        backdate_loan(app, due_soon["id"], days=11)
        _, (overdue,) = lent(f"Overdue {tag}")
        backdate_loan(app, overdue["id"], days=20)
        book, (loan,) = lent(f"Kept {tag}")
        _hold(api, book, make_reader())
        _give_back(api, loan)  # the copy goes to the hold: ready, on the shelf
        return [f"Due soon {tag}", f"Overdue {tag}", f"Kept {tag}"]

    add("first")
    _, small = _counted(app, lambda: desk.client.get("/"))
    shown = add("second") + add("third")
    page, large = _counted(app, lambda: desk.client.get("/"))
    assert small == large, (small, large)
    assert all(title in page.text for title in shown)

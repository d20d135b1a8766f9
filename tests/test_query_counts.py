"""No N+1 queries: every list endpoint and page runs the same number of SQL statements
whatever the page size."""

import pytest
from sqlalchemy import event

from library.extensions import db
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
    return {"reader": reader, "book": books[0]}


API_LISTS = [
    "/books",
    "/books?q=book",
    "/readers",
    "/loans",
    "/loans?status=open",
    "/holds",
    "/notifications",
    "/readers/{reader}/loans",
    "/readers/{reader}/holds",
    "/librarians",
]


def _statements(app, call):
    with StatementCounter(app) as counter:
        response = call()
    assert response.status_code == 200, response.get_data(as_text=True)[:300]
    return counter.count


@pytest.mark.parametrize("path", API_LISTS)
def test_api_lists_run_a_fixed_number_of_statements(app, admin_api, busy_library, path):
    path = path.format(reader=busy_library["reader"]["id"])
    sep = "&" if "?" in path else "?"
    small = _statements(app, lambda: admin_api.get(f"{path}{sep}per_page=2"))
    large = _statements(app, lambda: admin_api.get(f"{path}{sep}per_page=50"))
    assert small == large, (path, small, large)


PAGES = [
    "/",
    "/books",
    "/readers",
    "/loans",
    "/notifications",
    "/readers/{reader}",
    "/books/{book}",
]


@pytest.mark.parametrize("path", PAGES)
def test_pages_run_a_fixed_number_of_statements(app, librarian, busy_library, path):
    path = path.format(reader=busy_library["reader"]["id"], book=busy_library["book"]["id"])
    desk = Desk(app)
    desk.sign_in(librarian.email)
    sep = "&" if "?" in path else "?"
    small = _statements(app, lambda: desk.client.get(f"{path}{sep}per_page=2"))
    large = _statements(app, lambda: desk.client.get(f"{path}{sep}per_page=50"))
    assert small == large, (path, small, large)


def test_the_page_size_really_changes_what_the_pages_show(app, librarian, busy_library):
    """So the test above compares pages of different lengths, not the same page twice."""
    desk = Desk(app)
    desk.sign_in(librarian.email)
    for path in ("/books", "/loans"):
        small = desk.client.get(f"{path}?per_page=2").text.count("<tr")
        large = desk.client.get(f"{path}?per_page=50").text.count("<tr")
        assert large > small, path

"""`books import` and `books export`: the catalog as CSV, bad rows reported by line."""

import csv
import io
from datetime import UTC, datetime

import pytest

NEXT_YEAR = datetime.now(UTC).year + 1  # the last year a book may have


def write(tmp_path, text, name="books.csv"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


CSV = """title,author,isbn,year,description,copies_total
Война и мир,Лев Толстой,978-5-389-06256-6,1869,,3
Emma,Jane Austen,,1815,"A novel, with commas",
,Nobody,,,,1
Bad ISBN,Someone,978-0-00-000000-1,,,1
Far future,Someone,,3000,,1
Negative,Someone,,,,-1
Dup in file,Someone,9785389062566,,,1
Fine again,Anne,,,,2
"""


def test_import_adds_good_rows_and_reports_bad_ones_by_line(app, runner, api, tmp_path):
    result = runner.invoke(args=["books", "import", write(tmp_path, CSV)])
    assert result.exit_code == 1, result.output
    assert "Imported 3 book(s); rejected 5 row(s)." in result.output
    lines = [line for line in result.output.splitlines() if line.startswith("line ")]
    assert [line.split(":")[0] for line in lines] == [
        "line 4",
        "line 5",
        "line 6",
        "line 7",
        "line 8",
    ]
    assert "title" in lines[0] and "isbn" in lines[1] and "year" in lines[2]
    assert "line 5: isbn: Not a valid ISBN: its check digit is wrong." in lines
    assert f"line 6: year: Must be between 1450 and {NEXT_YEAR}." in lines
    assert "copies_total" in lines[3]
    assert lines[4] == "line 8: isbn: Another book already has ISBN 9785389062566."
    page = api.get("/books", query_string={"q": "вой"}).json
    [book] = page["items"]
    assert book["isbn"] == "9785389062566" and book["copies_total"] == 3
    assert book["copies_available"] == 3 and book["year"] == 1869
    emma = api.get("/books", query_string={"q": "emma"}).json["items"][0]
    assert emma["copies_total"] == 1 and emma["description"] == "A novel, with commas"
    assert api.get("/books").json["total"] == 3


def test_import_refuses_an_isbn_already_in_the_catalog(app, runner, make_book, tmp_path):
    make_book(isbn="9785389062566")
    text = "title;author;isbn\nWar and Peace;Tolstoy;9785389062566\nOther;A;\n"
    result = runner.invoke(args=["books", "import", write(tmp_path, text)])
    assert result.exit_code == 1
    assert "line 2: isbn: Another book already has ISBN 9785389062566." in result.output
    assert "Imported 1 book(s)" in result.output  # semicolons sniffed, the other row in


def test_import_without_the_header_is_refused_and_adds_nothing(app, runner, api, tmp_path):
    result = runner.invoke(args=["books", "import", write(tmp_path, "Emma,Austen\n")])
    assert result.exit_code == 1
    assert (
        "The header row must name the columns title, author, isbn, year, description, "
        "copies_total; missing: author, title." in result.output
    )
    assert api.get("/books").json["total"] == 0


def test_rejected_rows_are_reported_in_the_cli_language(app, runner, make_book, tmp_path):
    make_book(isbn="9785389062566")
    app.config["DEFAULT_LANGUAGE"] = "ru"
    text = "title,author,isbn,year\nWar and Peace,Tolstoy,9785389062566,\n,A,,\nB,B,,99999\n"
    result = runner.invoke(args=["books", "import", write(tmp_path, text)])
    assert result.exit_code == 1
    lines = [line for line in result.output.splitlines() if ": " in line]
    # The columns keep the file's names; the reasons and their values are in Russian.
    assert "строка 2: isbn: ISBN 9785389062566 уже есть у другой книги." in lines
    assert "строка 3: title: Обязательное поле не заполнено." in lines
    assert f"строка 4: year: Должно быть от 1450 до {NEXT_YEAR}." in lines
    missing = runner.invoke(args=["books", "import", write(tmp_path, "Emma,Austen\n")])
    assert "В строке заголовков должны быть столбцы title, author" in missing.output


def test_a_file_that_is_not_utf8_is_refused_and_adds_nothing(app, runner, api, tmp_path):
    path = tmp_path / "cp1251.csv"
    path.write_bytes("title,author\nBook,A\nВойна и мир,Лев Толстой\n".encode("cp1251"))
    result = runner.invoke(args=["books", "import", str(path)])
    assert result.exit_code == 1
    assert "The file is not UTF-8 text; save it as UTF-8 and import it again." in result.output
    assert "Traceback" not in result.output
    assert api.get("/books").json["total"] == 0  # not even the row before the bad bytes


def test_import_reads_standard_input(app, runner, api):
    result = runner.invoke(args=["books", "import", "-"], input="title;author\nEmma;Austen\n")
    assert result.exit_code == 0, result.output
    assert "Imported 1 book(s); rejected 0 row(s)." in result.output
    assert api.get("/books").json["items"][0]["title"] == "Emma"


def test_import_of_a_clean_file_exits_zero(app, runner, tmp_path):
    rows = "\n".join(f"Book {i},Author {i},,,,1" for i in range(2500))
    result = runner.invoke(
        args=[
            "books",
            "import",
            write(tmp_path, "title,author,isbn,year,description,copies_total\n" + rows),
        ]
    )
    assert result.exit_code == 0, result.output
    assert "Imported 2500 book(s); rejected 0 row(s)." in result.output


def test_export_writes_the_catalog_and_leaves_withdrawn_books_out(app, runner, api, make_book):
    keep = make_book(title="Kept, with a comma", isbn="9785389062566", year=1869)
    gone = make_book(title="Gone")
    api.delete(f"/books/{gone['id']}")
    result = runner.invoke(args=["books", "export"])
    assert result.exit_code == 0
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [r["title"] for r in rows] == ["Kept, with a comma"]
    assert rows[0]["isbn"] == "9785389062566" and rows[0]["id"] == str(keep["id"])


def test_export_then_import_round_trips(app, runner, api, make_book, tmp_path):
    """Every field a book is exported with comes back as it was, whatever it holds."""
    made = [
        make_book(title="Title 0", author="Ü Ñ Author", year=1900, copies_total=1),
        make_book(
            title='Война и мир, "том" 1',
            author="Лев Толстой",
            isbn="9785389062566",
            year=1869,
            description='Line one\nline two, with a comma; and a "quote"',
            copies_total=4,
        ),
        make_book(title="Title 2", author="Anon", year=None, copies_total=2),  # no description
    ]
    path = tmp_path / "out.csv"
    assert runner.invoke(args=["books", "export", "-o", str(path)]).exit_code == 0
    for book in api.get("/books").json["items"]:
        api.delete(f"/books/{book['id']}")
    result = runner.invoke(args=["books", "import", str(path)])
    assert result.exit_code == 0, result.output
    fields = ("title", "author", "isbn", "year", "description", "copies_total")

    def by_title(books):
        return sorted(({f: b[f] for f in fields} for b in books), key=lambda b: b["title"])

    assert by_title(api.get("/books").json["items"]) == by_title(made)


def test_an_import_leaves_no_words_waiting_outside_the_search_index(app, runner, tmp_path, dialect):
    """PostgreSQL: GIN keeps new rows in a pending list that every search reads whole
    until a vacuum merges it; the import merges it before it ends."""
    from sqlalchemy import text

    from library.extensions import db

    if dialect != "postgresql":
        pytest.skip("SQLite's FTS5 index has no pending list")
    rows = "".join(f"Pending tale {i},Author {i}\n" for i in range(300))
    result = runner.invoke(args=["books", "import", write(tmp_path, "title,author\n" + rows)])
    assert result.exit_code == 0, result.output
    with app.app_context():
        left = db.session.scalar(text("SELECT gin_clean_pending_list('ix_book_search_tsv')"))
        db.session.rollback()
    assert left == 0  # pages still pending


def test_an_import_still_succeeds_when_the_database_refuses_the_merge(
    runner, api, tmp_path, monkeypatch, caplog, dialect
):
    """Merging the pending list needs the index's owner; a role that is not keeps its
    imported books, and autovacuum merges them later."""
    from sqlalchemy import text

    from library.circulation import catalog

    if dialect != "postgresql":
        pytest.skip("SQLite's FTS5 index has no pending list")
    refused = text("SELECT gin_clean_pending_list('no_such_index'::regclass)")
    monkeypatch.setattr(catalog, "_MERGE_SEARCH_INDEX", refused)
    result = runner.invoke(args=["books", "import", write(tmp_path, "title,author\nEmma,Austen\n")])
    assert result.exit_code == 0, result.output
    assert api.get("/books", query_string={"q": "emma"}).json["total"] == 1
    assert "search index not merged after the import" in caplog.text


def test_an_import_batch_never_cuts_a_value_short(app, dialect):
    """PostgreSQL receives a batch as one array a column (`_insert_rows`): text[], not
    varchar(300)[], whose cast would cut a longer title down without a word. The schema
    refuses such a title first; past it, the database must refuse it too (SQLite, whose
    VARCHAR has no length, keeps it whole)."""
    from sqlalchemy import func, select
    from sqlalchemy.exc import DBAPIError

    from library.circulation.catalog import _insert_rows, _values
    from library.extensions import db
    from library.models import Book, utcnow

    book = {"title": "x" * 301, "author": "A", "isbn": None, "year": None}
    with app.app_context():
        row = _values({**book, "description": None, "copies_total": 1}, utcnow())
        try:
            _insert_rows([row])
            db.session.commit()
        except DBAPIError:
            db.session.rollback()
            assert dialect == "postgresql"
        lengths = db.session.scalars(select(func.length(Book.title))).all()
    assert lengths == ([] if dialect == "postgresql" else [301])

"""The books list and search at scale (issue 8): counts capped at 1000 (`total_capped`),
pages past the cap, the two ways a capped search finds its page (walking the titles in
order, or sorting every match) giving the same books, the ISBN query answered from
the indexes, and SQLite's search index holding only active books."""

import re

import pytest
from sqlalchemy import insert, select, text, update

from library.circulation import books as catalog
from library.circulation.values import search_text
from library.extensions import db
from library.models import Book, utcnow
from tests.test_books import WAR_AND_PEACE_ISBN, add_filler_books, search, titles
from tests.test_web import issue_by

COMMON = 1100  # books whose titles share the words "common tale": more than the cap


def add_books(app, names, author="Writer"):
    """Many books at once, straight into the table (the API would take minutes)."""
    now = utcnow()
    rows = [
        {
            "title": name,
            "author": author,
            "copies_total": 1,
            "copies_available": 1,
            "search_text": search_text(name, author),
            "created_at": now,
            "updated_at": now,
        }
        for name in names
    ]
    with app.app_context():
        db.session.execute(insert(Book), rows)
        db.session.commit()


def common(i):
    return f"Common tale {i:04d}"


@pytest.fixture
def many(app):
    add_books(app, [common(i) for i in range(COMMON)])


def page_of(api, **params):
    r = api.get("/books", query_string=params)
    assert r.status_code == 200, r.json
    return r.json


# ---- the capped count ----------------------------------------------------------------


@pytest.mark.parametrize("query", [{"q": "common"}, {"q": "TALE com"}, {}])
def test_more_than_1000_books_are_counted_as_1000_and_capped(api, many, query):
    body = page_of(api, **query)
    assert body["total"] == 1000 and body["total_capped"] is True
    assert titles(body) == [common(i) for i in range(20)]


def test_up_to_1000_books_are_counted_exactly(api, app, make_book):
    add_books(app, [common(i) for i in range(1000)])
    make_book(title="A rare book")
    body = page_of(api, q="common")
    assert body["total"] == 1000 and body["total_capped"] is False
    body = page_of(api, q="rare")
    assert body["total"] == 1 and body["total_capped"] is False
    assert titles(body) == ["A rare book"]
    assert page_of(api)["total_capped"] is True  # 1001 books in all


@pytest.mark.parametrize("query", [{"q": "common"}, {}])
def test_a_page_past_the_cap_still_has_its_books(api, many, query):
    body = page_of(api, page=51, **query)  # books 1001 to 1020
    assert body["total"] == 1000 and body["total_capped"] is True
    assert titles(body) == [common(i) for i in range(1000, 1020)]
    assert titles(page_of(api, page=11, per_page=100, **query)) == [
        common(i) for i in range(1000, COMMON)
    ]
    past = page_of(api, page=12, per_page=100, **query)  # past the real end
    assert past["items"] == [] and past["total"] == 1000 and past["total_capped"] is True


@pytest.mark.parametrize("query", [{"q": "common"}, {}])
def test_a_huge_page_number_of_a_capped_list_is_an_empty_page(api, many, query):
    body = page_of(api, page=2**63 - 1, per_page=100, **query)
    assert body["items"] == [] and body["total_capped"] is True


@pytest.mark.parametrize("page", [3, 2**63 - 1])
def test_a_search_page_past_the_end_is_empty_and_keeps_its_count(api, make_book, page):
    for name in ("Tale one", "Tale two", "Tale three"):
        make_book(title=name)
    body = page_of(api, q="tale", page=page, per_page=2)
    assert body["items"] == [] and body["total"] == 3 and body["total_capped"] is False
    assert page_of(api, q="nothing")["total"] == 0


def test_the_cap_applies_with_the_shelf_filter(api, app, many, way):
    with app.app_context():
        db.session.execute(update(Book).where(Book.title == common(3)).values(copies_available=0))
        db.session.commit()
    on_shelf = page_of(api, q="common", available="true")
    assert on_shelf["total"] == 1000 and on_shelf["total_capped"] is True
    assert common(3) not in titles(on_shelf) and common(20) in titles(on_shelf)
    out = page_of(api, q="common", available="false")
    assert titles(out) == [common(3)] and out["total_capped"] is False


def test_withdrawn_books_are_not_counted(api, app, many):
    with app.app_context():
        db.session.execute(
            update(Book)
            .where(Book.title.in_([common(i) for i in range(100, COMMON)]))
            .values(withdrawn_at=utcnow())
        )
        db.session.commit()
    for query in ({"q": "common"}, {}):
        body = page_of(api, per_page=100, **query)
        assert body["total"] == 100 and body["total_capped"] is False


# ---- a capped search finds the same page whichever way it reads ----------------------


def record_walks(monkeypatch):
    """The list of what each walk of a capped search found (None: too short)."""
    walks = []
    walk = catalog._walk

    def recorded(*args):
        walks.append(walk(*args))
        return walks[-1]

    monkeypatch.setattr(catalog, "_walk", recorded)
    return walks


@pytest.fixture(params=["as_it_chooses", "walk", "sort"])
def way(request, monkeypatch):
    """Make a capped search walk the titles (even on SQLite, which walks only for very
    common words), or find the walk too short and sort every match instead; `walks`
    records what each walk found (None: too short)."""
    if request.param != "as_it_chooses":
        monkeypatch.setattr(catalog, "WALK_FROM", 0)
    if request.param == "sort":
        monkeypatch.setattr(catalog, "WALK_LIMIT", 5)
    return request.param, record_walks(monkeypatch)


@pytest.mark.parametrize(("page", "per_page"), [(1, 20), (3, 20), (51, 20), (2, 100)])
def test_every_way_of_finding_a_page_gives_the_same_books(api, many, way, page, per_page):
    first = (page - 1) * per_page
    expected = [common(i) for i in range(first, min(first + per_page, COMMON))]
    body = page_of(api, q="tale common", page=page, per_page=per_page)
    assert titles(body) == expected
    assert body["total"] == 1000 and body["total_capped"] is True
    chosen, walks = way
    if chosen == "walk":
        assert walks and walks[-1] is not None
    elif chosen == "sort":
        assert walks == [None]


@pytest.fixture
def short_walk(monkeypatch):
    """Capped searches walk (WALK_FROM 0) at most 25 titles; the list records what each
    walk found (None: too short, the matches were sorted)."""
    monkeypatch.setattr(catalog, "WALK_FROM", 0)
    monkeypatch.setattr(catalog, "WALK_LIMIT", 25)
    return record_walks(monkeypatch)


AARDVARKS = [f"Aardvark {i:03d}" for i in range(30)]


def test_a_word_whose_books_sort_late_is_walked_from_its_first_title(api, app, many, short_walk):
    """A Russian word's books sort after every Latin title. The walk starts at the word's
    first title (migration 0012's book_word), not at the catalog's: from there the 25
    titles fill the page, where 25 aardvarks would not have."""
    add_books(app, AARDVARKS)
    assert titles(page_of(api, q="common")) == [common(i) for i in range(20)]
    assert titles(page_of(api, q="tale commo")) == [common(i) for i in range(20)]
    assert len(short_walk) == 2 and all(short_walk)


@pytest.mark.parametrize("how", ["added", "renamed", "imported"])
def test_a_book_that_sorts_before_a_words_first_title_is_found_first(
    api, app, many, short_walk, how, runner, tmp_path
):
    """The database keeps each word's first title in step with the books (triggers), so
    a walk never starts past a match: a new book, a title changed to an earlier one, or
    an imported catalog comes first on the page."""
    add_books(app, AARDVARKS)
    title = "Aardvark common tale"
    if how == "added":
        assert api.post("/books", json={"title": title, "author": "A"}).status_code == 201
    elif how == "renamed":
        book = page_of(api, q="aardvark 007")["items"][0]
        assert api.patch(f"/books/{book['id']}", json={"title": title}).status_code == 200
    else:
        csv = tmp_path / "books.csv"
        csv.write_text(f"title,author\n{title},A\n", encoding="utf-8")
        result = runner.invoke(args=["books", "import", str(csv)])
        assert result.exit_code == 0, result.output
    # Walked from the book's title: from the words' first title before it, the walk
    # would have filled the page with Common tales and left the book out.
    assert titles(page_of(api, q="common"))[:2] == [title, common(0)]
    assert titles(page_of(api, q="tale common"))[:2] == [title, common(0)]
    assert len(short_walk) == 2 and all(short_walk)


def test_a_withdrawn_first_book_leaves_an_early_start_and_the_same_books(
    api, app, many, short_walk
):
    """A word's first title never moves later: with its first book withdrawn, its walk
    starts early and may come out too short, and the sort finds the same page."""
    add_books(app, AARDVARKS)
    early = api.post("/books", json={"title": "Aa common", "author": "A"}).json
    assert api.delete(f"/books/{early['id']}").status_code == 204
    assert titles(page_of(api, q="common")) == [common(i) for i in range(20)]
    assert short_walk == [None]


def first_titles(titles, author):
    """{word: the first of `titles` (by `author`) that has it}: what book_word should hold."""
    first = {}
    for title in titles:
        for word in search_text(title, author).split():
            first[word] = min(first.get(word, title), title)
    return first


def stored_first_titles(app):
    """{word: first_title} as book_word holds them."""
    with app.app_context():
        return dict(db.session.execute(text("SELECT word, first_title FROM book_word")).all())


@pytest.mark.parametrize("upgrade", ["migration", "triggers"])
def test_book_word_holds_each_active_words_first_title(app, upgrade, dialect):
    """book_word as migration 0012 makes it of the catalog, and as its triggers keep it
    while books come: every word of an active book, with the first title that has it."""
    import flask_migrate

    books = ["Zebra tale", "Alpha tale_one", "Мир и война", "Война", "Tale of x_ray"]
    with app.app_context():
        if upgrade == "migration":
            flask_migrate.downgrade(revision="bd7e8f9a0b1c")
    try:
        add_books(app, books)
        add_books(app, ["Aa withdrawn tale"])
        with app.app_context():
            db.session.execute(
                update(Book).where(Book.title.like("Aa %")).values(withdrawn_at=utcnow())
            )
            db.session.commit()
    finally:
        with app.app_context():
            flask_migrate.upgrade()
    expected = first_titles(books, "Writer")
    stored = stored_first_titles(app)
    if upgrade == "triggers":  # the withdrawn book came first, and stays the start
        expected.update({w: "Aa withdrawn tale" for w in ("aa", "withdrawn", "tale", "writer")})
    assert stored == expected


def test_a_query_word_with_an_underscore_walks_from_its_own_words(api, app, short_walk):
    """The words starting with a query's word are a range of book_word, by their bytes:
    an underscore there is a character, not LIKE's any-character (which would take the
    aardvarks' `xaray` for `x_` and start the walk at them, too early to fill a page)."""
    add_books(app, [f"{title} xaray" for title in AARDVARKS])
    add_books(app, [f"{common(i)} x_ray" for i in range(COMMON)])
    assert titles(page_of(api, q="x_")) == [f"{common(i)} x_ray" for i in range(20)]
    assert titles(page_of(api, q="tale x_r")) == [f"{common(i)} x_ray" for i in range(20)]
    assert len(short_walk) == 2 and all(short_walk)


def test_a_capped_search_matches_word_starts_only(api, app, many, way):
    add_books(app, ["Aa uncommon tale", "Ab common_tale joined"])
    # "common_tale" is one word (`fold` keeps the underscore): it starts with "common",
    # and "tale" starts no word of it; "uncommon" does not start with "common".
    assert search(api, "common") == ["Ab common_tale joined"] + [common(i) for i in range(19)]
    assert search(api, "tale") == ["Aa uncommon tale"] + [common(i) for i in range(19)]


# ---- the ISBN query ------------------------------------------------------------------


def test_an_isbn_query_finds_its_book_and_title_words_on_either_database(api, make_book):
    make_book(title="Война и мир", isbn=WAR_AND_PEACE_ISBN)
    make_book(title="Notes 9785170878833 on a number")
    # The 13 digits are also the start of a title word; hyphenated, they are five words.
    assert search(api, WAR_AND_PEACE_ISBN) == ["Notes 9785170878833 on a number", "Война и мир"]
    assert search(api, "978-5-17-087883-3") == ["Война и мир"]
    assert search(api, "5-17-087883-4") == ["Война и мир"]


def test_an_isbn_query_reads_no_whole_table(app, make_book):
    """SQLite once answered `isbn = ? OR id IN (...)` by reading every book."""
    from library.circulation.books import _Query, _search_match

    make_book(title="Война и мир", isbn=WAR_AND_PEACE_ISBN)
    with app.app_context():
        query = _Query.of("5-17-087883-4", available=None)
        stmt = select(Book.id).where(Book.withdrawn_at.is_(None), _search_match(query))
        stmt = stmt.params(query.params)
        compiled = stmt.compile(db.engine, compile_kwargs={"literal_binds": True})
        if db.engine.dialect.name == "postgresql":
            # Enough books that reading them all costs the planner more than the two
            # indexes (it knows how rare the words are; a few thousand it would scan).
            add_filler_books(20_000)
            plan = " ".join(db.session.execute(text(f"EXPLAIN {compiled}")).scalars())
            assert "Seq Scan" not in plan and "uq_book_isbn_active" in plan, plan
        else:
            rows = db.session.execute(text(f"EXPLAIN QUERY PLAN {compiled}")).all()
            plan = [str(r[-1]) for r in rows]
            assert not [step for step in plan if re.fullmatch(r"SCAN book\b.*", step)], plan
            assert any("uq_book_isbn_active" in step for step in plan), plan
        assert db.session.execute(stmt).scalars().all() == [1]
        db.session.rollback()


# ---- SQLite: the search index holds the active books only -----------------------------


def indexed(word):
    found = db.session.execute(
        text("SELECT rowid FROM book_fts WHERE book_fts MATCH :q ORDER BY rowid"),
        {"q": f'"{word}"*'},
    )
    return found.scalars().all()


def test_sqlite_search_index_holds_only_active_books(app, api, make_book, dialect):
    if dialect != "sqlite":
        pytest.skip("PostgreSQL's GIN index is partial (WHERE withdrawn_at IS NULL)")
    kept = make_book(title="Kept volume")
    gone = make_book(title="Gone volume")
    assert api.delete(f"/books/{gone['id']}").status_code == 204
    with app.app_context():
        assert indexed("volume") == [kept["id"]]
        # A withdrawn book edited stays out; brought back, it is found again.
        db.session.execute(
            update(Book).where(Book.id == gone["id"]).values(search_text=" gone volume again")
        )
        db.session.commit()
        assert indexed("again") == []
        db.session.execute(update(Book).where(Book.id == gone["id"]).values(withdrawn_at=None))
        db.session.commit()
        assert indexed("again") == [gone["id"]]
        db.session.execute(text("DELETE FROM book WHERE id = :id"), {"id": kept["id"]})
        db.session.commit()
        assert indexed("volume") == [gone["id"]]
        # Words keep their underscores, as `fold` keeps them in search_text.
        make_book(title="Percent_Book")
        assert indexed("book") == [] and len(indexed("percent_b")) == 1


# ---- the desk's books list -----------------------------------------------------------


RU = {"Accept-Language": "ru-RU,ru;q=0.9"}


def test_the_books_page_shows_a_capped_count_and_pages_on(desk, many):
    html = desk.get("/books").text
    assert "1,000+ books" in html and common(0) in html
    assert "Page 1" in html and "Page 1 of" not in html and 'rel="next"' in html
    later = desk.get("/books?q=common&page=51").text
    assert common(1000) in later and common(1019) in later and "1,000+ books" in later
    assert 'rel="prev"' in later and 'rel="next"' in later
    last = desk.get("/books?q=common&page=37&per_page=30&available=true").text  # 1080-1099
    assert common(1099) in last and 'rel="next"' not in last  # a short page is the last
    assert re.search(r"1\s000\+ книг", desk.get("/books", headers=RU).text)


def test_the_header_search_shows_a_capped_count_of_books(desk, many):
    html = desk.get("/search?q=common").text
    assert "(1,000+)" in html
    assert common(0) in html and common(19) in html and common(20) not in html
    assert re.search(r"\(1\s000\+\)", desk.get("/search?q=common", headers=RU).text)


def test_the_issue_box_offers_the_first_books_of_a_common_word(desk, many, make_reader):
    reader = make_reader()
    desk.get(f"/readers/{reader['id']}")
    offered = issue_by(desk, reader, q="tale common").text
    assert f"Issue “{common(0)}”" in offered and f"Issue “{common(9)}”" in offered
    assert common(10) not in offered


def test_the_books_page_counts_exactly_below_the_cap(desk, app):
    add_books(app, [common(i) for i in range(45)])
    html = desk.get("/books?q=tale").text
    assert "45 books" in html and "+ books" not in html and "Page 1 of 3" in html


def test_a_book_of_the_longest_title_and_author_in_a_wide_script_saves_and_is_found(api):
    """300 characters of a three-byte script in both: the title index must not refuse
    them (PostgreSQL's btree entries end at 2704 bytes; migration 0006)."""
    title, author = "漢" * 299 + "書", "著" * 300
    created = api.post("/books", json={"title": title, "author": author})
    assert created.status_code == 201, created.get_data(as_text=True)[:300]
    found = api.get("/books", query_string={"q": "漢"}).json
    assert [b["id"] for b in found["items"]] == [created.json["id"]]


def test_a_book_too_long_for_the_covering_title_index_is_walked_in_its_place(api, many, way):
    """PostgreSQL walks the titles in two partial indexes (migration 0007): the covering
    one, and one for books whose title and words pass 2000 bytes. Such a book (a title and
    author of 300 four-byte characters: 3,600 bytes, past any btree entry) saves, and a
    capped search finds it where its title sorts, whichever way it finds its page."""
    title = common(4) + " " + "𠀀" * (300 - len(common(4)) - 1)
    created = api.post("/books", json={"title": title, "author": "𠀁" * 300})
    assert created.status_code == 201, created.get_data(as_text=True)[:300]
    body = page_of(api, q="common tale")
    assert body["total_capped"] is True
    expected = [common(i) for i in range(5)] + [title] + [common(i) for i in range(5, 19)]
    assert titles(body) == expected
    chosen, walks = way
    if chosen == "walk":
        assert walks and walks[-1] is not None


def test_the_planner_expects_about_as_many_matches_of_a_word_as_there_are(app, dialect):
    """PostgreSQL: the search's condition is the search column's match alone (migration
    0011), which the planner estimates from the column's statistics. With the words'
    `LIKE` re-check beside it, it multiplied the two and expected a few dozen of this
    word's 5,000 books, and so counted a common word's matches from a bitmap of all of
    them instead of reading books until the cap (at 1,000,000 books: 28 ms against 8;
    bench/README.md)."""
    if dialect != "postgresql":
        pytest.skip("SQLite counts in its FTS5 index")
    from library.circulation.books import _Query, _search_match

    with app.app_context():
        add_filler_books(
            100_000, "' filler ' || i || CASE WHEN i % 20 = 0 THEN ' house' ELSE '' END"
        )
        query = _Query.of("house", available=None)
        matches = select(Book.id).where(Book.withdrawn_at.is_(None), _search_match(query))
        matches = matches.params(query.params)
        compiled = matches.compile(db.engine, compile_kwargs={"literal_binds": True})
        plan = db.session.execute(text(f"EXPLAIN (FORMAT JSON) {compiled}")).scalar_one()
        expected = plan[0]["Plan"]["Plan Rows"]
        found = len(db.session.execute(matches).all())
        assert found == 5000
        assert expected >= found / 5, plan
        db.session.rollback()


def test_a_query_word_longer_than_any_stored_word_finds_nothing(api, desk, make_book):
    """The desk's searches take any length of query (the API's `q` stops at 200); a word
    past the longest a search index keeps (PostgreSQL refuses words over 2,047 bytes)
    matches nothing, and is no error."""
    longest = "я" * 300  # a title of one word, as long as titles go
    book = make_book(title=longest)
    assert search(api, longest[:200]) == [longest]  # the API's longest `q`
    for q in ("я" * 600, f"{longest} {'ж' * 2000}"):
        page = desk.get("/books", query_string={"q": q})
        assert page.status_code == 200
        assert f'/books/{book["id"]}"' not in page.get_data(as_text=True)
        assert desk.get("/search", query_string={"q": q}).status_code == 200


def test_a_title_word_that_folds_past_the_longest_kept_word_saves_and_is_not_indexed(api):
    """Casefolding can lengthen a word ("ﬃ" folds to "ffi"): a 300-character title can
    fold to a word of 900 characters, past the longest word search keeps (511, so that
    even one of 4-byte letters fits PostgreSQL's 2,047 bytes a word). Search leaves such
    a word out (values.WORD_MAX), on both databases alike; the book saves, and its other
    words are found."""
    ligatures = "ﬃ" * 300
    long_one = api.post("/books", json={"title": ligatures, "author": "Ligature Press"})
    assert long_one.status_code == 201, long_one.json
    short = api.post("/books", json={"title": "ﬃ" * 100, "author": "Ligature Press"})
    assert short.status_code == 201, short.json
    assert search(api, "ffi") == ["ﬃ" * 100]  # its one word folds to 300 characters
    assert sorted(search(api, "ligature")) == sorted([ligatures, "ﬃ" * 100])


def test_a_later_title_that_waited_for_a_words_row_leaves_the_earlier_one(app, dialect):
    """PostgreSQL: two books with a word, added at once. The later title's trigger finds
    the word's row locked by the earlier one's and waits; once that commits, it must
    compare with the title committed meanwhile, and keep it (SQLite has one writer)."""
    if dialect != "postgresql":
        pytest.skip("SQLite has one writer at a time")
    import threading
    import time

    def add(conn, title):
        now = utcnow()
        conn.execute(
            insert(Book).values(
                title=title,
                author="A",
                copies_total=1,
                copies_available=1,
                search_text=search_text(title),
                created_at=now,
                updated_at=now,
            )
        )

    with app.app_context():
        engine = db.engine
    with engine.connect() as first, engine.connect() as second, engine.connect() as watch:
        add(first, "Zz shared")
        first.commit()
        add(first, "Aa shared")  # lowers the row of "shared": locked until the commit
        waiter = threading.Thread(target=lambda: (add(second, "Mm shared"), second.commit()))
        waiter.start()
        waiting = text("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'")
        deadline = time.monotonic() + 10
        while watch.execute(waiting).scalar() == 0 and time.monotonic() < deadline:
            watch.rollback()
            time.sleep(0.01)
        assert watch.execute(waiting).scalar() == 1
        first.commit()
        waiter.join(timeout=10)
        assert (
            watch.execute(text("SELECT count(*) FROM book")).scalar() == 3
        )  # it waited, then added
        stored = watch.execute(text("SELECT first_title FROM book_word WHERE word = 'shared'"))
        assert stored.scalar() == "Aa shared"


@pytest.mark.parametrize("whole_words", [8, 0])
def test_a_prefix_finds_the_same_books_as_whole_words_or_as_a_prefix(
    api, app, monkeypatch, whole_words
):
    """A query word is searched as the few stored words it starts (book_word), else as a
    prefix (WHOLE_WORDS 0: always): the same books either way, including a word a book
    was given by a change of title, and none for a word nobody has."""
    monkeypatch.setattr(catalog, "WHOLE_WORDS", whole_words)
    add_books(app, ["History of maps", "Historic towns", "Histrionic tales", "His story"])
    renamed = api.post("/books", json={"title": "Old name", "author": "A"}).json
    api.patch(f"/books/{renamed['id']}", json={"title": "Historiography today"})
    assert search(api, "hist") == [
        "Historic towns",
        "Historiography today",
        "History of maps",
        "Histrionic tales",
    ]
    assert search(api, "histo ma") == ["History of maps"]
    assert search(api, "his tal") == ["Histrionic tales"]
    assert search(api, "old") == [] and search(api, "zzz") == []
    if whole_words:
        with app.test_request_context():
            params = catalog._whole_words(catalog._Query.of("histo xyz", None)).params
        assert params["tsquery"] == "('historic' | 'historiography' | 'history') & 'xyz':*"
        assert params["fts"] == '("historic" OR "historiography" OR "history") AND "xyz"*'

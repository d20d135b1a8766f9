"""Languages (SPEC section 9): the catalogs are complete, pages follow the librarian's
choice, then Accept-Language; the API follows Accept-Language; readers get their
notifications in their own language. In a real browser: test_browser_i18n.py."""

import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path

import pytest
from babel.messages.pofile import read_po
from babel.support import Translations
from flask_babel import force_locale, ngettext

from library import circulation
from library.extensions import db
from library.models import Librarian, utcnow
from tests.conftest import PASSWORD
from tests.helpers import assert_problem
from tests.test_notifications import deliver, html_of, remind, text_of
from tests.test_web import Desk, alerts, field_errors

ROOT = Path(__file__).resolve().parent.parent
TRANSLATIONS = ROOT / "library" / "translations"
LANGUAGES = ("en", "ru")
RU = {"Accept-Language": "ru-RU,ru;q=0.9,en;q=0.5"}
EN = {"Accept-Language": "en-GB,en;q=0.9"}


# ---- the catalogs ------------------------------------------------------------------


@pytest.fixture(scope="module")
def extracted(tmp_path_factory):
    """Every message of the code and templates, extracted as `make messages` does."""
    pot = tmp_path_factory.mktemp("i18n") / "messages.pot"
    pybabel = Path(sys.executable).with_name("pybabel")
    subprocess.run(
        [str(pybabel), "extract", "-F", "babel.cfg", "-o", str(pot), "."],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    with pot.open("rb") as f:
        template = read_po(f)
    messages = [m for m in template if m.id]
    assert len(messages) > 300  # the extraction found the project's strings
    return messages


def catalog(language):
    with (TRANSLATIONS / language / "LC_MESSAGES" / "messages.po").open("rb") as f:
        return read_po(f, locale=language)


def placeholders(text):
    """The %(name)s and {name} placeholders of a message."""
    return sorted(re.findall(r"%\(\w+\)[sdr]|\{\w+\}", text))


def expected_placeholders(entry, translated):
    """The placeholders a translation of `entry` must have: the message's own (of both
    its forms, when plural), but for the count, which a plural form may leave implied
    (Russian "одна книга")."""
    ids = entry.id if entry.pluralizable else (entry.id,)
    expected = sorted({name for message_id in ids for name in placeholders(message_id)})
    if entry.pluralizable and "%(num)" not in translated:
        expected = [name for name in expected if not name.startswith("%(num)")]
    return expected


def test_a_plural_translation_is_checked_for_its_placeholders():
    """The check above looks at every plural form, the count's and the others."""
    entry = catalog("ru").get(("%(num)s book", "%(num)s books"))
    assert expected_placeholders(entry, "%(num)s книг") == ["%(num)s"]
    assert placeholders("%(num) книг") != expected_placeholders(entry, "%(num) книг")


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_message_is_in_the_catalog_translated_and_not_fuzzy(extracted, language):
    po = catalog(language)
    problems = []
    for message in extracted:
        entry = po.get(message.id, context=message.context)
        name = f"{message.context + ': ' if message.context else ''}{message.id!r}"
        if entry is None:
            problems.append(f"missing: {name}")
        elif entry.fuzzy:
            problems.append(f"fuzzy: {name}")
        else:
            strings = entry.string if isinstance(entry.string, tuple) else (entry.string,)
            if not strings or not all(strings):
                problems.append(f"untranslated: {name}")
            elif any(placeholders(s) != expected_placeholders(entry, s) for s in strings):
                problems.append(f"placeholders differ: {name}")
    assert not problems, (
        f"the {language} catalog is behind the code; run `make messages`, translate, "
        "then `make translations`:\n" + "\n".join(problems)
    )


def test_the_russian_catalog_has_three_plural_forms():
    po = catalog("ru")
    assert po.num_plurals == 3
    books = po.get(("%(num)s book", "%(num)s books"))
    assert books.string == ("%(num)s книга", "%(num)s книги", "%(num)s книг")


def compiled_string(compiled, entry):
    """`entry`'s translation as the compiled catalog gives it (a plural's forms as a
    tuple, as the .po has them, each asked for with a count that selects it)."""
    if not entry.pluralizable:
        if entry.context:
            return compiled.pgettext(entry.context, entry.id)
        return compiled.gettext(entry.id)
    forms = []
    for index in range(len(entry.string)):
        count = next(n for n in range(1000) if compiled.plural(n) == index)
        if entry.context:
            forms.append(compiled.npgettext(entry.context, *entry.id, count))
        else:
            forms.append(compiled.ngettext(*entry.id, count))
    return tuple(forms)


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_compiled_catalog_is_the_current_one(language):
    compiled = Translations.load(str(TRANSLATIONS), [language])
    assert isinstance(compiled, Translations), "no .mo file: run `make translations`"
    stale = [
        (entry.context, entry.id)
        for entry in catalog(language)
        if entry.id and not entry.fuzzy and compiled_string(compiled, entry) != entry.string
    ]
    assert not stale, f"{language}: the .mo is older than the .po; run `make translations`"


@pytest.mark.parametrize(
    ("count", "form"),
    [(1, "книга"), (2, "книги"), (5, "книг"), (11, "книг"), (21, "книга"), (22, "книги"),
     (111, "книг"), (1004, "книги")],
)  # fmt: skip
def test_russian_plural_forms(app, count, form):
    with app.test_request_context(), force_locale("ru"):
        assert ngettext("%(num)s book", "%(num)s books", count) == f"{count} {form}"


# ---- pages: the librarian's choice, then Accept-Language, then DEFAULT_LANGUAGE --------


def heading(html):
    return re.search(r"<h1>([^<]*)</h1>", html).group(1).strip()


def language_of(html):
    return re.search(r'<html lang="(\w+)">', html).group(1)


def test_pages_follow_accept_language(desk):
    ru = desk.get("/", headers=RU).text
    assert language_of(ru) == "ru" and heading(ru) == "Сводка"
    assert ">Книги<" in ru and ">Читатели<" in ru and ">Выдачи<" in ru and "Выйти" in ru
    en = desk.get("/", headers=EN).text
    assert language_of(en) == "en" and heading(en) == "Dashboard"
    assert ">Books<" in en and "Sign out" in en


def test_without_a_known_language_pages_are_in_the_default_one(app, desk):
    assert heading(desk.get("/", headers={"Accept-Language": "de, fr"}).text) == "Dashboard"
    app.config["DEFAULT_LANGUAGE"] = "ru"
    assert heading(desk.get("/", headers={"Accept-Language": "de, fr"}).text) == "Сводка"
    assert heading(desk.get("/").text) == "Сводка"


def test_the_sign_in_page_follows_accept_language(app, librarian):
    d = Desk(app)
    page = d.get("/login", headers=RU).text
    assert heading(page) == "Войти"
    assert "Эл. почта" in page and "Пароль" in page
    r = d.client.post(
        "/login",
        data={"email": librarian.email, "password": "wrong!", "csrf_token": d.token},
        headers=RU,
    )
    assert alerts(r.text) == ["Неверный адрес почты или пароль."]


def test_the_header_switch_saves_the_choice_on_the_account(app, desk, librarian):
    page = desk.get("/books", headers=EN).text
    switch = re.search(r'<ul class="language-switch">.*?</ul>', page, re.S).group(0)
    assert 'action="/language"' in switch and 'name="csrf_token"' in switch
    assert 'value="/books"' in switch  # it comes back here
    assert re.search(r'value="ru" lang="ru"[^>]*aria-pressed="false">Русский<', switch)

    r = desk.post("/language", {"language": "ru", "next": "/books"})
    assert r.status_code == 302 and r.headers["Location"] == "/books"
    # The choice beats the browser's Accept-Language, on every page.
    assert heading(desk.get("/books", headers=EN).text) == "Книги"
    assert heading(desk.get("/loans", headers=EN).text) == "Выдачи"
    with app.app_context():
        assert db.session.get(Librarian, librarian.id).language == "ru"

    # Remembered on the account: another browser, signed in as the same librarian.
    other = Desk(app)
    other.sign_in(librarian.email)
    assert heading(other.get("/", headers=EN).text) == "Сводка"

    desk.post("/language", {"language": "en", "next": "/"})
    assert heading(other.get("/", headers=RU).text) == "Dashboard"


def test_the_choice_survives_signing_out_and_in(app, desk, librarian):
    desk.post("/language", {"language": "ru", "next": "/"})
    desk.post("/logout")
    assert heading(desk.get("/login", headers=EN).text) == "Войти"  # the browser's session
    fresh = Desk(app)
    assert heading(fresh.get("/login", headers=EN).text) == "Sign in"
    fresh.sign_in(librarian.email)
    assert heading(fresh.get("/", headers=EN).text) == "Сводка"  # the account's


def test_the_switch_works_signed_out_too(app, librarian):
    d = Desk(app)
    d.get("/login", headers=EN)
    r = d.post("/language", {"language": "ru", "next": "/login"})
    assert r.headers["Location"] == "/login"
    assert heading(d.get("/login", headers=EN).text) == "Войти"
    with app.app_context():
        assert db.session.get(Librarian, librarian.id).language is None


def test_the_switch_needs_its_csrf_token_and_a_known_language(app, desk, librarian):
    assert desk.post("/language", {"language": "ru"}, csrf=False).status_code == 400
    assert desk.post("/language", {"language": "de"}).status_code == 422
    assert desk.post("/language", {}).status_code == 422
    with app.app_context():
        assert db.session.get(Librarian, librarian.id).language is None


def test_an_unsafe_next_goes_to_the_dashboard(desk):
    r = desk.post("/language", {"language": "ru", "next": "https://evil.example/"})
    assert r.headers["Location"] == "/"


# ---- nothing left in English on the Russian pages --------------------------------------


class VisibleText(HTMLParser):
    """The text a person reads or hears: text nodes and the labelling attributes."""

    SPOKEN = {"placeholder", "aria-label", "title", "alt", "data-confirm", "hx-confirm"}

    def __init__(self):
        super().__init__()
        self.texts = []
        self._skip = 0

    def handle_starttag(self, tag, attrs):
        if tag in ("script", "style"):
            self._skip += 1
        self.texts.extend(value for name, value in attrs if name in self.SPOKEN and value)

    def handle_endtag(self, tag):
        if tag in ("script", "style"):
            self._skip -= 1

    def handle_data(self, data):
        if not self._skip and data.strip():
            self.texts.append(data.strip())


# Words that stay as they are in Russian: names of things, and the switch's "English".
NOT_TRANSLATED = {"ISBN", "Telegram", "English", "QR", "UTC", "Start"}


def english_left(html, data):
    """Latin words of `html` that are neither data (titles, names...) nor NOT_TRANSLATED."""
    parser = VisibleText()
    parser.feed(html)
    left = []
    for text in parser.texts:
        for value in sorted(data, key=len, reverse=True):
            text = text.replace(value, " ")
        left += [w for w in re.findall(r"[A-Za-z][A-Za-z'_-]+", text) if w not in NOT_TRANSLATED]
    return left


@pytest.fixture
def library_in_use(app, api, make_book, make_reader, issue, smtp):
    """A little of everything the main pages show, all of it data in Latin letters."""
    war = make_book(
        title="War and Peace", author="Leo Tolstoy", isbn="9785170878833", year=1869, copies_total=3
    )
    emma = make_book(title="Emma", author="Jane Austen", copies_total=1)
    anna = make_reader(name="Anna Pavlovna", email="anna@example.org", language="ru")
    bob = make_reader(name="Bob Smith", email="bob@example.org", phone="+44 20 7946 0000")
    assert issue(war, anna).status_code == 201
    assert issue(emma, bob).status_code == 201
    r = api.post("/holds", json={"book_id": emma["id"], "reader_id": anna["id"]})
    assert r.status_code == 201
    returned = issue(war, bob).json
    api.post(f"/loans/{returned['id']}/return")
    deliver(app)
    data = {
        "War and Peace", "Leo Tolstoy", "Emma", "Jane Austen", "Anna Pavlovna", "Bob Smith",
        "anna@example.org", "bob@example.org", "Borrowed: War and Peace", "Borrowed: Emma",
        "emma", "war",  # the searches
    }  # fmt: skip
    return {"book": war, "reader": anna, "other": bob, "data": data}


def main_pages(lib):
    book, reader, other = lib["book"], lib["reader"], lib["other"]
    return [
        "/",
        "/books",
        "/books?q=war",
        "/books/new",
        f"/books/{book['id']}",
        f"/books/{book['id']}/edit",
        "/readers",
        "/readers/new",
        f"/readers/{reader['id']}",
        f"/readers/{other['id']}",
        f"/readers/{reader['id']}/edit",
        "/loans",
        "/loans?status=returned",
        "/notifications",
        "/search?q=emma",
    ]


def test_no_english_is_left_on_the_russian_pages(app, desk, library_in_use):
    for url in main_pages(library_in_use):
        r = desk.get(url, headers=RU)
        assert r.status_code == 200, url
        assert language_of(r.text) == "ru", url
        assert english_left(r.text, library_in_use["data"]) == [], url


def test_no_english_is_left_on_the_russian_sign_in_and_error_pages(app, desk, librarian):
    assert english_left(desk.get("/books/999999", headers=RU).text, set()) == []
    assert english_left(desk.get("/no/such/page", headers=RU).text, set()) == []
    d = Desk(app)
    assert english_left(d.get("/login", headers=RU).text, set()) == []


def test_the_english_pages_are_in_english(app, desk, library_in_use):
    for url in main_pages(library_in_use):
        html = desk.get(url, headers=EN).text
        assert language_of(html) == "en", url
        # Anna reads Russian: her mail's subject is data of the outbox page.
        html = html.replace("Русский", "").replace("Выдана книга: War and Peace", "")
        assert not re.search(r"[А-Яа-яЁё]", html), url


def test_russian_plural_forms_on_the_dashboard_and_the_book_list(app, desk):
    with app.app_context():
        for n in range(1, 22):
            circulation.add_book(title=f"Book {n}", author="Author", now=utcnow())
            db.session.commit()
            if n in (1, 2, 5, 11, 21):
                form = {1: "книга", 2: "книги", 5: "книг", 11: "книг", 21: "книга"}[n]
                copies = {1: "экземпляр", 2: "экземпляра", 5: "экземпляров", 11: "экземпляров",
                          21: "экземпляр"}[n]  # fmt: skip
                dashboard = desk.get("/", headers=RU).text
                assert f"<strong>{n}</strong> {form}<small>{n} {copies}</small>" in dashboard
                assert f'<p class="total">{n} {form}</p>' in desk.get("/books", headers=RU).text


def test_dates_and_numbers_on_pages_are_in_the_locales_form(app, desk, api, make_reader):
    reader = make_reader()
    with app.app_context():
        book = circulation.add_book(title="Big Book", author="A", copies_total=1234, now=utcnow())
        db.session.commit()
        book_id = book.id
    loan = api.post("/loans", json={"book_id": book_id, "reader_id": reader["id"]}).json
    due = datetime.fromisoformat(loan["due_at"])
    ru = desk.get(f"/readers/{reader['id']}", headers=RU).text
    en = desk.get(f"/readers/{reader['id']}", headers=EN).text
    months = ["янв", "фев", "мар", "апр", "мая", "июн", "июл", "авг", "сен", "окт", "ноя", "дек"]
    assert re.search(rf"{due.day} {months[due.month - 1]}\w*\.? {due.year}\sг\.", ru)
    assert f"{due.strftime('%b')} {due.day}, {due.year}" in en
    assert "1\xa0234" in desk.get("/", headers=RU).text  # copies on the dashboard
    assert "1,234" in desk.get("/", headers=EN).text


def test_a_refused_rule_on_a_page_is_said_in_russian(app, desk, make_reader):
    make_reader(email="taken@example.org")
    desk.get("/readers/new", headers=RU)
    r = desk.client.post(
        "/readers/new",
        data={"name": "X", "email": "taken@example.org", "csrf_token": desk.token},
        headers=RU,
    )
    assert r.status_code == 409
    assert field_errors(r.text) == ["Адрес taken@example.org уже используется."]


def test_the_reader_form_offers_both_languages_and_refuses_others(app, desk):
    app.config["DEFAULT_LANGUAGE"] = "ru"
    form = desk.get("/readers/new").text
    assert '<option selected value="ru">Русский</option>' in form
    assert '<option value="en">English</option>' in form
    r = desk.post("/readers/new", {"name": "X", "email": "x@example.org", "language": "de"})
    assert r.status_code == 422 and field_errors(r.text)
    r = desk.post("/readers/new", {"name": "Y", "email": "y@example.org"})
    assert r.status_code == 302
    reader_id = int(r.headers["Location"].rsplit("/", 1)[1])
    with app.app_context():
        assert circulation.get_reader(reader_id).language == "ru"


# ---- the API answers in Accept-Language ------------------------------------------------


def test_a_problem_is_in_russian_and_its_code_stays(api, make_book, make_reader, issue):
    book, reader = make_book(copies_total=0), make_reader()
    ru = assert_problem(issue(book, reader, headers=RU), 409, "book_unavailable")
    assert ru["title"] == "Конфликт"
    assert ru["detail"] == f"На полке нет ни одного экземпляра книги {book['id']}."
    en = assert_problem(issue(book, reader, headers=EN), 409, "book_unavailable")
    assert en["title"] == "Conflict"
    assert en["detail"] == f"No copy of book {book['id']} is on the shelf."
    assert set(ru) == set(en)  # JSON keys never change with the language


def test_other_problems_are_in_russian_too(api, anon):
    r = assert_problem(api.get("/books/999999", headers=RU), 404, "book_not_found")
    assert r["title"] == "Не найдено" and r["detail"] == "Книги 999999 нет."
    r = assert_problem(api.get("/no-such-thing", headers=RU), 404, "not_found")
    assert r["detail"] == "По этому адресу ничего нет."
    r = assert_problem(anon.get("/books", headers=RU), 401, "unauthorized")
    assert r["title"] == "Требуется вход" and r["detail"].startswith("Сначала войдите")
    r = api.post("/books", json={"author": "A"}, headers=RU)
    r = assert_problem(r, 422, "validation_error")
    assert r["title"] == "Неверные данные"
    assert r["errors"] == [{"field": "title", "message": "Обязательное поле не заполнено."}]


def test_messages_with_values_are_in_russian_with_the_same_values(api):
    """marshmallow's Length, Range and OneOf messages: translated, their values kept."""
    cases = [
        ("/books", {"q": "x" * 201}, "q", "Длиннее максимальной длины 200."),
        ("/books", {"per_page": 101}, "per_page", "Должно быть не меньше 1 и не больше 100."),
        ("/loans", {"reader_id": 0}, "reader_id", "Должно быть не меньше 1."),
        (
            "/loans",
            {"status": "lost"},
            "status",
            "Допустимые значения: open, returned, overdue, all.",
        ),
    ]
    for path, query, field, russian in cases:
        r = assert_problem(api.get(path, query_string=query, headers=RU), 422, "validation_error")
        assert r["errors"] == [{"field": field, "message": russian}], r
    # Ours, in the same form: a book's year; and why an ISBN is not one.
    book = {"title": "Beowulf", "author": "Anon", "year": 1000, "isbn": "9785170878834"}
    r = assert_problem(api.post("/books", json=book, headers=RU), 422, "validation_error")
    last = datetime.now(UTC).year + 1
    assert sorted(r["errors"], key=lambda e: e["field"]) == [
        {"field": "isbn", "message": "Это не ISBN: неверная контрольная цифра."},
        {"field": "year", "message": f"Должно быть от 1450 до {last}."},
    ]
    en = api.get("/books", query_string={"per_page": 101}, headers=EN).json
    assert en["errors"] == [
        {
            "field": "per_page",
            "message": "Must be greater than or equal to 1 and less than or equal to 100.",
        }
    ]


def test_the_api_ignores_the_librarians_choice_of_pages(app, api, librarian):
    with app.app_context():
        db.session.get(Librarian, librarian.id).language = "ru"
        db.session.commit()
    r = assert_problem(api.get("/books/999999"), 404, "book_not_found")
    assert r["detail"] == "Book 999999 does not exist."


def test_the_cli_speaks_the_default_language(app, runner):
    assert "Queued 0 due-soon reminder(s)" in remind(runner, utcnow())
    app.config["DEFAULT_LANGUAGE"] = "ru"
    assert "напоминаний о сроке: 0" in remind(runner, utcnow())


# ---- notifications in the reader's language --------------------------------------------


def test_readers_get_the_issue_mail_and_reminder_in_their_language(
    app, api, make_book, make_reader, issue, runner, smtp
):
    book = make_book(title="Война и мир", author="Лев Толстой")
    other = make_book(title="War and Peace", author="Leo Tolstoy")
    masha = make_reader(name="Мария Ивановна", email="masha@example.org", language="ru")
    john = make_reader(name="John Smith", email="john@example.org", language="en")
    assert masha["language"] == "ru" and john["language"] == "en"
    # The librarian's language (headers, account) has nothing to do with the reader's.
    loans = [
        issue(book, masha, headers=EN).json,
        issue(other, john, headers=RU).json,
    ]
    assert deliver(app).sent == 2
    due = datetime.fromisoformat(loans[0]["due_at"]).date().isoformat()

    [mail] = smtp.received("masha@example.org")
    assert mail["Subject"] == "Выдана книга: Война и мир"
    body = text_of(mail)
    assert "Здравствуйте, Мария Ивановна!" in body
    assert "Вы взяли книгу «Война и мир» (Лев Толстой)." in body
    assert f"Пожалуйста, верните её до {due}." in body  # dates stay YYYY-MM-DD
    assert 'lang="ru"' in html_of(mail) and "Здравствуйте" in html_of(mail)
    [mail] = smtp.received("john@example.org")
    assert mail["Subject"] == "Borrowed: War and Peace"
    assert "Hello John Smith," in text_of(mail) and "return it by" in text_of(mail)

    issued = datetime.fromisoformat(loans[0]["issued_at"])
    assert "Queued 2 due-soon" in remind(runner, issued + timedelta(days=10, minutes=1))
    assert deliver(app, now=issued + timedelta(days=10, minutes=2)).sent == 2
    reminder = smtp.received("masha@example.org")[-1]
    assert reminder["Subject"] == "Скоро срок возврата: Война и мир"
    assert f"Книгу «Война и мир» (Лев Толстой) нужно вернуть {due}." in text_of(reminder)
    assert "Пожалуйста, верните или продлите её до этого дня." in text_of(reminder)
    reminder = smtp.received("john@example.org")[-1]
    assert reminder["Subject"] == "Due soon: War and Peace"
    assert "“War and Peace” by Leo Tolstoy is due on" in text_of(reminder)


def test_a_reader_who_changes_language_gets_the_next_mail_in_the_new_one(
    app, api, make_book, make_reader, issue, smtp
):
    reader = make_reader(email="vera@example.org", language="en")
    r = api.patch(f"/readers/{reader['id']}", json={"language": "ru"})
    assert r.status_code == 200 and r.json["language"] == "ru"
    assert api.patch(f"/readers/{reader['id']}", json={"language": "de"}).status_code == 422
    issue(make_book(title="Emma"), reader)
    deliver(app)
    assert smtp.received("vera@example.org")[0]["Subject"] == "Выдана книга: Emma"


def test_the_welcome_mail_follows_the_librarians_language(app, api, admin_api, smtp):
    # A new account has no language yet: DEFAULT_LANGUAGE.
    app.config["DEFAULT_LANGUAGE"] = "ru"
    r = admin_api.post(
        "/auth/register", json={"email": "new@library.test", "password": PASSWORD, "name": "Нина"}
    )
    assert r.status_code == 201
    deliver(app)
    [mail] = smtp.received("new@library.test")
    assert mail["Subject"] == "Добро пожаловать в библиотеку «Library»"
    assert "Здравствуйте, Нина!" in text_of(mail)

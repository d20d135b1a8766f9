"""Languages in a real browser (SPEC section 9): the header switch turns the pages
Russian, and the choice stays across pages, after signing out and in again, and in
another browser of the same librarian."""

import re

import pytest

from tests.test_browser import browser, expect, live_url, sign_in  # noqa: F401 - fixtures

ENGLISH_BROWSER = {"locale": "en-US", "extra_http_headers": {"Accept-Language": "en-US,en"}}


@pytest.fixture
def open_browser(browser, live_url):  # noqa: F811 - the fixtures imported above
    """A new browser window (its own cookies) whose language is English."""
    contexts = []

    def open_():
        context = browser.new_context(
            base_url=live_url, viewport={"width": 1280, "height": 900}, **ENGLISH_BROWSER
        )
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(10_000)
        return page

    yield open_
    for context in contexts:
        context.close()


def sign_in_ru(page, email, password):
    page.get_by_label("Эл. почта", exact=True).fill(email)
    page.get_by_label("Пароль", exact=True).fill(password)
    page.get_by_role("button", name="Войти").click()


def test_the_header_switch_turns_the_pages_russian_and_is_remembered(
    app, open_browser, librarian, make_book, make_reader
):
    make_book(title="Война и мир", author="Лев Толстой", copies_total=2)
    reader = make_reader(name="Мария Иванова", language="ru")
    page = open_browser()
    page.goto("/login")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    sign_in(page, librarian.email, librarian.password)
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()

    # The switch in the header: Russian, here and now, on the page it was pressed on.
    page.get_by_role("link", name="Books", exact=True).click()
    expect(page.get_by_role("heading", name="Books")).to_be_visible()
    page.get_by_role("button", name="Русский").click()
    expect(page).to_have_url(re.compile(r"/books$"))
    expect(page.locator("html")).to_have_attribute("lang", "ru")
    expect(page.get_by_role("heading", name="Книги")).to_be_visible()
    expect(page.locator("#results .total")).to_have_text("1 книга")
    expect(page.get_by_role("button", name="Русский")).to_have_attribute("aria-pressed", "true")

    # Every page follows it, although the browser asks for English.
    page.get_by_role("link", name="Читатели", exact=True).click()
    expect(page.get_by_role("heading", name="Читатели")).to_be_visible()
    page.get_by_role("link", name="Мария Иванова").click()
    expect(page.get_by_role("heading", name="Выдача книги")).to_be_visible()
    page.locator("#issue-q").fill("Война")
    page.get_by_role("button", name="Выдать", exact=True).click()
    page.get_by_role("button", name="Выдать «Война и мир»").click()
    expect(page.get_by_text(re.compile(r"Книга «Война и мир» выдана, вернуть до"))).to_be_visible()
    page.get_by_role("link", name="Сводка", exact=True).click()
    expect(page.get_by_role("heading", name="Сводка")).to_be_visible()
    expect(page.locator(".counts")).to_contain_text("1 открытая выдача")
    page.get_by_role("link", name="Исходящие", exact=True).click()
    expect(page.get_by_role("heading", name="Исходящие")).to_be_visible()
    expect(page.locator("table.outbox")).to_contain_text("Выдана книга: Война и мир")

    # Signing out and in again: still Russian (the sign-in page too).
    page.get_by_role("button", name="Выйти").click()
    expect(page.get_by_text("Вы вышли.")).to_be_visible()
    expect(page.get_by_role("heading", name="Войти")).to_be_visible()
    sign_in_ru(page, librarian.email, librarian.password)
    expect(page.get_by_role("heading", name="Сводка")).to_be_visible()

    # Another browser, English, signs in as the same librarian: the account remembers.
    other = open_browser()
    other.goto("/login")
    expect(other.get_by_role("heading", name="Sign in")).to_be_visible()
    sign_in(other, librarian.email, librarian.password)
    expect(other.get_by_role("heading", name="Сводка")).to_be_visible()

    # And back to English, from a reader's page.
    other.goto(f"/readers/{reader['id']}")
    other.get_by_role("button", name="English").click()
    expect(other).to_have_url(re.compile(rf"/readers/{reader['id']}$"))
    expect(other.get_by_role("heading", name="Issue a book")).to_be_visible()
    page.reload()
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()

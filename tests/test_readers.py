"""Readers: register, read, change, delete, search, and their loans (SPEC 2 and 3)."""

import pytest

from tests.helpers import assert_invalid, assert_problem, assert_utc, backdate_loan, ids

READER_KEYS = {
    "id", "card_number", "name", "email", "phone", "telegram_chat_id", "language",
    "open_loans", "created_at", "updated_at",
}  # fmt: skip


def names(page):
    return [item["name"] for item in page["items"]]


def find(api, query):
    r = api.get("/readers", query_string={"q": query})
    assert r.status_code == 200, r.json
    return names(r.json)


# ---- create --------------------------------------------------------------------------


def test_create_gives_201_location_and_the_reader(api):
    r = api.post("/readers", json={"name": " Иван Петров ", "email": "Ivan@Example.ORG"})
    assert r.status_code == 201
    reader = r.json
    assert set(reader) == READER_KEYS
    assert r.headers["Location"] == f"/api/v1/readers/{reader['id']}"
    assert reader["name"] == "Иван Петров"
    assert reader["email"] == "ivan@example.org"
    assert reader["phone"] is None and reader["telegram_chat_id"] is None
    assert reader["language"] == "en"
    assert reader["open_loans"] == 0
    assert assert_utc(reader["created_at"]) == assert_utc(reader["updated_at"])
    assert api.get(r.headers["Location"].removeprefix("/api/v1")).json == reader


def test_create_with_every_field(make_reader):
    reader = make_reader(
        name="Анна",
        email="anna@example.org",
        phone="+7 900 123-45-67",
        telegram_chat_id=123456789,
        card_number="000123",
        language="ru",
    )
    assert reader["phone"] == "+7 900 123-45-67"
    assert reader["telegram_chat_id"] == 123456789
    assert reader["card_number"] == "000123"
    assert reader["language"] == "ru"


def test_automatic_card_numbers_are_digits_unique_and_ascending(make_reader):
    cards = [make_reader()["card_number"] for _ in range(4)]
    for card in cards:
        assert card.isdigit() and 4 <= len(card) <= 20
    assert len(set(cards)) == 4
    numbers = [int(c) for c in cards]
    assert numbers == sorted(numbers)
    assert numbers[1:] == [n + 1 for n in numbers[:-1]]


def test_automatic_card_number_skips_one_already_given(make_reader):
    first = make_reader()["card_number"]
    following = str(int(first) + 1).zfill(len(first))
    taken = make_reader(card_number=following)
    auto = make_reader()["card_number"]
    assert auto not in (first, following) and auto.isdigit()
    assert taken["card_number"] == following


def test_automatic_card_number_of_a_deleted_reader_is_not_reused(api, make_reader):
    make_reader()
    last = make_reader()
    assert api.delete(f"/readers/{last['id']}").status_code == 204
    assert make_reader()["card_number"] != last["card_number"]


@pytest.mark.parametrize("card", ["1234", "0000", "12345678901234567890", "00000042"])
def test_explicit_card_number_of_4_to_20_digits(make_reader, card):
    assert make_reader(card_number=card)["card_number"] == card


@pytest.mark.parametrize(
    "card", ["123", "123456789012345678901", "12a4", "12 34", "-1234", "", "１２３４", 12345]
)
def test_bad_card_number_is_422(api, card):
    r = api.post("/readers", json={"name": "N", "email": "n@example.org", "card_number": card})
    assert_invalid(r, "card_number")
    assert api.get("/readers").json["total"] == 0


def test_card_taken(api, make_reader):
    make_reader(card_number="5555")
    r = api.post("/readers", json={"name": "N", "email": "n@example.org", "card_number": "5555"})
    assert_problem(r, 409, "card_taken")
    assert api.get("/readers").json["total"] == 1


def test_card_of_a_deleted_reader_is_never_reused(api, make_reader):
    gone = make_reader(card_number="7777")
    api.delete(f"/readers/{gone['id']}")
    r = api.post("/readers", json={"name": "N", "email": "n@example.org", "card_number": "7777"})
    assert_problem(r, 409, "card_taken")


def test_email_taken_regardless_of_case(api, make_reader):
    make_reader(email="Same@Example.org")
    for email in ("same@example.org", "SAME@EXAMPLE.ORG", " same@example.org "):
        r = api.post("/readers", json={"name": "N", "email": email})
        assert_problem(r, 409, "email_taken")
    assert api.get("/readers").json["total"] == 1


@pytest.mark.parametrize("chat_id", [1, 123456789, -1001234567890, 2**62])
def test_telegram_chat_id_is_an_integer(make_reader, chat_id):
    assert make_reader(telegram_chat_id=chat_id)["telegram_chat_id"] == chat_id


@pytest.mark.parametrize("chat_id", ["123", "abc", 1.5, True, 2**63, [1]])
def test_telegram_chat_id_that_is_not_an_integer_is_422(api, chat_id):
    body = {"name": "N", "email": "n@example.org", "telegram_chat_id": chat_id}
    assert_invalid(api.post("/readers", json=body), "telegram_chat_id")


def test_language_defaults_to_the_setting(app, make_reader):
    assert make_reader()["language"] == "en"
    assert make_reader(language="ru")["language"] == "ru"
    app.config["DEFAULT_LANGUAGE"] = "ru"
    assert make_reader()["language"] == "ru"
    assert make_reader(language=None)["language"] == "ru"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"name": ""}, "name"),
        ({"name": "   "}, "name"),
        ({"name": "n" * 301}, "name"),
        ({"name": None}, "name"),
        ({"email": "not-an-email"}, "email"),
        ({"email": ""}, "email"),
        ({"email": "a" * 250 + "@example.org"}, "email"),
        ({"email": None}, "email"),
        ({"phone": "1" * 41}, "phone"),
        ({"language": "de"}, "language"),
        ({"language": "RU"}, "language"),
    ],
)
def test_reader_fields_are_validated(api, change, field):
    body = {"name": "N", "email": "n@example.org", **change}
    assert_invalid(api.post("/readers", json=body), field)
    assert api.get("/readers").json["total"] == 0


def test_missing_name_and_email_are_both_reported(api):
    assert_invalid(api.post("/readers", json={}), "name", "email")


def test_name_of_300_characters_after_trimming_is_accepted(make_reader):
    assert make_reader(name="  " + "Я" * 300 + "  ")["name"] == "Я" * 300


# ---- read ----------------------------------------------------------------------------


@pytest.mark.parametrize("reader_id", ["999", str(2**63), str(2**64)])
def test_unknown_reader_is_404(api, reader_id):
    assert_problem(api.get(f"/readers/{reader_id}"), 404, "reader_not_found")
    assert_problem(api.get(f"/readers/{reader_id}/loans"), 404, "reader_not_found")
    assert_problem(api.patch(f"/readers/{reader_id}", json={}), 404, "reader_not_found")
    assert_problem(api.delete(f"/readers/{reader_id}"), 404, "reader_not_found")


def test_non_numeric_reader_id_is_404(api):
    r = api.get("/readers/abc")
    assert r.status_code == 404
    assert r.headers["Content-Type"] == "application/problem+json"


# ---- search --------------------------------------------------------------------------


@pytest.fixture
def people(make_reader):
    return {
        "anna": make_reader(name="Анна Иванова", email="anna@example.org", card_number="123456"),
        "fedor": make_reader(name="Фёдор Смирнов", email="fs@example.org", card_number="1234567"),
        "john": make_reader(name="John Smith", email="john.smith@example.com"),
    }


@pytest.mark.parametrize(
    ("query", "found"),
    [
        ("анна", ["Анна Иванова"]),
        ("ИВАНОВА", ["Анна Иванова"]),
        ("ива анн", ["Анна Иванова"]),
        ("федор", ["Фёдор Смирнов"]),  # е finds ё
        ("smi", ["John Smith"]),
        ("ванова", []),  # not a word start
        ("анна smith", []),
        ("anna@example.org", ["Анна Иванова"]),
        ("ANNA@Example.org", ["Анна Иванова"]),
        ("john.smith@example.com", ["John Smith"]),
        ("123456", ["Анна Иванова"]),  # the card number exactly
        ("1234567", ["Фёдор Смирнов"]),
        ("12345", []),  # a prefix of two cards matches neither
        ("123", []),
        ("%", []),
    ],
)
def test_search_readers(api, people, query, found):
    assert find(api, query) == found


def test_search_by_an_automatic_card_number(api, people):
    card = people["john"]["card_number"]
    assert find(api, card) == ["John Smith"]
    assert find(api, card[:-1]) == []


def test_readers_are_paged(api, make_reader):
    for letter in "DCBA":
        make_reader(name=f"Reader {letter}")
    first = api.get("/readers?per_page=3").json
    assert set(first) == {"items", "page", "per_page", "total"}
    assert names(first) == ["Reader A", "Reader B", "Reader C"] and first["total"] == 4
    assert names(api.get("/readers?page=2&per_page=3").json) == ["Reader D"]
    assert api.get("/readers?page=3&per_page=3").json["items"] == []
    assert_invalid(api.get("/readers?per_page=101"), "per_page")
    assert_invalid(api.get("/readers?page=0"), "page")
    assert_invalid(api.get(f"/readers?page={2**63}"), "page")


# ---- change --------------------------------------------------------------------------


def test_put_replaces_the_reader(api, make_reader):
    reader = make_reader(
        name="Old", phone="123", telegram_chat_id=42, card_number="4444", language="ru"
    )
    r = api.put(f"/readers/{reader['id']}", json={"name": "New", "email": "NEW@example.org"})
    assert r.status_code == 200
    new = r.json
    assert new["name"] == "New" and new["email"] == "new@example.org"
    assert new["phone"] is None and new["telegram_chat_id"] is None
    # the card number and language stay when left out
    assert new["card_number"] == "4444" and new["language"] == "ru"
    assert new["created_at"] == reader["created_at"]
    assert api.get(f"/readers/{reader['id']}").json == new


def test_put_requires_name_and_email(api, make_reader):
    reader = make_reader()
    assert_invalid(api.put(f"/readers/{reader['id']}", json={"phone": "1"}), "name", "email")
    assert api.get(f"/readers/{reader['id']}").json == reader


def test_patch_changes_only_what_is_given(api, make_reader):
    reader = make_reader(phone="123", telegram_chat_id=42)
    r = api.patch(f"/readers/{reader['id']}", json={"name": "Renamed", "language": "ru"})
    assert r.status_code == 200
    assert r.json["name"] == "Renamed" and r.json["language"] == "ru"
    for key in ("email", "phone", "telegram_chat_id", "card_number"):
        assert r.json[key] == reader[key]
    r = api.patch(
        f"/readers/{reader['id']}", json={"telegram_chat_id": None, "card_number": "9999"}
    )
    assert r.json["telegram_chat_id"] is None and r.json["card_number"] == "9999"
    assert find(api, "renamed") == ["Renamed"]
    assert find(api, "9999") == ["Renamed"]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"name": "  "}, "name"),
        ({"email": "nope"}, "email"),
        ({"card_number": "12"}, "card_number"),
        ({"card_number": None}, "card_number"),
        ({"telegram_chat_id": "1"}, "telegram_chat_id"),
        ({"language": "fr"}, "language"),
    ],
)
def test_patch_validates_fields(api, make_reader, change, field):
    reader = make_reader()
    assert_invalid(api.patch(f"/readers/{reader['id']}", json=change), field)
    assert api.get(f"/readers/{reader['id']}").json == reader


def test_changing_to_another_readers_email_or_card_is_409(api, make_reader):
    a = make_reader(email="a@example.org", card_number="1111")
    b = make_reader(email="b@example.org", card_number="2222")
    assert_problem(
        api.patch(f"/readers/{b['id']}", json={"email": "A@example.org"}), 409, "email_taken"
    )
    assert_problem(
        api.patch(f"/readers/{b['id']}", json={"card_number": "1111"}), 409, "card_taken"
    )
    assert api.get(f"/readers/{b['id']}").json == b
    # a reader's own email and card are no conflict
    r = api.put(
        f"/readers/{a['id']}",
        json={"name": "A", "email": "a@example.org", "card_number": "1111"},
    )
    assert r.status_code == 200


# ---- delete --------------------------------------------------------------------------


def test_delete_of_a_reader_with_open_loans_is_409(api, make_book, make_reader, issue):
    reader = make_reader()
    loan = issue(make_book(), reader).json
    assert_problem(api.delete(f"/readers/{reader['id']}"), 409, "reader_has_loans")
    assert api.get(f"/readers/{reader['id']}").status_code == 200
    api.post(f"/loans/{loan['id']}/return")
    assert api.delete(f"/readers/{reader['id']}").status_code == 204


def test_deleted_reader_is_hidden_but_their_history_stays(api, make_book, make_reader, issue):
    gone = make_reader(name="Gone Reader", email="gone@example.org")
    stays = make_reader(name="Stays Reader")
    book = make_book()
    loan = issue(book, gone).json
    api.post(f"/loans/{loan['id']}/return")

    r = api.delete(f"/readers/{gone['id']}")
    assert r.status_code == 204 and r.get_data() == b""
    assert_problem(api.get(f"/readers/{gone['id']}"), 404, "reader_not_found")
    assert_problem(api.delete(f"/readers/{gone['id']}"), 404, "reader_not_found")
    assert_problem(api.patch(f"/readers/{gone['id']}", json={"name": "X"}), 404, "reader_not_found")
    listed = api.get("/readers").json
    assert ids(listed) == [stays["id"]] and listed["total"] == 1
    assert find(api, "gone") == []
    assert find(api, "gone@example.org") == []
    assert find(api, gone["card_number"]) == []
    assert_problem(issue(book, gone), 404, "reader_not_found")

    history = api.get(f"/loans?reader_id={gone['id']}").json
    assert ids(history) == [loan["id"]]
    assert history["items"][0]["reader"] == {
        "id": gone["id"],
        "name": "Gone Reader",
        "email": "gone@example.org",
    }


def test_email_of_a_deleted_reader_is_free_again(api, make_reader):
    gone = make_reader(email="reuse@example.org")
    api.delete(f"/readers/{gone['id']}")
    again = make_reader(email="REUSE@example.org")
    assert again["id"] != gone["id"] and again["email"] == "reuse@example.org"
    assert find(api, "reuse@example.org") == [again["name"]]


# ---- a reader's loans ----------------------------------------------------------------


def test_reader_loans_by_status_newest_first(app, api, make_book, make_reader, issue):
    reader, other = make_reader(), make_reader()
    first = issue(make_book(), reader).json
    api.post(f"/loans/{first['id']}/return")
    late = issue(make_book(), reader).json
    backdate_loan(app, late["id"], 30)
    second_returned = issue(make_book(), reader).json
    api.post(f"/loans/{second_returned['id']}/return")
    current = issue(make_book(), reader).json
    issue(make_book(), other)  # someone else's loan is never listed

    def listed(status=None):
        path = f"/readers/{reader['id']}/loans" + (f"?status={status}" if status else "")
        r = api.get(path)
        assert r.status_code == 200
        assert {item["reader_id"] for item in r.json["items"]} <= {reader["id"]}
        return ids(r.json)

    everything = [current["id"], second_returned["id"], late["id"], first["id"]]
    assert listed() == everything
    assert listed("all") == everything
    assert listed("open") == [current["id"], late["id"]]
    assert listed("returned") == [second_returned["id"], first["id"]]
    assert listed("overdue") == [late["id"]]
    page = api.get(f"/readers/{reader['id']}/loans?per_page=3&page=2").json
    assert ids(page) == [first["id"]] and page["total"] == 4
    assert_invalid(api.get(f"/readers/{reader['id']}/loans?status=lost"), "status")


def test_open_loans_counter_follows_issue_and_return(api, make_book, make_reader, issue):
    reader = make_reader()
    loans = [issue(make_book(), reader).json for _ in range(2)]
    assert api.get(f"/readers/{reader['id']}").json["open_loans"] == 2
    api.post(f"/loans/{loans[0]['id']}/return")
    assert api.get(f"/readers/{reader['id']}").json["open_loans"] == 1
    listed = api.get("/readers").json["items"][0]
    assert listed["open_loans"] == 1

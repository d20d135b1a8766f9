"""The API as a whole: problem details, malformed requests, health, OpenAPI, docs, times."""

import json
import re

import pytest

from tests.helpers import assert_invalid, assert_problem, assert_utc

JSON = "application/json"


def raw(client, method, path, data, content_type=JSON):
    return client.request(method, path, data=data, content_type=content_type)


def post_escaped(client, path, body):
    """POST `body` as JSON with every non-ASCII character escaped (lone surrogates too)."""
    return raw(client, "POST", path, json.dumps(body, ensure_ascii=True))


# ---- problem details ----------------------------------------------------------------


def test_every_kind_of_error_is_a_problem(api, anon):
    cases = [
        (anon.get("/books"), 401, "unauthorized"),
        (api.get("/books/999"), 404, "book_not_found"),
        (api.get("/readers/999"), 404, "reader_not_found"),
        (api.get("/loans/999"), 404, "loan_not_found"),
        (api.get("/librarians"), 403, "admin_only"),
        (api.get("/no-such-thing"), 404, "not_found"),
        (api.delete("/books"), 405, "method_not_allowed"),
        (raw(api, "POST", "/books", "{"), 400, "bad_request"),
        (api.post("/books", json={}), 422, "validation_error"),
    ]
    for response, status, code in cases:
        body = assert_problem(response, status, code)
        assert body["type"] == "about:blank"
        assert set(body) <= {"type", "title", "status", "detail", "code", "errors"}
        assert ("errors" in body) == (status == 422)


def test_a_rule_conflict_is_a_409_problem(api, make_book):
    book = make_book(isbn="9785170878833")
    r = api.post("/books", json={"title": "T", "author": "A", "isbn": "9785170878833"})
    body = assert_problem(r, 409, "isbn_taken")
    assert body["title"] == "Conflict" and body["type"] == "about:blank"
    assert book["isbn"] in body["detail"]


@pytest.mark.parametrize(
    "path", ["/api/v1/nothing", "/api/v1/books/1/nothing", "/api/v1/", "/api/v2/books"]
)
def test_unknown_route_is_404_not_found(client, api, path):
    for response in (client.get(path), client.get(path, headers={"Authorization": "x"})):
        assert_problem(response, 404, "not_found")
    assert_problem(api.client.get(path), 404, "not_found")


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("DELETE", "/books"),
        ("PUT", "/loans"),
        ("GET", "/auth/login"),
        ("GET", "/auth/register"),
        ("PUT", "/loans/1/return"),
        ("POST", "/books/1"),
        ("DELETE", "/loans/1"),
        ("PATCH", "/auth/me"),
    ],
)
def test_wrong_method_is_405(api, anon, method, path):
    for client in (api, anon):
        r = client.request(method, path)
        body = assert_problem(r, 405, "method_not_allowed")
        assert method in body["detail"]
        assert "Allow" in r.headers


# ---- malformed requests ----------------------------------------------------------------

WRITES = [
    ("POST", "/books"),
    ("PUT", "/books/1"),
    ("PATCH", "/books/1"),
    ("POST", "/readers"),
    ("PUT", "/readers/1"),
    ("PATCH", "/readers/1"),
    ("POST", "/loans"),
    ("POST", "/loans/return"),
    ("POST", "/auth/register"),
    ("POST", "/auth/login"),
]


MALFORMED = {
    "unclosed": "{",
    "trailing-comma": '{"title": "T",}',
    "single-quotes": "{'title': 'T'}",
    "trailing-text": '{"title": "T"} trailing',
    "deep-list": "[" * 100_000,
    "deep-object": '{"a":' * 100_000,
    "deep-but-closed": "[" * 100_000 + "]" * 100_000,
    "5000-digit-number": '{"book_id": 1' + "0" * 5000 + ', "reader_id": 1}',
    "invalid-utf8": b'{"title": "\xff\xfe"}',
}
NOT_OBJECTS = ["[]", '[{"title": "T"}]', '"a string"', "42", "null", "true"]


@pytest.mark.parametrize(("method", "path"), WRITES)
def test_malformed_json_is_400_bad_request(admin_api, make_book, make_reader, method, path):
    make_book(), make_reader()
    for name, data in MALFORMED.items():
        r = raw(admin_api, method, path, data)
        assert r.status_code == 400, name
        assert_problem(r, 400, "bad_request")


@pytest.mark.parametrize(("method", "path"), WRITES)
def test_json_that_is_not_an_object_is_refused(admin_api, make_book, make_reader, method, path):
    make_book(), make_reader()
    for data in NOT_OBJECTS:
        r = raw(admin_api, method, path, data)
        assert r.status_code in (400, 422), (data, r.json)
        assert r.headers["Content-Type"] == "application/problem+json"
        assert r.json["code"] in ("bad_request", "validation_error")
    assert admin_api.get("/books").json["total"] == 1
    assert admin_api.get("/readers").json["total"] == 1


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"title": "a\u0000b", "author": "A"}, "title"),
        ({"title": "T", "author": "\ud800"}, "author"),
        ({"title": "T", "author": "A", "description": "x\u0000"}, "description"),
        ({"title": "T", "author": "A", "isbn": "978\u0000"}, "isbn"),
        ({"title": ["T"], "author": "A"}, "title"),
        ({"title": {"x": 1}, "author": "A"}, "title"),
        ({"title": "T", "author": "A", "year": float("nan")}, "year"),
        ({"title": "T", "author": "A", "copies_total": float("inf")}, "copies_total"),
        ({"title": "T", "author": "A", "copies_total": 2**200}, "copies_total"),
    ],
)
def test_strange_values_in_a_book_are_422_on_their_field(api, body, field):
    assert_invalid(post_escaped(api, "/books", body), field)
    assert api.get("/books").json["total"] == 0


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "\udfff", "email": "a@example.org"}, "name"),
        ({"name": "N\u0000", "email": "a@example.org"}, "name"),
        ({"name": "N", "email": "a\u0000@example.org"}, "email"),
        ({"name": "N", "email": "\ud83d@example.org"}, "email"),
        ({"name": "N", "email": "a@example.org", "phone": "\u0000"}, "phone"),
        ({"name": "N", "email": "a@example.org", "card_number": "1234\u0000"}, "card_number"),
        ({"name": "N", "email": "a@example.org", "telegram_chat_id": 2**100}, "telegram_chat_id"),
    ],
)
def test_strange_values_in_a_reader_are_422_on_their_field(api, body, field):
    assert_invalid(post_escaped(api, "/readers", body), field)
    assert api.get("/readers").json["total"] == 0


@pytest.mark.parametrize(
    "body",
    [
        {"email": "desk@library.test", "password": "\ud800"},
        {"email": "desk@library.test\u0000", "password": "x"},
        {"email": ["desk@library.test"], "password": "x"},
        {"email": "desk@library.test", "password": None},
        {"email": "desk@library.test", "password": "p" * 1025},
    ],
)
def test_strange_logins_are_422(anon, librarian, body):
    assert_invalid(post_escaped(anon, "/auth/login", body))


def test_strange_registration_is_422(admin_api):
    for password in ("\ud800" * 9, "\0" * 9):
        body = {"email": "a@library.test", "password": password}
        assert_invalid(post_escaped(admin_api, "/auth/register", body), "password")
    assert admin_api.get("/librarians").json["total"] == 1


STRANGE_QUERIES = [
    "q=%00",
    "q=%ff%fe",
    "q=%25%25%25",
    "page=%00",
    "per_page=1e3",
    "available=%00",
    "status=%00",
    "reader_id=99999999999999999999999",
    "book_id=-1",
    "q=" + "%d0%b0" * 200,
]


@pytest.mark.parametrize("path", ["/books", "/readers", "/loans", "/librarians"])
def test_strange_queries_never_fail_the_server(admin_api, make_book, path):
    make_book()
    for query in STRANGE_QUERIES:
        r = admin_api.get(f"{path}?{query}")
        assert r.status_code in (200, 422), (query, r.json)
        if r.status_code == 422:
            assert_invalid(r)
        else:
            page = {"items", "page", "per_page", "total"}
            # The catalog counts only up to a cap, and says whether it stopped there.
            assert set(r.json) == (page | {"total_capped"} if path == "/books" else page)


def test_an_empty_body_is_a_body_without_fields(api, make_book):
    assert_invalid(raw(api, "POST", "/books", ""), "title", "author")
    book = make_book()
    r = raw(api, "PATCH", f"/books/{book['id']}", "")
    assert r.status_code == 200 and r.json["title"] == book["title"]


def test_form_body_where_json_is_expected_is_422(api):
    r = api.post("/books", data={"title": "T", "author": "A"})
    assert_invalid(r, "title", "author")
    assert api.get("/books").json["total"] == 0


def test_too_large_a_body_is_413(api):
    big = '{"title": "T", "author": "A", "description": "' + "x" * 1_100_000 + '"}'
    assert_problem(raw(api, "POST", "/books", big), 413, "payload_too_large")
    assert api.get("/books").json["total"] == 0


def test_unknown_fields_are_ignored_and_server_owned_fields_cannot_be_forged(api):
    r = api.post(
        "/books",
        json={
            "title": "T",
            "author": "A",
            "copies_total": 2,
            "id": 999,
            "copies_available": 0,
            "created_at": "2000-01-01T00:00:00+00:00",
            "withdrawn_at": "2000-01-01T00:00:00+00:00",
            "colour": "red",
        },
    )
    assert r.status_code == 201
    book = r.json
    assert book["id"] != 999 and book["copies_available"] == 2
    assert not book["created_at"].startswith("2000")
    assert "colour" not in book
    assert api.get(f"/books/{book['id']}").status_code == 200

    r = api.post("/readers", json={"name": "N", "email": "n@example.org", "open_loans": 3})
    assert r.status_code == 201 and r.json["open_loans"] == 0


def test_put_of_what_get_returned_round_trips(api, make_book, make_reader):
    book = make_book(isbn="9785170878833", year=1869, description="d", copies_total=2)
    r = api.put(f"/books/{book['id']}", json={**book, "title": "Renamed"})
    assert r.status_code == 200
    assert r.json == {**book, "title": "Renamed", "updated_at": r.json["updated_at"]}
    reader = make_reader(phone="1", telegram_chat_id=5, card_number="4321")
    r = api.put(f"/readers/{reader['id']}", json={**reader, "name": "Renamed"})
    assert r.status_code == 200
    assert r.json == {**reader, "name": "Renamed", "updated_at": r.json["updated_at"]}


# ---- health ------------------------------------------------------------------------------


def test_healthz_needs_no_token(client):
    r = client.get("/healthz")
    assert r.status_code == 200
    assert r.headers["Content-Type"].startswith(JSON)
    assert r.json == {"status": "ok", "database": "ok"}


# ---- OpenAPI and docs (tests/test_openapi.py checks every route is documented) --------


def test_openapi_document_needs_no_token_and_is_openapi_3(client):
    r = client.get("/api/v1/openapi.json")
    assert r.status_code == 200
    doc = r.json
    assert doc["openapi"].startswith("3.")
    assert doc["info"]["title"] and doc["info"]["version"]


def test_openapi_documents_no_route_the_app_lacks(app, client):
    doc = client.get("/api/v1/openapi.json").json
    routes = set()
    for rule in app.url_map.iter_rules():
        path = re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.rule)
        routes |= {(path, m.lower()) for m in rule.methods}
    documented = {
        (path, method)
        for path, item in doc["paths"].items()
        for method in item
        if method in {"get", "post", "put", "patch", "delete"}
    }
    assert documented - routes == set()


def test_openapi_marks_sign_in_as_needing_no_token(client):
    doc = client.get("/api/v1/openapi.json").json
    assert doc["paths"]["/api/v1/auth/login"]["post"].get("security") == []
    assert doc["paths"]["/api/v1/books"]["get"]["security"] == [{"bearerAuth": []}]


def test_openapi_describes_problems_and_request_bodies(client):
    doc = client.get("/api/v1/openapi.json").json
    create = doc["paths"]["/api/v1/books"]["post"]
    assert "201" in create["responses"]
    assert "application/problem+json" in create["responses"]["422"]["content"]
    assert "requestBody" in create
    loan = doc["paths"]["/api/v1/loans"]["post"]
    assert {"404", "409", "422", "401"} <= set(loan["responses"])


def test_api_docs_page_points_only_at_this_app(client):
    r = client.get("/api/docs")
    assert r.status_code == 200
    assert r.headers["Content-Type"].startswith("text/html")
    html = r.get_data(as_text=True)
    assert "http://" not in html and "https://" not in html
    assert "/static/vendor/swagger-ui/swagger-ui-bundle.js" in html
    assert "/static/vendor/swagger-ui/swagger-ui.css" in html
    (spec_url,) = re.findall(r'data-spec-url="([^"]*)"', html)
    assert spec_url == "/api/v1/openapi.json"
    assert client.get(spec_url).json["openapi"].startswith("3.")


def test_swagger_ui_does_not_call_the_public_validator(client):
    html = client.get("/api/docs").get_data(as_text=True)
    scripts = [
        client.get(src).get_data(as_text=True)
        for src in re.findall(r'src="([^"]+)"', html)
        if "vendor" not in src
    ]
    assert scripts, "the page starts Swagger UI from a script of our own"
    assert any("validatorUrl: null" in s for s in scripts)
    for script in scripts:
        assert "http://" not in script and "https://" not in script


# ---- times -----------------------------------------------------------------------------


def test_every_time_in_responses_has_a_utc_offset(api, make_book, make_reader, issue):
    me = api.get("/auth/me").json
    assert_utc(me["created_at"])
    book, reader = make_book(), make_reader()
    for record in (book, reader):
        assert assert_utc(record["created_at"]) <= assert_utc(record["updated_at"])
    loan = issue(book, reader).json
    assert assert_utc(loan["issued_at"]) < assert_utc(loan["due_at"])
    returned = api.post(f"/loans/{loan['id']}/return").json
    assert assert_utc(returned["returned_at"]) >= assert_utc(returned["issued_at"])
    # read back from the database, not only echoed from memory
    for path in (f"/books/{book['id']}", f"/readers/{reader['id']}", f"/loans/{loan['id']}"):
        for key, value in api.get(path).json.items():
            if key.endswith("_at") and value is not None:
                assert_utc(value)
    listed = api.get("/loans").json["items"][0]
    assert listed["issued_at"] == returned["issued_at"]
    assert listed["returned_at"] == returned["returned_at"]

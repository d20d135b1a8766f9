"""Property-based tests of the whole JSON API against its own OpenAPI document (schemathesis).

Every operation of /api/v1/openapi.json gets generated requests, valid and invalid, sent
with an admin's bearer token (and, now and then, without it) on both databases: no answer
may be a server error, have a status the document does not list for that operation, or
have a content type or a body other than the one the document declares for that status.

Each operation is one test item on a freshly seeded database (books, readers, loans, a
failed notification, Telegram links), emptied again by the `app` fixture. Generated path
ids are often those of the seeded rows, so the success paths are exercised as well as the
404s. Generation is derandomized and bounded: CI sends the same requests every time.
"""

from datetime import timedelta

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from config import TestConfig
from library import create_app
from library.extensions import db
from library.models import Notification, utcnow
from library.models.notification import TelegramLink

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
# Per operation and database, besides schemathesis' own coverage cases (boundaries,
# missing and mistyped fields...): the whole file stays around two minutes.
MAX_EXAMPLES = 40


def _openapi_document():
    """The document the app serves. Making it needs no database, so any app will do."""
    app = create_app(TestConfig, SQLALCHEMY_DATABASE_URI="sqlite://")
    response = app.test_client().get("/api/v1/openapi.json")
    assert response.status_code == 200
    return response.get_json()


schema = schemathesis.openapi.from_dict(_openapi_document())

# What the running test seeded: a few values for each path parameter.
SEEDED = {}


@schema.hook
def flatmap_path_parameters(context, path_parameters):
    """Half the time, point the path at seeded rows rather than at random ids."""
    if not isinstance(path_parameters, dict):
        return st.just(path_parameters)
    known = {name: SEEDED[name] for name in path_parameters if SEEDED.get(name)}
    if not known:
        return st.just(path_parameters)
    seeded = st.fixed_dictionaries(
        {name: st.sampled_from(values) for name, values in known.items()}
    )
    return st.one_of(st.just(path_parameters), seeded.map(lambda v: {**path_parameters, **v}))


def _seed(app, admin_api, colleague):
    """Rows for the generated requests to find; their ids, by path parameter name."""
    app.config["TELEGRAM_BOT_NAME"] = "library_test_bot"
    book_ids, reader_ids, loan_ids = [], [], []
    for n in range(3):
        book = {"title": f"Book {n}", "author": "Author", "copies_total": 2}
        book_ids.append(admin_api.post("/books", json=book).json["id"])
        reader = {"name": f"Reader {n}", "email": f"reader{n}@example.org"}
        reader_ids.append(admin_api.post("/readers", json=reader).json["id"])
        loan = admin_api.post("/loans", json={"book_id": book_ids[n], "reader_id": reader_ids[n]})
        assert loan.status_code == 201, loan.json
        loan_ids.append(loan.json["id"])
    assert admin_api.post(f"/loans/{loan_ids[0]}/return").status_code == 200
    # Book 1's copies are both out (one more loan): reader 0 waits for it.
    more = admin_api.post("/loans", json={"book_id": book_ids[1], "reader_id": reader_ids[2]})
    assert more.status_code == 201, more.json
    loan_ids.append(more.json["id"])
    hold = admin_api.post("/holds", json={"book_id": book_ids[1], "reader_id": reader_ids[0]})
    assert hold.status_code == 201, hold.json
    link = admin_api.post(f"/readers/{reader_ids[0]}/telegram-link")
    assert link.status_code == 201, link.json
    with app.app_context():
        now = utcnow()
        failed = Notification(
            kind="issued",
            channel="email",
            recipient="reader0@example.org",
            subject="A book is on loan",
            language="en",
            reader_id=reader_ids[0],
            status="failed",
            attempts=8,
            last_error="550 mailbox unavailable",
            next_attempt_at=now,
            created_at=now,
        )
        expired = TelegramLink(
            code="an-expired-link-code",
            reader_id=reader_ids[1],
            created_at=now - timedelta(days=2),
            expires_at=now - timedelta(days=1),
        )
        db.session.add_all([failed, expired])
        db.session.commit()
        notification_ids = [failed.id]
    return {
        "book_id": book_ids,
        "reader_id": reader_ids,
        "loan_id": loan_ids,
        # Not the admin's own id: deactivating themselves would end the test's token.
        "librarian_id": [colleague.id],
        "notification_id": notification_ids,
        "hold_id": [hold.json["id"]],
        "code": [link.json["code"], "an-expired-link-code"],
    }


@pytest.fixture
def seeded(app, admin_api, make_librarian):
    SEEDED.update(_seed(app, admin_api, make_librarian(email="colleague@library.test")))
    yield SEEDED
    SEEDED.clear()


@pytest.fixture
def bearer(admin):
    return {"Authorization": f"Bearer {admin.token}"}


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[
        # One database per operation, not per example, on purpose: the examples of an
        # operation share the seeded rows (and what earlier examples did to them).
        HealthCheck.function_scoped_fixture,
        # Requests go through the app and a database: slow for Hypothesis, fine for us.
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
        HealthCheck.data_too_large,
    ],
)
def test_api_conforms_to_its_openapi_document(case, app, bearer, seeded):
    case.call_and_validate(app=app, headers=bearer, checks=CHECKS)


OPERATIONS_WITH_PATH_PARAMETERS = [
    operation.label
    for operation in (result.ok() for result in schema.get_all_operations())
    if operation.path_parameters
]


@pytest.mark.parametrize("label", OPERATIONS_WITH_PATH_PARAMETERS)
def test_control_characters_in_a_path_are_an_unknown_address(label, app, bearer, seeded):
    """Schemathesis never puts control characters in a path (proxies refuse them); a
    client may: `%00` must be a 404, not a database error."""
    operation = schema.find_operation_by_label(label)
    names = [parameter.name for parameter in operation.path_parameters]
    for name in names:
        for value in ("\x00", "1\x00", "\x1f"):
            path = {other: SEEDED.get(other, [1])[0] for other in names}
            path[name] = value
            case = operation.Case(path_parameters=path)
            response = case.call_and_validate(app=app, headers=bearer, checks=CHECKS)
            assert response.status_code == 404, (name, value)

"""Assertions the API test files share."""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from library import circulation
from library.extensions import db

PROBLEM_KEYS = {"type", "title", "status", "detail", "code"}


def assert_problem(response, status, code):
    """The response is an RFC 9457 problem with this status and `code`; returns its body."""
    assert response.status_code == status, (response.status_code, response.get_data(as_text=True))
    assert response.headers["Content-Type"] == "application/problem+json"
    body = response.get_json(force=True)
    assert set(body) >= PROBLEM_KEYS, body
    assert body["status"] == status
    assert body["code"] == code, body
    assert isinstance(body["title"], str) and body["title"]
    assert isinstance(body["detail"], str) and body["detail"]
    return body


def assert_invalid(response, *fields):
    """A 422 `validation_error` naming (at least) these fields in `errors`."""
    body = assert_problem(response, 422, "validation_error")
    assert body["errors"], body
    for error in body["errors"]:
        assert set(error) == {"field", "message"} and error["message"], error
    named = {e["field"] for e in body["errors"]}
    for field in fields:
        assert field in named, (field, body["errors"])
    return body


def assert_utc(value):
    """An ISO 8601 time with an explicit zero UTC offset (`+00:00` or `Z`)."""
    assert isinstance(value, str), value
    assert value.endswith(("+00:00", "Z")), value
    parsed = datetime.fromisoformat(value)
    assert parsed.utcoffset() == timedelta(0)
    return parsed


def ids(page):
    return [item["id"] for item in page["items"]]


def backdate_loan(app, loan_id, days):
    """Make a loan look as if issued `days` earlier."""
    with app.app_context():
        loan = circulation.get_loan(loan_id)
        loan.issued_at -= timedelta(days=days)
        loan.due_at -= timedelta(days=days)
        db.session.commit()


def zone_of_another_day(moment):
    """A time zone in which `moment` (an ISO timestamp) falls on another calendar day
    than in UTC, so that a date shown in the library's time zone can be told from the
    UTC one: UTC+14 from 10:00 UTC, UTC-11 before 11:00."""
    moment = assert_utc(moment)
    for name in ("Pacific/Kiritimati", "Pacific/Pago_Pago"):
        if moment.astimezone(ZoneInfo(name)).date() != moment.date():
            return name
    raise AssertionError(f"no zone puts {moment} on another day")

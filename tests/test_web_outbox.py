"""The outbox page and Telegram linking on a reader's page, over HTTP as a librarian sees
them: entries by status with their errors, retry in place, the t.me link and its QR code."""

import re
from datetime import timedelta

import pytest
from babel.dates import format_date
from sqlalchemy import select

from library.extensions import db
from library.models import Notification, TelegramLink, utcnow
from tests.test_web import HX, Desk, alerts

BOT = "library_test_bot"


@pytest.fixture
def make_notification(app):
    """Put an outbox entry straight into the database; returns its id."""
    counter = iter(range(1, 10_000))

    def make(**overrides):
        n = next(counter)
        now = utcnow()
        values = {
            "kind": "loan_issued",
            "channel": "email",
            "recipient": f"reader{n}@example.org",
            "subject": f"Message {n}",
            "language": "en",
            "status": "pending",
            "attempts": 0,
            "next_attempt_at": now,
            "created_at": now + timedelta(seconds=n),
        }
        values.update(overrides)
        with app.app_context():
            entry = Notification(**values)
            db.session.add(entry)
            db.session.commit()
            return entry.id

    return make


def stored(app, notification_id):
    """(status, attempts, last_error, sent_at) of an entry, read from the database."""
    with app.app_context():
        entry = db.session.get(Notification, notification_id)
        return entry.status, entry.attempts, entry.last_error, entry.sent_at


def row_ids(html):
    return [int(i) for i in re.findall(r'<tr id="notification-(\d+)">', html)]


@pytest.fixture
def outbox(make_notification):
    """One entry of each status; the failed one with an error a mail server gave."""
    sent_at = utcnow()
    return {
        "pending": make_notification(subject="Due soon: Dune"),
        "sent": make_notification(
            subject="You borrowed Emma", status="sent", attempts=1, sent_at=sent_at
        ),
        "failed": make_notification(
            subject="Overdue: War and Peace",
            status="failed",
            attempts=5,
            last_error="SMTP 421: try later <queue full>",
        ),
        "skipped": make_notification(
            subject="Due soon: Ulysses", channel="telegram", recipient="123456789", status="skipped"
        ),
    }


# ---- the list ---------------------------------------------------------------------


def test_outbox_needs_a_signed_in_librarian(app):
    r = Desk(app).get("/notifications")
    assert r.status_code == 302 and r.headers["Location"].startswith("/login")


def test_outbox_lists_every_entry_newest_first_with_counts(desk, outbox):
    r = desk.get("/notifications")
    assert r.status_code == 200 and r.text.startswith("<!doctype html>")
    assert row_ids(r.text) == sorted(outbox.values(), reverse=True)
    for subject in ("Due soon: Dune", "You borrowed Emma", "Overdue: War and Peace"):
        assert subject in r.text
    tabs = dict(re.findall(r'status=(\w+)"[^>]*>\w+ <span class="tab-count">\((\d+)\)', r.text))
    assert tabs == {"all": "4", "pending": "1", "sent": "1", "failed": "1", "skipped": "1"}
    assert 'href="/notifications"' in r.text  # the nav link


def test_outbox_filters_by_status_and_shows_the_error_escaped(desk, outbox):
    r = desk.get("/notifications?status=failed")
    assert row_ids(r.text) == [outbox["failed"]]
    assert "SMTP 421: try later &lt;queue full&gt;" in r.text
    assert "<queue full>" not in r.text
    assert "Retry" in r.text
    sent = desk.get("/notifications?status=sent").text
    assert row_ids(sent) == [outbox["sent"]] and "Retry" not in sent
    assert row_ids(desk.get("/notifications?status=skipped").text) == [outbox["skipped"]]
    # an unknown status shows them all rather than an error
    assert len(row_ids(desk.get("/notifications?status=bogus").text)) == 4


def test_outbox_htmx_paging_gets_only_the_table(desk, make_notification):
    ids = [make_notification(status="sent") for _ in range(25)]
    first = desk.get("/notifications?status=sent")
    assert row_ids(first.text) == sorted(ids, reverse=True)[:20]
    assert "Page 1 of 2" in first.text
    second = desk.get("/notifications?status=sent&page=2", headers=HX)
    assert "<html" not in second.text and "<header" not in second.text
    assert row_ids(second.text) == sorted(ids, reverse=True)[20:]


# ---- retry --------------------------------------------------------------------------


def test_retry_with_htmx_answers_with_the_row_now_pending(app, desk, outbox):
    failed = outbox["failed"]
    desk.get("/notifications?status=failed")
    r = desk.post(f"/notifications/{failed}/retry", htmx=True)
    assert r.status_code == 200
    assert r.text.lstrip().startswith(f'<tr id="notification-{failed}">')
    assert r.text.rstrip().endswith("</tr>") and "<html" not in r.text
    assert "pending" in r.text and "Queued again" in r.text
    assert "/retry" not in r.text  # nothing left to retry
    status, attempts, _error, _sent = stored(app, failed)
    assert (status, attempts) == ("pending", 0)


def test_retry_without_htmx_redirects_back_with_a_message(app, desk, outbox):
    failed = outbox["failed"]
    page = desk.get("/notifications?status=failed").text
    assert 'name="next" value="/notifications?status=failed"' in page
    r = desk.post(f"/notifications/{failed}/retry", {"next": "/notifications?status=failed"})
    assert r.status_code == 302 and r.headers["Location"] == "/notifications?status=failed"
    after = desk.get(r.headers["Location"]).text
    assert "Queued again" in after and row_ids(after) == []
    assert stored(app, failed)[0] == "pending"


def test_retrying_a_sent_entry_says_so_and_changes_nothing(app, desk, outbox):
    sent = outbox["sent"]
    before = stored(app, sent)
    desk.get("/notifications")
    r = desk.post(f"/notifications/{sent}/retry", htmx=True)
    assert r.status_code == 409
    assert r.text.lstrip().startswith(f'<tr id="notification-{sent}">')
    assert alerts(r.text) == [
        "This message has already been sent; only a failed one can be retried."
    ]
    r = desk.post(f"/notifications/{sent}/retry", {"next": "/notifications"})
    assert r.status_code == 302
    assert "already been sent" in desk.get(r.headers["Location"]).text
    assert stored(app, sent) == before


def test_retrying_an_unknown_entry_is_a_404_page(desk):
    desk.get("/notifications")
    r = desk.post("/notifications/999999/retry")
    assert r.status_code == 404 and "does not exist" in r.text


def test_a_retry_without_its_csrf_token_is_refused(app, desk, outbox):
    failed = outbox["failed"]
    desk.get("/notifications?status=failed")
    assert desk.post(f"/notifications/{failed}/retry", htmx=True, csrf=False).status_code == 400
    r = desk.post(f"/notifications/{failed}/retry", csrf=False)
    assert r.status_code == 400 and "expired or was not sent from this site" in r.text
    assert stored(app, failed)[:2] == ("failed", 5)


# ---- Telegram on the reader's page -----------------------------------------------------


def link_of(html):
    match = re.search(rf'href="(https://t\.me/{BOT}\?start=([A-Za-z0-9_-]+))"', html)
    assert match, "no t.me link on the page"
    return match.group(1), match.group(2)


def test_a_reader_page_says_whether_telegram_is_linked(desk, make_reader):
    linked = make_reader(telegram_chat_id=987654321)
    plain = make_reader()
    assert "linked, chat 987654321" in desk.get(f"/readers/{linked['id']}").text
    page = desk.get(f"/readers/{plain['id']}").text
    assert "not linked" in page and "Link Telegram" in page


def test_link_telegram_shows_a_t_me_link_its_expiry_and_qr_code(app, desk, make_reader):
    app.config["TELEGRAM_BOT_NAME"] = BOT
    reader, other = make_reader(), make_reader()
    desk.get(f"/readers/{reader['id']}")
    r = desk.post(f"/readers/{reader['id']}/telegram", htmx=True)
    assert r.status_code == 200 and "<html" not in r.text
    url, code = link_of(r.text)
    assert f'value="{url}" readonly' in r.text  # the same link, to copy
    with app.app_context():
        link = db.session.get(TelegramLink, code)
        assert link.reader_id == reader["id"] and link.used_at is None
        expires = link.expires_at
    assert timedelta(hours=23) < expires - utcnow() <= timedelta(hours=24)
    assert format_date(expires, locale="en") in r.text  # the pages' date form (medium)

    qr = f"/readers/{reader['id']}/telegram/{code}.svg"
    assert f'<img src="{qr}"' in r.text
    svg = desk.get(qr)
    assert svg.status_code == 200 and svg.content_type.startswith("image/svg+xml")
    assert svg.data.lstrip().startswith((b"<?xml", b"<svg")) and b"<svg" in svg.data
    assert desk.get(f"/readers/{other['id']}/telegram/{code}.svg").status_code == 404
    assert desk.get(f"/readers/{reader['id']}/telegram/not-a-code.svg").status_code == 404
    assert Desk(app).get(qr).status_code == 302  # signed-in librarians only


def test_link_telegram_without_htmx_lands_on_the_reader_page_with_the_link(app, desk, make_reader):
    app.config["TELEGRAM_BOT_NAME"] = BOT
    reader = make_reader()
    desk.get(f"/readers/{reader['id']}")
    r = desk.post(f"/readers/{reader['id']}/telegram")
    assert r.status_code == 302
    assert r.headers["Location"].startswith(f"/readers/{reader['id']}?telegram=")
    page = desk.get(r.headers["Location"])
    assert page.status_code == 200 and page.text.startswith("<!doctype html>")
    _url, code = link_of(page.text)
    with app.app_context():
        assert db.session.get(TelegramLink, code).reader_id == reader["id"]


def test_link_telegram_without_a_bot_says_so_beside_the_button(app, desk, make_reader):
    reader = make_reader()
    desk.get(f"/readers/{reader['id']}")
    r = desk.post(f"/readers/{reader['id']}/telegram", htmx=True)
    assert r.status_code == 409 and "<html" not in r.text
    assert any("Telegram is not set up in this library" in a for a in alerts(r.text))
    assert "Link Telegram" in r.text and "t.me" not in r.text
    page = desk.post(f"/readers/{reader['id']}/telegram")
    assert page.status_code == 409 and page.text.startswith("<!doctype html>")
    assert any("Telegram is not set up in this library" in a for a in alerts(page.text))
    with app.app_context():
        assert db.session.scalars(select(TelegramLink)).all() == []

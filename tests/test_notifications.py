"""Notifications (SPEC section 5) through real peers: an SMTP server (aiosmtpd) and a
local stand-in for the Telegram Bot API. Messages are counted where they arrive."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select, update
from sqlalchemy import text as sql_text

from library import circulation, notifications
from library.extensions import db
from library.models import Notification, TelegramLink

from .fakes import SmtpServer
from .helpers import assert_problem, assert_utc, zone_of_another_day


def remind(runner, at):
    """`flask reminders run --now AT`; returns its output."""
    result = runner.invoke(args=["reminders", "run", "--now", at.isoformat()])
    assert result.exit_code == 0, result.output
    return result.output


def deliver(app, now=None):
    with app.app_context():
        return notifications.deliver_due(now=now)


def outbox(app, **where):
    """The outbox entries (as dicts), oldest first, filtered by column values."""
    with app.app_context():
        stmt = select(Notification).order_by(Notification.id)
        for column, value in where.items():
            stmt = stmt.where(getattr(Notification, column) == value)
        rows = [
            {c.name: getattr(n, c.name) for c in Notification.__table__.columns}
            for n in db.session.scalars(stmt)
        ]
        db.session.rollback()
        return rows


def issued_at(app, loan):
    return datetime.fromisoformat(loan["issued_at"])


def text_of(message):
    return message.get_body(preferencelist=("plain",)).get_content()


def html_of(message):
    return message.get_body(preferencelist=("html",)).get_content()


def kinds(server, to):
    return [m["Subject"].split(":")[0] for m in server.received(to)]


@pytest.fixture
def loan(make_book, make_reader, issue):
    """An open loan of "War and Peace" to Anna, issued now; (loan, book, reader)."""
    book = make_book(title="War and Peace", author="Leo Tolstoy")
    reader = make_reader(name="Anna Pavlovna", email="anna@example.org")
    r = issue(book, reader)
    assert r.status_code == 201
    return r.json, book, reader


# --- what is queued and mailed ---------------------------------------------------


def test_first_librarian_gets_a_welcome_mail(app, anon, smtp):
    r = anon.post(
        "/auth/register",
        json={"email": "head@library.test", "password": "long enough pw", "name": "Maria"},
    )
    assert r.status_code == 201
    assert deliver(app).sent == 1
    [mail] = smtp.received("head@library.test")
    assert mail["Subject"] == "Welcome to Library"
    assert mail["From"] == "library@library.test"
    assert "Hello Maria," in text_of(mail)
    assert "head@library.test" in text_of(mail)


def test_cli_created_librarian_gets_a_welcome_mail(app, runner, smtp):
    result = runner.invoke(
        args=["librarian", "create", "--email", "cli@library.test", "--password", "long enough"]
    )
    assert result.exit_code == 0, result.output
    deliver(app)
    assert len(smtp.received("cli@library.test")) == 1


def test_issue_mails_the_reader_the_title_and_due_date(app, loan, smtp):
    loan, book, reader = loan
    report = deliver(app)
    assert report.sent == 1
    [mail] = smtp.received("anna@example.org")
    assert mail["Subject"] == "Borrowed: War and Peace"
    due = assert_utc(loan["due_at"]).date().isoformat()
    body = text_of(mail)
    assert "Hello Anna Pavlovna," in body
    assert "“War and Peace” by Leo Tolstoy" in body
    assert f"return it by {due}" in body
    assert due in html_of(mail) and "War and Peace" in html_of(mail)
    [entry] = outbox(app, kind="loan_issued")
    assert entry["status"] == "sent" and entry["attempts"] == 1 and entry["sent_at"]


def test_html_mail_escapes_what_people_typed(app, make_book, make_reader, issue, smtp):
    book = make_book(title="<script>alert(1)</script> & Co")
    reader = make_reader(name="Bob <b>", email="bob@example.org")
    assert issue(book, reader).status_code == 201
    deliver(app)
    [mail] = smtp.received("bob@example.org")
    html = html_of(mail)
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "Bob &lt;b&gt;" in html
    assert "<script>alert(1)</script> & Co" in text_of(mail)  # plain text stays as typed


def test_dates_are_calendar_dates_in_the_library_timezone(app, loan, smtp):
    loan, _, _ = loan
    zone = zone_of_another_day(loan["due_at"])  # the mail is written as it is sent
    app.config["LIBRARY_TIMEZONE"] = zone
    deliver(app)
    utc_day = assert_utc(loan["due_at"]).date()
    local_day = assert_utc(loan["due_at"]).astimezone(ZoneInfo(zone)).date()
    text = text_of(smtp.received()[0])
    assert f"return it by {local_day.isoformat()}" in text
    assert utc_day.isoformat() not in text


def test_issuing_with_no_mail_server_logs_the_message(app, loan, caplog):
    caplog.set_level("INFO", logger=app.logger.name)
    assert deliver(app).sent == 1
    lines = [r.getMessage() for r in caplog.records if "mail logged" in r.getMessage()]
    assert len(lines) == 1, [(r.name, r.getMessage()) for r in caplog.records]
    assert "anna@example.org" in lines[0] and "War and Peace" in lines[0]
    assert "\n" not in lines[0]  # one line per event


# --- reminders and overdue notices -----------------------------------------------


def test_due_soon_reminder_arrives_once_however_often_the_scheduler_runs(app, loan, runner, smtp):
    loan, _, _ = loan
    start = issued_at(app, loan)
    deliver(app)
    assert "Queued 0 due-soon" in remind(runner, start + timedelta(days=9, hours=23))
    assert "Queued 1 due-soon" in remind(runner, start + timedelta(days=10))
    for hours in (0, 1, 5, 30):
        assert "Queued 0 due-soon" in remind(runner, start + timedelta(days=10, hours=hours))
        deliver(app)
    assert kinds(smtp, "anna@example.org") == ["Borrowed", "Due soon"]
    reminder = smtp.received("anna@example.org")[1]
    assert reminder["Subject"] == "Due soon: War and Peace"
    due = assert_utc(loan["due_at"]).date().isoformat()
    assert f"is due on {due}" in text_of(reminder)


def test_renewal_rearms_the_reminder_for_the_new_due_date(app, loan, runner, smtp):
    loan, _, _ = loan
    start = issued_at(app, loan)
    remind(runner, start + timedelta(days=10))
    deliver(app)
    renewed_on = start + timedelta(days=12)
    with app.app_context():
        renewed = circulation.renew_loan(loan["id"], now=renewed_on)
        new_due = renewed.due_at
        db.session.commit()
    assert "Queued 0 due-soon" in remind(runner, renewed_on + timedelta(days=9))
    assert "Queued 1 due-soon" in remind(runner, renewed_on + timedelta(days=10))
    remind(runner, renewed_on + timedelta(days=11))
    deliver(app)
    assert kinds(smtp, "anna@example.org") == ["Borrowed", "Due soon", "Due soon"]
    assert f"is due on {new_due.date().isoformat()}" in text_of(smtp.received()[-1])


def test_overdue_notices_repeat_weekly_and_stop_after_return(app, loan, runner, smtp, api):
    loan, _, _ = loan
    due = assert_utc(loan["due_at"])
    deliver(app)
    assert "0 overdue" in remind(runner, due - timedelta(seconds=1))
    expected = {0: 1, 1: 0, 6: 0, 7: 1, 8: 0, 13: 0, 14: 1, 20: 0}
    for day, new in expected.items():
        assert f"{new} overdue" in remind(runner, due + timedelta(days=day, seconds=1)), day
        deliver(app)
    assert kinds(smtp, "anna@example.org").count("Overdue") == 3
    notice = smtp.received("anna@example.org")[-1]
    assert notice["Subject"] == "Overdue: War and Peace"
    assert f"was due on {due.date().isoformat()}" in text_of(notice)
    assert api.post(f"/loans/{loan['id']}/return").status_code == 200
    for day in (21, 28, 35):
        assert "0 overdue" in remind(runner, due + timedelta(days=day, seconds=1))
    deliver(app)
    assert kinds(smtp, "anna@example.org").count("Overdue") == 3


def test_scheduler_that_was_down_sends_only_the_current_notice(app, loan, runner, smtp):
    loan, _, _ = loan
    due = assert_utc(loan["due_at"])
    deliver(app)
    assert "1 overdue" in remind(runner, due + timedelta(days=30))
    deliver(app)
    assert kinds(smtp, "anna@example.org").count("Overdue") == 1
    [entry] = outbox(app, kind="overdue")
    assert entry["period"] == 4


def test_reminder_for_a_loan_returned_before_delivery_is_skipped(app, loan, runner, smtp, api):
    loan, _, _ = loan
    deliver(app)
    remind(runner, issued_at(app, loan) + timedelta(days=10))
    assert api.post(f"/loans/{loan['id']}/return").status_code == 200
    report = deliver(app)
    assert report.skipped == 1 and report.sent == 0
    assert kinds(smtp, "anna@example.org") == ["Borrowed"]
    [entry] = outbox(app, kind="due_soon")
    assert entry["status"] == "skipped"
    assert entry["last_error"] == "loan returned before delivery"
    r = api.get("/notifications", query_string={"status": "skipped"})
    assert [e["id"] for e in r.json["items"]] == [entry["id"]]


def test_reminder_for_a_loan_renewed_before_delivery_is_skipped(app, loan, runner, smtp):
    loan, _, _ = loan
    start = issued_at(app, loan)
    remind(runner, start + timedelta(days=10))
    with app.app_context():
        circulation.renew_loan(loan["id"], now=start + timedelta(days=11))
        db.session.commit()
    deliver(app)
    assert kinds(smtp, "anna@example.org") == ["Borrowed"]
    [entry] = outbox(app, kind="due_soon")
    assert entry["status"] == "skipped"


def test_reminders_run_accepts_iso_times_with_and_without_offset(runner):
    assert runner.invoke(args=["reminders", "run", "--now", "2030-01-01T10:00:00"]).exit_code == 0
    assert runner.invoke(args=["reminders", "run", "--now", "2030-01-01T10:00:00Z"]).exit_code == 0
    result = runner.invoke(args=["reminders", "run", "--now", "next tuesday"])
    assert result.exit_code == 2 and "ISO 8601" in result.output


def test_reminders_run_set_wise_over_many_loans(app, runner, smtp):
    """Hundreds of open loans: one run queues one reminder each, a second run none."""
    now = datetime.now(UTC)
    with app.app_context():
        books = [
            circulation.add_book(title=f"Book {i}", author="A", copies_total=1, now=now)
            for i in range(300)
        ]
        readers = [
            circulation.add_reader(name=f"R {i}", email=f"r{i}@example.org", now=now)
            for i in range(100)
        ]
        for i, book in enumerate(books):
            circulation.issue_loan(book.id, readers[i % 100].id, now=now)
        db.session.execute(update(Notification).values(status="sent"))
        db.session.commit()
    assert "Queued 300 due-soon" in remind(runner, now + timedelta(days=10))
    assert "Queued 0 due-soon" in remind(runner, now + timedelta(days=10))
    assert "300 overdue" in remind(runner, now + timedelta(days=15))
    assert len(outbox(app, kind="due_soon")) == 300


# --- Telegram -------------------------------------------------------------------


def test_telegram_reader_gets_send_message_with_chat_id_and_text(
    app, make_book, make_reader, issue, smtp, bot_api
):
    book = make_book(title="Master and Margarita")
    reader = make_reader(email="tg@example.org", telegram_chat_id=777001)
    assert issue(book, reader).status_code == 201
    assert deliver(app).sent == 2
    [text] = bot_api.sent_to(777001)
    assert "Master and Margarita" in text
    assert len(smtp.received("tg@example.org")) == 1  # email as well, always
    assert {e["channel"]: e["recipient"] for e in outbox(app)} == {
        "email": "tg@example.org",
        "telegram": "777001",
    }


def test_telegram_failure_retries_and_a_blocked_bot_fails_at_once(
    app, make_book, make_reader, issue, bot_api
):
    reader = make_reader(telegram_chat_id=5)
    assert issue(make_book(), reader).status_code == 201
    bot_api.fail_with = (502, "Bad Gateway")
    assert deliver(app).retrying == 1
    [entry] = outbox(app, channel="telegram")
    assert entry["status"] == "pending" and "502" in entry["last_error"]
    assert bot_api.token not in entry["last_error"]
    bot_api.fail_with = (403, "Forbidden: bot was blocked by the user")
    assert deliver(app, now=datetime.now(UTC) + timedelta(hours=1)).failed == 1
    [entry] = outbox(app, channel="telegram")
    assert entry["status"] == "failed" and "blocked" in entry["last_error"]


# --- failures, retries, back-off ------------------------------------------------


def test_smtp_down_issue_succeeds_and_mail_arrives_once_smtp_is_back(
    app, make_book, make_reader, issue, smtp
):
    smtp.stop()
    reader = make_reader(email="patient@example.org")
    r = issue(make_book(title="Dead Souls"), reader)
    assert r.status_code == 201  # the mail server never fails a loan
    assert deliver(app).retrying == 1
    [entry] = outbox(app)
    assert entry["status"] == "pending" and entry["attempts"] == 1
    assert "SMTP 127.0.0.1" in entry["last_error"] and "Refused" in entry["last_error"]
    # Not retried before its back-off has passed
    assert deliver(app).retrying == 0 and outbox(app)[0]["attempts"] == 1
    later = datetime.now(UTC) + timedelta(seconds=app.config["NOTIFICATION_RETRY_SECONDS"] + 1)
    assert deliver(app, now=later).retrying == 1
    assert outbox(app)[0]["attempts"] == 2
    smtp.start()
    assert deliver(app, now=later + timedelta(hours=1)).sent == 1
    [mail] = smtp.received("patient@example.org")
    assert mail["Subject"] == "Borrowed: Dead Souls"
    [entry] = outbox(app)
    assert entry["status"] == "sent" and entry["attempts"] == 3
    assert deliver(app, now=later + timedelta(days=1)).sent == 0
    assert len(smtp.received()) == 1


def test_back_off_doubles_and_the_last_attempt_fails_visibly(app, loan, smtp, api):
    smtp.stop()
    app.config.update(NOTIFICATION_MAX_ATTEMPTS=4, NOTIFICATION_RETRY_SECONDS=60)
    now = datetime.now(UTC)
    waits = []
    for _ in range(3):
        assert deliver(app, now=now).retrying == 1
        [entry] = outbox(app)
        waits.append(round((entry["next_attempt_at"] - now).total_seconds()))
        now = entry["next_attempt_at"]
    assert waits == [60, 120, 240]
    assert deliver(app, now=now).failed == 1
    [entry] = outbox(app)
    assert entry["status"] == "failed" and entry["attempts"] == 4
    assert "Refused" in entry["last_error"]
    # Never dropped: listed, and retryable
    r = api.get("/notifications", query_string={"status": "failed"})
    [item] = r.json["items"]
    assert item["id"] == entry["id"] and item["last_error"] == entry["last_error"]
    smtp.start()
    r = api.post(f"/notifications/{entry['id']}/retry")
    assert r.status_code == 200 and r.json["status"] == "pending"
    assert deliver(app).sent == 1
    assert len(smtp.received("anna@example.org")) == 1


def test_a_recipient_the_server_refuses_fails_at_once(app, loan, smtp):
    smtp.reject_with = "550 5.1.1 No such user here"
    assert deliver(app).failed == 1
    [entry] = outbox(app)
    assert entry["status"] == "failed" and entry["attempts"] == 1
    assert "550" in entry["last_error"]


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
@pytest.mark.parametrize("mode", ["starttls", "ssl"])
def test_mail_over_tls_with_login(app, loan, tmp_path, mode):
    server = SmtpServer(mode=mode, login=("library", "s3cret pass"), tmp_path=tmp_path).start()
    try:
        app.config.update(server.config())
        assert deliver(app).sent == 1
        assert len(server.received("anna@example.org")) == 1
    finally:
        server.stop()


def test_wrong_smtp_password_is_retried_not_failed(app, loan, tmp_path):
    server = SmtpServer(mode="starttls", login=("library", "right"), tmp_path=tmp_path).start()
    try:
        app.config.update(server.config(), MAIL_PASSWORD="wrong")
        assert deliver(app).retrying == 1
        [entry] = outbox(app)
        assert entry["status"] == "pending" and entry["last_error"].startswith("SMTP")
        assert "wrong" not in entry["last_error"]  # never a password in an error
    finally:
        server.stop()


# --- the outbox API -------------------------------------------------------------


def test_outbox_api_lists_by_status_newest_first(
    app, loan, api, smtp, make_book, make_reader, issue
):
    deliver(app)
    loan, _, _ = loan
    later = make_reader(name="Later Reader", email="later@example.org")
    assert issue(make_book(title="Later Book"), later).status_code == 201  # queued, not sent
    r = api.get("/notifications")
    assert r.status_code == 200
    newest, item = r.json["items"]
    assert newest["id"] > item["id"]
    assert newest["status"] == "pending" and newest["recipient"] == "later@example.org"
    assert set(item) == {
        "id",
        "channel",
        "recipient",
        "subject",
        "status",
        "attempts",
        "last_error",
        "created_at",
        "sent_at",
    }
    assert item["status"] == "sent" and item["recipient"] == "anna@example.org"
    assert_utc(item["created_at"]) and assert_utc(item["sent_at"])
    pending = api.get("/notifications", query_string={"status": "pending"}).json
    assert [entry["id"] for entry in pending["items"]] == [newest["id"]]
    sent = api.get("/notifications", query_string={"status": "sent"}).json
    assert [entry["id"] for entry in sent["items"]] == [item["id"]]
    assert_problem(
        api.get("/notifications", query_string={"status": "lost"}), 422, "validation_error"
    )


def test_outbox_api_needs_a_token(anon):
    assert_problem(anon.get("/notifications"), 401, "unauthorized")
    assert_problem(anon.post("/notifications/1/retry"), 401, "unauthorized")


def test_retry_refuses_what_has_not_failed(app, loan, api):
    [entry] = outbox(app)
    body = assert_problem(api.post(f"/notifications/{entry['id']}/retry"), 409, "not_failed")
    assert "pending" in body["detail"]
    assert_problem(api.post("/notifications/999999/retry"), 404, "notification_not_found")
    assert outbox(app)[0]["status"] == "pending"


# --- Telegram linking -----------------------------------------------------------

WEBHOOK_SECRET = "webhook-secret-for-tests"


@pytest.fixture
def telegram_reader(app, api, make_reader, bot_api):
    """A reader without Telegram, the bot configured with a webhook secret."""
    app.config["TELEGRAM_WEBHOOK_SECRET"] = WEBHOOK_SECRET
    return make_reader(name="Ivan", email="ivan@example.org")


def new_link(api, reader):
    r = api.post(f"/readers/{reader['id']}/telegram-link")
    assert r.status_code == 201, r.json
    return r


def webhook(client, update, secret=WEBHOOK_SECRET):
    headers = {"X-Telegram-Bot-Api-Secret-Token": secret} if secret is not None else {}
    return client.post("/telegram/webhook", json=update, headers=headers)


def test_link_is_a_one_time_t_me_url_with_a_qr_code(app, api, telegram_reader):
    before = datetime.now(UTC)
    r = new_link(api, telegram_reader)
    body = r.json
    assert body["url"] == f"https://t.me/library_test_bot?start={body['code']}"
    assert 20 <= len(body["code"]) <= 64
    assert set(body["code"]) <= set(
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-"
    )
    expires = assert_utc(body["expires_at"])
    assert timedelta(hours=23, minutes=59) < expires - before <= timedelta(hours=24, minutes=1)
    qr = api.client.get(r.headers["Location"], headers={"Authorization": f"Bearer {api.token}"})
    assert qr.status_code == 200 and qr.mimetype == "image/svg+xml"
    assert b"<svg" in qr.data
    assert new_link(api, telegram_reader).json["code"] != body["code"]  # a new code each time


def test_link_needs_a_configured_bot_and_an_existing_reader(app, api, make_reader):
    reader = make_reader()
    assert_problem(
        api.post(f"/readers/{reader['id']}/telegram-link"), 409, "telegram_not_configured"
    )
    app.config["TELEGRAM_BOT_NAME"] = "library_test_bot"
    assert_problem(api.post("/readers/99999/telegram-link"), 404, "reader_not_found")
    other = make_reader()
    code = new_link(api, reader).json["code"]
    r = api.get(f"/readers/{other['id']}/telegram-link/{code}/qr.svg")
    assert_problem(r, 404, "telegram_link_not_found")


def test_webhook_start_links_the_chat_and_confirms(app, api, client, telegram_reader, bot_api):
    code = new_link(api, telegram_reader).json["code"]
    r = webhook(client, bot_api.start_update(4242, f"/start {code}"))
    assert r.status_code == 200
    assert api.get(f"/readers/{telegram_reader['id']}").json["telegram_chat_id"] == 4242
    deliver(app)
    [confirmation] = bot_api.sent_to(4242)
    assert "Ivan" in confirmation and "linked" in confirmation
    # Telegram delivers the same update again: nothing new happens
    assert webhook(client, bot_api.start_update(4242, f"/start {code}")).status_code == 200
    deliver(app)
    assert len(bot_api.sent_to(4242)) == 1
    # From now on, the reader's notices go to the chat too
    book = api.post("/books", json={"title": "Oblomov", "author": "Goncharov"}).json
    api.post("/loans", json={"book_id": book["id"], "reader_id": telegram_reader["id"]})
    deliver(app)
    assert any("Oblomov" in text for text in bot_api.sent_to(4242))


def test_webhook_with_a_wrong_secret_is_refused_and_changes_nothing(
    app, api, client, telegram_reader, bot_api
):
    code = new_link(api, telegram_reader).json["code"]
    for secret in ("wrong", None, ""):
        r = webhook(client, bot_api.start_update(4242, f"/start {code}"), secret=secret)
        assert_problem(r, 401, "unauthorized")
    assert api.get(f"/readers/{telegram_reader['id']}").json["telegram_chat_id"] is None
    assert outbox(app) == []
    # The code is still good for the real bot
    assert webhook(client, bot_api.start_update(4242, f"/start {code}")).status_code == 200
    assert api.get(f"/readers/{telegram_reader['id']}").json["telegram_chat_id"] == 4242


def test_reused_code_links_nothing(app, api, client, telegram_reader, bot_api):
    code = new_link(api, telegram_reader).json["code"]
    webhook(client, bot_api.start_update(1111, f"/start {code}"))
    webhook(client, bot_api.start_update(2222, f"/start {code}"))  # someone else, same code
    assert api.get(f"/readers/{telegram_reader['id']}").json["telegram_chat_id"] == 1111
    deliver(app)
    [refusal] = bot_api.sent_to(2222)
    assert "expired or was already used" in refusal


def test_expired_code_links_nothing(app, api, client, telegram_reader, bot_api):
    code = new_link(api, telegram_reader).json["code"]
    with app.app_context():
        db.session.execute(
            update(TelegramLink)
            .where(TelegramLink.code == code)
            .values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )
        db.session.commit()
    webhook(client, bot_api.start_update(3333, f"/start {code}"))
    assert api.get(f"/readers/{telegram_reader['id']}").json["telegram_chat_id"] is None
    deliver(app)
    assert "expired" in bot_api.sent_to(3333)[0]


def test_unknown_code_and_other_messages(app, api, client, telegram_reader, bot_api):
    webhook(client, bot_api.start_update(5555, "/start not-a-real-code"))
    webhook(client, bot_api.start_update(5555, "hello bot"))
    assert webhook(client, {"update_id": 1, "edited_message": {}}).status_code == 200
    assert_problem(webhook(client, ["not", "an", "update"]), 400, "bad_request")
    assert api.get(f"/readers/{telegram_reader['id']}").json["telegram_chat_id"] is None
    deliver(app)
    assert len(bot_api.sent_to(5555)) == 1  # only the /start got an answer


def test_polling_get_updates_links_the_chat_once(app, api, make_reader, bot_api):
    reader = make_reader(name="Olga", email="olga@example.org")
    code = new_link(api, reader).json["code"]
    bot_api.push_update(6060, "good morning")
    bot_api.push_update(6060, f"/start {code}")
    with app.app_context():
        assert notifications.poll_telegram() == 2
        assert notifications.poll_telegram() == 0  # the offset moved on
    assert api.get(f"/readers/{reader['id']}").json["telegram_chat_id"] == 6060
    deliver(app)
    assert len(bot_api.sent_to(6060)) == 1 and "Olga" in bot_api.sent_to(6060)[0]
    offsets = [p.get("offset") for m, p in bot_api.calls if m == "getUpdates"]
    assert offsets[0] == 0 and offsets[-1] > 0


def test_no_polling_when_a_webhook_is_set(app, bot_api):
    app.config["TELEGRAM_WEBHOOK_SECRET"] = WEBHOOK_SECRET
    bot_api.push_update(1, "/start x")
    with app.app_context():
        assert notifications.poll_telegram() == 0
    assert bot_api.calls == []


def test_codes_no_database_can_store_link_nothing(app, api, client, telegram_reader, bot_api):
    import json

    for text in ("/start ab\x00c", "/start \ud800x"):
        r = client.post(
            "/telegram/webhook",
            data=json.dumps(bot_api.start_update(7070, text)),  # escapes what UTF-8 cannot hold
            content_type="application/json",
            headers={"X-Telegram-Bot-Api-Secret-Token": WEBHOOK_SECRET},
        )
        assert r.status_code in (200, 400), r.data  # never a 500
    assert api.get(f"/readers/{telegram_reader['id']}").json["telegram_chat_id"] is None


def test_qr_code_needs_the_bot_name_still_set(app, api, telegram_reader):
    r = new_link(api, telegram_reader)
    app.config["TELEGRAM_BOT_NAME"] = None
    assert_problem(
        api.client.get(r.headers["Location"], headers={"Authorization": f"Bearer {api.token}"}),
        409,
        "telegram_not_configured",
    )


@pytest.mark.parametrize("column", ["loan_id", "reader_id", "hold_id", "librarian_id"])
def test_the_outbox_entries_of_a_row_are_found_by_an_index(app, column):
    """What a loan, reader, hold or librarian has in the outbox (and what their foreign
    keys look up) is read from an index, never by reading every entry; the hold and
    librarian indexes skip the NULLs of a loan's notices (migration 0009)."""
    lookup = f"SELECT id FROM notification WHERE {column} = 7"
    with app.app_context():
        if db.engine.dialect.name == "postgresql":
            db.session.execute(sql_text("SET LOCAL enable_seqscan = off"))  # any index wins
            plan = " ".join(db.session.execute(sql_text(f"EXPLAIN {lookup}")).scalars())
            assert "Index" in plan and "Seq Scan" not in plan, plan
            definitions = db.session.execute(
                sql_text("SELECT indexdef FROM pg_indexes WHERE tablename = 'notification'")
            ).scalars()
        else:
            rows = db.session.execute(sql_text(f"EXPLAIN QUERY PLAN {lookup}")).all()
            plan = " ".join(str(row[-1]) for row in rows)
            assert "USING INDEX" in plan or "USING COVERING INDEX" in plan, plan
            definitions = db.session.execute(
                sql_text("SELECT sql FROM sqlite_master WHERE tbl_name = 'notification'")
            ).scalars()
        db.session.rollback()
    partial = [d for d in definitions if d and f"({column})" in d and "WHERE" in d]
    assert bool(partial) == (column in ("hold_id", "librarian_id")), partial

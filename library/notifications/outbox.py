"""The outbox: notifications queued in the caller's transaction (SPEC section 5).

Nothing here sends anything or commits: the event's unit of work commits its
notifications with it, so a message exists exactly when its event does. The worker
(worker.py) delivers them.
"""

from datetime import timedelta

from flask import current_app
from sqlalchemy import (
    String,
    and_,
    case,
    cast,
    func,
    literal,
    select,
    true,
    union_all,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite

from ..circulation.common import on_postgresql, paginate, setting
from ..circulation.errors import NotFailed, NotificationNotFound
from ..circulation.values import valid_id
from ..database import epoch_seconds
from ..extensions import db
from ..models import Book, Hold, Loan, Notification, Reader, utcnow
from ..models.notification import CHANNELS, STATUSES
from ..models.types import UTCDateTime
from .messages import language_of, subject, subject_sql

LIST_STATUSES = STATUSES


def _entry(kind, channel, recipient, language, *, now, title="", **keys):
    entry = Notification(
        kind=kind,
        channel=channel,
        recipient=str(recipient),
        language=language_of(language),
        subject=subject(kind, language, title),
        status="pending",
        attempts=0,
        next_attempt_at=now,
        created_at=now,
        **keys,
    )
    db.session.add(entry)
    return entry


def _for_reader(kind, reader, *, now, title="", **keys):
    """Queue `kind` on every channel the reader has: email, and Telegram when linked."""
    entries = [_entry(kind, "email", reader.email, reader.language, now=now, title=title, **keys)]
    if reader.telegram_chat_id is not None:
        entries.append(
            _entry(
                kind,
                "telegram",
                reader.telegram_chat_id,
                reader.language,
                now=now,
                title=title,
                **keys,
            )
        )
    db.session.flush()
    return entries


def queue_welcome(librarian, *, now):
    """The welcome mail of a newly registered librarian."""
    entry = _entry(
        "welcome", "email", librarian.email, librarian.language, now=now, librarian_id=librarian.id
    )
    db.session.flush()
    return entry


def queue_loan_issued(loan, *, now):
    """Tell the reader what they borrowed and when it is due (on each of their channels).

    On the desk's hot path: one plain multi-row INSERT from the loan, book and reader
    the issue already holds (no ORM objects, no INSERT ... SELECT to build); the set-wise
    reminders below say the same through `subject_sql`. Returns the entries queued.
    """
    reader = loan.reader
    language = language_of(reader.language)
    common = {
        "kind": "loan_issued",
        "subject": subject("loan_issued", language, loan.book.title),
        "language": language,
        "reader_id": reader.id,
        "loan_id": loan.id,
        "due_at": loan.due_at,
        "status": "pending",
        "attempts": 0,
        "next_attempt_at": now,
        "created_at": now,
    }
    rows = [{**common, "channel": "email", "recipient": reader.email}]
    if reader.telegram_chat_id is not None:
        rows.append({**common, "channel": "telegram", "recipient": str(reader.telegram_chat_id)})
    db.session.execute(_NOTIFICATION_ROWS, rows)
    return len(rows)


# The Core table's INSERT: executemany of plain rows, nothing mapped back.
_NOTIFICATION_ROWS = Notification.__table__.insert()


def loan_issued_rows(loans, readers, books, at):
    """What `queue_loan_issued` queues, as one INSERT ... SELECT over the rows of
    `loans`, `readers` and `books` (selectables with those tables' columns, one row
    each: the WITH queries of a statement that issues, circulation/statements.py).

    For PostgreSQL, whose issue is then one statement; `at` is the moment queued. One
    SELECT for both channels keeps the statement short: psycopg converts a statement
    of over 4,096 characters anew at every execution (a third of a millisecond here).
    """
    config = current_app.config
    language = case(  # language_of()
        *((readers.c.language == known, literal(known)) for known in config["LANGUAGES"]),
        else_=literal(config["DEFAULT_LANGUAGE"]),
    )
    # (A VALUES list would make the statement uncacheable: SQLAlchemy compiled it anew
    # each time.)
    channels = union_all(
        *(select(literal(channel, String).label("channel")) for channel in CHANNELS)
    ).subquery("channels")
    email = channels.c.channel == "email"
    moment = cast(at, UTCDateTime)
    rows = (
        select(
            literal("loan_issued"),
            channels.c.channel,
            case((email, readers.c.email), else_=cast(readers.c.telegram_chat_id, String)),
            # subject_sql falls back to the default language as language_of does.
            subject_sql("loan_issued", readers.c.language, books.c.title),
            language,
            readers.c.id,
            loans.c.id,
            loans.c.due_at,
            literal("pending"),
            literal(0),
            moment,
            moment,
        )
        .select_from(loans.join(readers, true()).join(books, true()).join(channels, true()))
        .where(email | readers.c.telegram_chat_id.is_not(None))
    )
    columns = ["kind", "channel", "recipient", "subject", "language", "reader_id"]
    columns += ["loan_id", "due_at", "status", "attempts", "next_attempt_at", "created_at"]
    return (
        Notification.__table__.insert()
        .from_select(columns, rows)
        .returning(Notification.__table__.c.id)
    )


def queue_telegram_reply(kind, chat_id, *, now, reader=None):
    """A message to one Telegram chat (link confirmed, or refused)."""
    language = reader.language if reader is not None else None
    entry = _entry(
        kind, "telegram", chat_id, language, now=now, reader_id=reader.id if reader else None
    )
    db.session.flush()
    return entry


def _insert_ignoring_duplicates(select_stmt, columns):
    """INSERT ... SELECT that skips rows the unique key already has; returns rows added."""
    insert = postgresql.insert if on_postgresql() else sqlite.insert
    stmt = insert(Notification).from_select(columns, select_stmt).on_conflict_do_nothing()
    # SQLAlchemy keeps an INSERT's rowcount only when asked to.
    return db.session.execute(stmt.execution_options(preserve_rowcount=True)).rowcount


def _queue_set(kind, source, keys, where, *, queued_at):
    """Queue `kind` to the reader of every `source` row (a loan or a hold) matching
    `where`, on each of the reader's channels, once per key, set-wise.

    One INSERT ... SELECT per channel: no loan, hold, reader or book is loaded into
    Python, so it costs the same for one loan at the desk and for every open loan at
    night. `keys` maps the entry's key columns (loan_id, hold_id, due_at, period) to
    expressions over `source`.
    """
    base = ["kind", "channel", "recipient", "subject", "language", "reader_id"]
    tail = ["status", "attempts", "next_attempt_at", "created_at"]
    at = literal(queued_at, UTCDateTime)
    added = 0
    for channel, recipient, has_channel in (
        ("email", Reader.email, Reader.email.is_not(None)),
        (
            "telegram",
            cast(Reader.telegram_chat_id, String),
            Reader.telegram_chat_id.is_not(None),
        ),
    ):
        rows = (
            select(
                literal(kind),
                literal(channel),
                recipient,
                subject_sql(kind, Reader.language, Book.title),
                Reader.language,
                source.reader_id,
                *keys.values(),
                literal("pending"),
                literal(0),
                at,
                at,
            )
            .select_from(source)
            .join(Reader, Reader.id == source.reader_id)
            .join(Book, Book.id == source.book_id)
            .where(has_channel, where)
        )
        added += _insert_ignoring_duplicates(rows, [*base, *keys, *tail])
    return added


def _queue_for_open_loans(kind, where, period, *, queued_at):
    keys = {"loan_id": Loan.id, "due_at": Loan.due_at}
    if period is not None:
        keys["period"] = period
    return _queue_set(
        kind, Loan, keys, and_(Loan.returned_at.is_(None), where), queued_at=queued_at
    )


def queue_hold_ready(hold_ids, *, now):
    """Tell each reader whose hold just became ready to pick the copy up by expires_at."""
    if not hold_ids:
        return 0
    keys = {"hold_id": Hold.id, "due_at": Hold.expires_at}
    # Due at once even when `reminders run --now` acts in the future.
    queued_at = min(now, utcnow())
    return _queue_set("hold_ready", Hold, keys, Hold.id.in_(hold_ids), queued_at=queued_at)


def queue_reminders(*, now, queued_at=None):
    """Queue the "due soon" reminders and overdue notices due at `now`.

    Due soon: REMINDER_AFTER_DAYS after issue or the last renewal, while the loan is
    open and not yet due; keyed by (loan, due_at), so a renewal re-arms it. Overdue:
    the notice of period n is due at due_at + n * OVERDUE_NOTICE_EVERY_DAYS; only the
    current period is queued (a scheduler that was down does not send a backlog).
    Each runs as one INSERT ... SELECT per channel; the unique key
    `uq_notification_once_per_period` makes any number of runs queue each message once.
    Returns (due_soon, overdue) counts of entries added.
    """
    queued_at = queued_at or now
    remind_after = timedelta(days=setting("REMINDER_AFTER_DAYS"))
    due_soon = _queue_for_open_loans(
        "due_soon",
        and_(
            Loan.due_at > now,
            func.coalesce(Loan.renewed_at, Loan.issued_at) <= now - remind_after,
        ),
        literal(0),
        queued_at=queued_at,
    )
    every = int(timedelta(days=setting("OVERDUE_NOTICE_EVERY_DAYS")).total_seconds())
    period = (literal(int(now.timestamp())) - epoch_seconds(Loan.due_at)) // every
    overdue = _queue_for_open_loans("overdue", Loan.due_at <= now, period, queued_at=queued_at)
    if due_soon or overdue:
        current_app.logger.info("reminders queued due_soon=%s overdue=%s", due_soon, overdue)
    return due_soon, overdue


def get_notification(notification_id):
    """Raises NotificationNotFound."""
    entry = db.session.get(Notification, notification_id) if valid_id(notification_id) else None
    if entry is None:
        raise NotificationNotFound(notification_id=notification_id)
    return entry


def list_notifications(*, status=None, page=1, per_page=20):
    """A page of outbox entries, newest first, optionally of one status."""
    stmt = select(Notification)
    if status:
        stmt = stmt.where(Notification.status == status)
    return paginate(stmt.order_by(Notification.id.desc()), page, per_page)


def count_by_status():
    rows = db.session.execute(
        select(Notification.status, func.count()).group_by(Notification.status)
    )
    counts = dict.fromkeys(STATUSES, 0)
    counts.update(dict(rows.all()))
    return counts


def retry_notification(notification_id, *, now):
    """Put a failed entry back in the queue, due now, with its attempts reset.

    Raises NotificationNotFound, NotFailed.
    """
    retried = (
        valid_id(notification_id)
        and db.session.execute(
            update(Notification)
            .where(Notification.id == notification_id, Notification.status == "failed")
            .values(status="pending", attempts=0, next_attempt_at=now)
            .execution_options(synchronize_session=False)
        ).rowcount
    )
    entry = get_notification(notification_id)
    db.session.refresh(entry)
    if not retried:
        raise NotFailed(notification_id=notification_id, status=entry.status)
    current_app.logger.info("notification retry id=%s", entry.id)
    return entry

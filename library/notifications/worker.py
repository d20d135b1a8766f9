"""Delivering the outbox: claim due entries, send each, record what happened.

Several workers (CLI or Celery) may run at once. A worker claims a batch with one
conditional UPDATE that pushes `next_attempt_at` past a lease and counts the attempt;
the WHERE clause re-checked under the row lock means two workers never claim the same
entry (PostgreSQL also skips rows another claim holds; SQLite has one writer at a
time). Claims are committed before anything is sent, and each outcome is committed on
its own, so a crash loses at most the lease's wait, never an entry.
"""

import contextlib
import os
import selectors
import signal
from dataclasses import dataclass, field
from datetime import timedelta

from flask import current_app
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from ..circulation.common import setting
from ..extensions import db
from ..models import Hold, Librarian, Loan, Notification, Reader, TelegramPoll, utcnow
from .channels import DeliveryError, Mailer, TelegramBot
from .messages import render_message
from .outbox import queue_reminders
from .telegram import handle_update

REMINDER_KINDS = ("due_soon", "overdue")


@dataclass
class PassReport:
    sent: int = 0
    retrying: int = 0
    failed: int = 0
    skipped: int = 0
    ids: dict = field(default_factory=dict)

    def count(self, outcome, entry_id):
        setattr(self, outcome, getattr(self, outcome) + 1)
        self.ids.setdefault(outcome, []).append(entry_id)

    def __str__(self):
        return (
            f"sent={self.sent} retrying={self.retrying} failed={self.failed} skipped={self.skipped}"
        )


def _claim(*, now, batch):
    """Claim up to `batch` due entries for this worker; returns their ids (committed)."""
    lease_end = now + timedelta(seconds=setting("NOTIFICATION_LEASE_SECONDS"))
    due = (Notification.status == "pending", Notification.next_attempt_at <= now)
    # A materialized CTE, not `id IN (subquery)`: PostgreSQL may run such a subquery
    # once per outer row, and its LIMIT ... SKIP LOCKED then claims far more than
    # `batch` (measured: one worker took every due entry, the other none).
    candidates = (
        select(Notification.id)
        .where(*due)
        .order_by(Notification.next_attempt_at, Notification.id)
        .limit(batch)
        .with_for_update(skip_locked=True)
        .cte("candidates")
        .prefix_with("MATERIALIZED", dialect="postgresql")
    )
    ids = (
        db.session.execute(
            update(Notification)
            .where(Notification.id == candidates.c.id, *due)
            .values(next_attempt_at=lease_end, attempts=Notification.attempts + 1)
            .returning(Notification.id)
            .execution_options(synchronize_session=False)
        )
        .scalars()
        .all()
    )
    db.session.commit()
    return sorted(ids)


def _backoff(attempts):
    """The wait after failed attempt number `attempts`: doubling from the first, capped."""
    seconds = setting("NOTIFICATION_RETRY_SECONDS") * 2 ** (attempts - 1)
    return timedelta(seconds=min(seconds, setting("NOTIFICATION_RETRY_MAX_SECONDS")))


def _skip_reason(entry, loan, hold):
    """Why a reminder, notice or pickup call must not be sent any more, or None."""
    if entry.kind == "hold_ready" and hold is not None:
        return None if hold.status == "ready" else f"hold {hold.status} before delivery"
    if entry.kind not in REMINDER_KINDS or loan is None:
        return None
    if loan.returned_at is not None:
        return "loan returned before delivery"
    if loan.due_at != entry.due_at:
        return "loan renewed before delivery"
    return None


def _context(entry):
    loan = db.session.get(Loan, entry.loan_id) if entry.loan_id else None
    hold = db.session.get(Hold, entry.hold_id) if entry.hold_id else None
    source = loan or hold
    reader = source.reader if source else None
    if reader is None and entry.reader_id:
        reader = db.session.get(Reader, entry.reader_id)
    librarian = db.session.get(Librarian, entry.librarian_id) if entry.librarian_id else None
    return {
        "loan": loan,
        "hold": hold,
        "book": source.book if source else None,
        "reader": reader,
        "librarian": librarian,
    }


def _finish(entry_id, attempts, **values):
    """Record an outcome, if the entry is still ours (same claim, still pending)."""
    db.session.execute(
        update(Notification)
        .where(
            Notification.id == entry_id,
            Notification.status == "pending",
            Notification.attempts == attempts,
        )
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    db.session.commit()


def deliver_one(entry_id, *, now, mailer, bot, report):
    """Send one claimed entry and record the outcome."""
    log = current_app.logger
    entry = db.session.get(Notification, entry_id, populate_existing=True)
    attempts, channel, recipient = entry.attempts, entry.channel, entry.recipient
    ids = f"id={entry_id} kind={entry.kind} channel={channel} attempt={attempts}"
    try:
        context = _context(entry)
        reason = _skip_reason(entry, context["loan"], context["hold"])
        if reason:
            _finish(entry_id, attempts, status="skipped", last_error=reason)
            log.info("notification skipped %s loan=%s: %s", ids, entry.loan_id, reason)
            report.count("skipped", entry_id)
            return
        message = render_message(entry, **context)
        # End the read transaction before talking to a server: on SQLite an open
        # transaction of the worker holds the write lock, and a send may take seconds.
        db.session.commit()
        (mailer if channel == "email" else bot).send(recipient, message, entry_id=entry_id)
    except DeliveryError as exc:
        db.session.rollback()
        if exc.permanent or attempts >= setting("NOTIFICATION_MAX_ATTEMPTS"):
            _finish(entry_id, attempts, status="failed", last_error=str(exc))
            log.warning("notification failed %s: %s", ids, exc)
            report.count("failed", entry_id)
            return
        wait = _backoff(attempts)
        if exc.retry_after:
            wait = max(wait, timedelta(seconds=exc.retry_after))
        _finish(entry_id, attempts, next_attempt_at=now + wait, last_error=str(exc))
        log.warning("notification retry in %ss %s: %s", int(wait.total_seconds()), ids, exc)
        report.count("retrying", entry_id)
        return
    except Exception as exc:
        # A bug or bad data (a template error, a missing row) must neither stop the
        # worker nor lose the entry: it fails, visibly, with the error, and can be retried.
        db.session.rollback()
        log.exception("notification failed %s: unexpected error", ids)
        _finish(entry_id, attempts, status="failed", last_error=f"{type(exc).__name__}: {exc}")
        report.count("failed", entry_id)
        return
    _finish(entry_id, attempts, status="sent", sent_at=utcnow(), last_error=None)
    log.info("notification sent %s to=%s", ids, recipient)
    report.count("sent", entry_id)


def deliver_due(*, now=None, batch=None, stop=None):
    """One pass over every entry whose next attempt is due; returns a PassReport."""
    report = PassReport()
    config = current_app.config
    batch = batch or setting("NOTIFICATION_BATCH")
    mailer, bot = Mailer(config), TelegramBot(config)
    try:
        while not (stop and stop.is_set()):
            claimed = _claim(now=now or utcnow(), batch=batch)
            if not claimed:
                break
            for entry_id in claimed:
                deliver_one(entry_id, now=now or utcnow(), mailer=mailer, bot=bot, report=report)
    finally:
        mailer.close()
        bot.close()
        db.session.remove()
    return report


def poll_telegram(*, now=None):
    """Fetch the bot's new updates with getUpdates and act on them; returns how many.

    For deployments without a public URL (no TELEGRAM_WEBHOOK_SECRET). The updates are
    fetched outside any transaction; then the offset row is locked, and only updates
    at or past the stored offset are handled, their effects committed with the new
    offset: two workers polling at once never handle one update twice.
    """
    config = current_app.config
    if not config.get("TELEGRAM_BOT_TOKEN") or config.get("TELEGRAM_WEBHOOK_SECRET"):
        return 0
    offset = db.session.scalar(select(TelegramPoll.next_offset).where(TelegramPoll.id == 1))
    db.session.commit()
    bot = TelegramBot(config)
    try:
        updates = bot.call("getUpdates", offset=offset or 0, timeout=0, allowed_updates=["message"])
    except DeliveryError as exc:
        current_app.logger.warning("telegram poll failed: %s", exc)
        return 0
    finally:
        bot.close()
    updates = [u for u in updates or [] if isinstance(u, dict) and type(u.get("update_id")) is int]
    if not updates:
        return 0
    poll = db.session.scalar(select(TelegramPoll).where(TelegramPoll.id == 1).with_for_update())
    if poll is None:
        poll = TelegramPoll(id=1, next_offset=0)
        db.session.add(poll)
        try:
            db.session.flush()
        except IntegrityError:  # another worker made the row just now; it handles these
            db.session.rollback()
            return 0
    handled = 0
    for update_ in sorted(updates, key=lambda u: u["update_id"]):
        if update_["update_id"] < poll.next_offset:
            continue
        handle_update(update_, now=now or utcnow())
        poll.next_offset = update_["update_id"] + 1
        handled += 1
    db.session.commit()
    if handled:
        current_app.logger.info("telegram updates handled=%s offset=%s", handled, poll.next_offset)
    return handled


@dataclass(frozen=True)
class ScheduleReport:
    due_soon: int
    overdue: int
    expired_holds: int


def run_reminders(*, now=None):
    """The schedule at `now`: expire ready holds past their pickup deadline (passing
    their copies on), queue due reminders and notices; commit. Returns a ScheduleReport.
    """
    from ..circulation.holds import expire_holds

    now = now or utcnow()
    expired = expire_holds(now=now)
    due_soon, overdue = queue_reminders(now=now, queued_at=utcnow())
    db.session.commit()
    return ScheduleReport(due_soon, overdue, expired)


class StopOnSignal:
    """Set by SIGTERM or SIGINT; `wait(timeout)` returns early once it is.

    A Python signal handler runs in the main thread between two bytecodes, perhaps
    while that thread holds a lock: a handler calling threading.Event.set() deadlocks
    if the signal lands inside the loop's own Event.wait() (the signal module's docs
    warn of it; a worker stopped by SIGTERM once hung so until killed). So the handler
    takes no lock: it sets a flag, and signal.set_wakeup_fd's pipe, written by the
    interpreter as the signal arrives, wakes the wait.
    """

    def __init__(self, *signals):
        self._stopped = False
        self._wakeup, write = os.pipe()
        os.set_blocking(self._wakeup, False)
        os.set_blocking(write, False)
        signal.set_wakeup_fd(write)
        self._selector = selectors.DefaultSelector()
        self._selector.register(self._wakeup, selectors.EVENT_READ)
        for sig in signals:
            signal.signal(sig, self._handle)

    def _handle(self, signum, frame):
        self._stopped = True

    def is_set(self):
        return self._stopped

    def wait(self, timeout):
        if not self._stopped:
            self._selector.select(timeout)
            with contextlib.suppress(BlockingIOError):  # woken by the timeout
                os.read(self._wakeup, 64)
        return self._stopped


def run_worker(*, interval=None, stop=None):
    """Deliver, poll Telegram and run the reminder schedule until stopped: by `stop`
    (a threading.Event, set from another thread) or else by SIGTERM or SIGINT.

    A signal lets the message being sent finish, then the loop ends.
    """
    stop = stop or StopOnSignal(signal.SIGTERM, signal.SIGINT)
    interval = interval or setting("WORKER_INTERVAL_SECONDS")
    log = current_app.logger
    reminders_every = timedelta(minutes=setting("REMINDERS_EVERY_MINUTES"))
    next_reminders = utcnow()
    log.info("notification worker started interval=%ss", interval)
    while not stop.is_set():
        try:
            if utcnow() >= next_reminders:
                run_reminders()
                next_reminders = utcnow() + reminders_every
            poll_telegram()
            report = deliver_due(stop=stop)
            if report.sent or report.failed or report.retrying or report.skipped:
                log.info("notification pass %s", report)
        except Exception:
            # The database may be away for a moment: log it, wait, go on.
            db.session.rollback()
            log.exception("notification worker pass failed")
        finally:
            db.session.remove()
        stop.wait(interval)
    log.info("notification worker stopped")

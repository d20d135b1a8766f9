"""The delivery workers as real processes: `flask notifications deliver` twice at once,
and `flask notifications worker` stopped by SIGTERM."""

import os
import signal
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import func, select

from library import circulation
from library.extensions import db
from library.models import Notification

from .fakes import wait_for

ROOT = Path(__file__).resolve().parent.parent
FLASK = [sys.executable, "-m", "flask", "--app", "wsgi"]


def worker_env(app, smtp, **extra):
    env = dict(os.environ)
    env.update(
        DATABASE_URL=app.config["SQLALCHEMY_DATABASE_URI"],
        SECRET_KEY=app.config["SECRET_KEY"],
        LIBRARY_ENV="testing",
        MAIL_SERVER="127.0.0.1",
        MAIL_PORT=str(smtp.port),
        MAIL_DEFAULT_SENDER="library@library.test",
        PYTHONUNBUFFERED="1",
    )
    env.update({k: str(v) for k, v in extra.items()})
    return env


def issue_many(app, count):
    """`count` loans to `count` readers: one issue mail each."""
    now = datetime.now(UTC)
    with app.app_context():
        for i in range(count):
            book = circulation.add_book(title=f"Book {i}", author="Author", now=now)
            reader = circulation.add_reader(name=f"Reader {i}", email=f"r{i}@example.org", now=now)
            circulation.issue_loan(book.id, reader.id, now=now)
        db.session.commit()


def statuses(app):
    with app.app_context():
        rows = db.session.execute(
            select(Notification.status, func.count()).group_by(Notification.status)
        ).all()
        db.session.rollback()
        return dict(rows)


def test_two_workers_at_once_send_each_message_exactly_once(app, smtp):
    count = 40
    issue_many(app, count)
    smtp.delay = 0.05  # each send takes a while, so the two workers overlap
    env = worker_env(app, smtp, NOTIFICATION_BATCH=1)
    workers = [
        subprocess.Popen(
            [*FLASK, "notifications", "deliver"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    outputs = [w.communicate(timeout=120) for w in workers]
    for worker, (_, err) in zip(workers, outputs, strict=True):
        assert worker.returncode == 0, err
    sent = [int(out.split("Sent ")[1].split(",")[0]) for out, _ in outputs]
    assert sum(sent) == count
    assert all(n > 0 for n in sent), f"the workers did not overlap: {sent} {outputs}"
    recipients = sorted(m["To"] for m in smtp.received())
    assert recipients == sorted(f"r{i}@example.org" for i in range(count))
    assert statuses(app) == {"sent": count}


def test_worker_delivers_then_stops_cleanly_on_sigterm(app, smtp):
    worker = subprocess.Popen(
        [*FLASK, "notifications", "worker", "--interval", "0.2"],
        cwd=ROOT,
        env=worker_env(app, smtp),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        issue_many(app, 1)
        wait_for(lambda: smtp.received("r0@example.org"), timeout=30)
        worker.send_signal(signal.SIGTERM)
        output, _ = worker.communicate(timeout=30)
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.communicate()
    assert worker.returncode == 0, output
    assert "notification worker stopped" in output
    assert len(smtp.received()) == 1
    assert statuses(app) == {"sent": 1}


def test_worker_stops_on_sigterm_without_waiting_out_its_interval(app, smtp):
    """The signal wakes the wait between passes: a worker polling every ten minutes
    still stops at once when the service manager asks, not ten minutes later."""
    worker = subprocess.Popen(
        [*FLASK, "notifications", "worker", "--interval", "600"],
        cwd=ROOT,
        env=worker_env(app, smtp),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        issue_many(app, 1)
        wait_for(lambda: smtp.received("r0@example.org"), timeout=30)  # its first pass
        worker.send_signal(signal.SIGTERM)
        output, _ = worker.communicate(timeout=30)
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.communicate()
    assert worker.returncode == 0, output
    assert "notification worker stopped" in output


STOP_UNDER_SIGNALS = """
import signal, sys, time
from library.notifications.worker import StopOnSignal

stop = StopOnSignal(signal.SIGALRM)
signal.setitimer(signal.ITIMER_REAL, 0.002, 0.002)
waits, end = 0, time.monotonic() + 1
while time.monotonic() < end:
    stop.wait(0)
    waits += 1
signal.setitimer(signal.ITIMER_REAL, 0)
print(waits, stop.is_set())
"""


def test_stop_flag_survives_signals_landing_anywhere_in_its_wait():
    """Hundreds of signals a second, landing wherever the loop happens to be: the
    handler takes no lock, so none of them can deadlock the wait. (A handler calling
    threading.Event.set() here hangs or overflows the stack within the second.)"""
    done = subprocess.run(
        [sys.executable, "-c", STOP_UNDER_SIGNALS],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    waits, stopped = done.stdout.split()
    assert int(waits) > 0 and stopped == "True"

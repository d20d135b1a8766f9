"""Celery on Redis (SPEC section 6): a real worker with embedded beat, on each database.

Each test starts `celery -A wsgi.celery_app worker --pool solo -B` as a subprocess on
the test's database, with its own queue (parallel runs may share the Redis) and the
test's SMTP server, and stops it before the `app` fixture empties the tables.

Redis: REDIS_URL, default redis://127.0.0.1:6379/0. Unreachable, these tests skip with
the reason, except under CI=true, where they fail (as conftest does for PostgreSQL).
"""

import os
import re
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis
from celery import Celery
from sqlalchemy import select

from config import TestConfig
from library.extensions import db
from library.models import Notification
from tests.conftest import IN_CI
from tests.helpers import backdate_loan

ROOT = Path(__file__).resolve().parent.parent
REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
INTERVAL = 1  # WORKER_INTERVAL_SECONDS of the worker under test
START_TIMEOUT = 60
WAIT_TIMEOUT = 30


def _redis_problem(url):
    client = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)
    try:
        client.ping()
        return None
    except redis.RedisError as exc:
        return str(exc).splitlines()[0]
    finally:
        client.close()


@pytest.fixture(scope="module")
def redis_url():
    problem = _redis_problem(REDIS_URL)
    if problem:
        message = f"Redis at {REDIS_URL} is unreachable: {problem}"
        if IN_CI:
            pytest.fail(message + " (CI must run the Celery tests)")
        pytest.skip(message)
    return REDIS_URL


@pytest.fixture
def queue(redis_url):
    """A queue name of this test's own; its keys are removed from Redis afterwards."""
    name = f"library-test-{uuid.uuid4().hex}"
    yield name
    client = redis.Redis.from_url(redis_url)
    try:
        keys = list(client.scan_iter(match=f"*{name}*"))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


@dataclass
class Worker:
    proc: subprocess.Popen
    log_path: Path

    def log(self):
        return self.log_path.read_text(errors="replace")

    def succeeded(self, task, task_id=None):
        """How many runs of `task` (or of the one with `task_id`) the log says succeeded."""
        run = re.escape(task_id) if task_id else "[^]]+"
        pattern = rf"Task {re.escape(task)}\[{run}\] succeeded"
        return len(re.findall(pattern, self.log()))

    def wait_for(self, predicate, what, timeout=WAIT_TIMEOUT):
        """Poll `predicate()` until truthy; fail with the worker's log if it never is."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = predicate()
            if value:
                return value
            if self.proc.poll() is not None:
                pytest.fail(f"the worker exited with {self.proc.returncode}:\n{self.log()}")
            time.sleep(0.1)
        pytest.fail(f"timed out after {timeout}s waiting for {what}; worker log:\n{self.log()}")


def _env_value(value):
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _stop(proc):
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)  # warm shutdown: the running task finishes
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture
def worker(app, smtp, redis_url, queue, tmp_path, request, capsys):
    """`celery -A wsgi.celery_app worker --pool solo -B` on the test's database and queue."""
    env = {
        **os.environ,
        "DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"],
        "CELERY_BROKER_URL": redis_url,
        "CELERY_TASK_DEFAULT_QUEUE": queue,
        "WORKER_INTERVAL_SECONDS": str(INTERVAL),
        "REMINDERS_EVERY_MINUTES": "600",  # beat leaves the reminders to the test
        "SECRET_KEY": "celery-worker-test-key-0123456789abcdef",
        "LIBRARY_ENV": "testing",
        "TELEGRAM_BOT_TOKEN": "",
        "TELEGRAM_WEBHOOK_SECRET": "",
        "PYTHONUNBUFFERED": "1",
        **{name: _env_value(value) for name, value in smtp.config().items()},
    }
    command = [
        sys.executable, "-m", "celery", "-A", "wsgi.celery_app", "worker",
        "--pool", "solo", "--concurrency", "1",
        "--beat", "--schedule", str(tmp_path / "beat-schedule"),
        "--hostname", f"{queue}@%h",
        "--without-gossip", "--without-mingle", "--without-heartbeat",
        "--loglevel", "INFO",
    ]  # fmt: skip
    log_path = tmp_path / "worker.log"
    with open(log_path, "wb") as log_file:
        proc = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=log_file, stderr=subprocess.STDOUT
        )
    failed_before = request.session.testsfailed
    started = Worker(proc, log_path)
    try:
        started.wait_for(lambda: " ready." in started.log(), "the worker", START_TIMEOUT)
        yield started
    finally:
        _stop(proc)
        if request.session.testsfailed > failed_before:
            with capsys.disabled():
                print(f"\n---- celery worker log of {request.node.name} ----")
                print(started.log() or "(empty)")


def _entries(app, **where):
    with app.app_context():
        rows = db.session.scalars(select(Notification).filter_by(**where).order_by(Notification.id))
        found = [
            (e.id, e.kind, e.channel, e.recipient, e.status, e.attempts, e.loan_id) for e in rows
        ]
        db.session.rollback()
        return found


def test_worker_delivers_a_queued_loan_mail_exactly_once(
    app, worker, smtp, make_book, make_reader, issue
):
    book = make_book(title="Master and Margarita")
    reader = make_reader(email="celery.reader@example.org")
    r = issue(book, reader)
    assert r.status_code == 201, r.json

    worker.wait_for(lambda: smtp.received(to=reader["email"]), "the loan mail")
    worker.wait_for(
        lambda: [e for e in _entries(app, kind="loan_issued") if e[4] == "sent"],
        "the entry to be marked sent",
    )
    # Two more delivery passes after it was sent: none of them sends it again.
    passes = worker.succeeded("library.deliver_notifications")
    worker.wait_for(
        lambda: worker.succeeded("library.deliver_notifications") >= passes + 2,
        "two more delivery passes",
    )

    [mail] = smtp.received()
    assert mail["To"] == reader["email"]
    assert "Master and Margarita" in mail["Subject"]
    assert smtp.envelopes == [("library@library.test", [reader["email"]])]
    [entry] = _entries(app)
    assert entry[1:] == ("loan_issued", "email", reader["email"], "sent", 1, r.json["id"])
    assert worker.succeeded("library.poll_telegram") >= 1  # beat polls Telegram too


def test_a_task_sent_by_name_runs_in_the_worker(
    app, worker, smtp, queue, redis_url, make_book, make_reader, issue
):
    reader = make_reader(email="due.soon@example.org")
    loan = issue(make_book(title="The Trial"), reader).json
    backdate_loan(app, loan["id"], days=app.config["REMINDER_AFTER_DAYS"] + 1)

    client = Celery("library-test-client", broker=redis_url, set_as_current=False)
    client.conf.task_default_queue = queue
    try:
        task_id = client.send_task("library.run_reminders").id
    finally:
        client.close()

    worker.wait_for(
        lambda: worker.succeeded("library.run_reminders", task_id), "the run_reminders task"
    )
    assert worker.succeeded("library.run_reminders") == 1  # ours; beat's is hours away
    assert [e[1:4] for e in _entries(app, kind="due_soon")] == [
        ("due_soon", "email", reader["email"])
    ]
    # and the worker delivers the reminder it queued
    worker.wait_for(
        lambda: [m for m in smtp.received(to=reader["email"]) if "Due soon" in m["Subject"]],
        "the due-soon mail",
    )


def test_beat_schedule_follows_the_settings():
    from library.tasks import celery_settings

    config = {name: getattr(TestConfig, name) for name in dir(TestConfig) if name.isupper()}
    config.update(
        CELERY_BROKER_URL="redis://broker.invalid:6379/1",
        WORKER_INTERVAL_SECONDS=7,
        REMINDERS_EVERY_MINUTES=20,
        CELERY_TASK_DEFAULT_QUEUE="library-staging",
    )
    settings = celery_settings(config)
    assert settings["broker_url"] == "redis://broker.invalid:6379/1"
    assert settings["task_default_queue"] == "library-staging"
    assert settings["task_ignore_result"] and settings["task_acks_late"]
    schedule = {
        entry["task"]: entry["schedule"].total_seconds()
        for entry in settings["beat_schedule"].values()
    }
    assert schedule == {
        "library.deliver_notifications": 7,
        "library.poll_telegram": 7,
        "library.run_reminders": 20 * 60,
    }


def test_without_a_broker_celery_is_not_even_imported():
    check = "import sys, wsgi; assert wsgi.celery_app is None; assert 'celery' not in sys.modules"
    result = subprocess.run(
        [sys.executable, "-c", check],
        cwd=ROOT,
        # empty, not unset: a .env file must not fill it in either
        env={**os.environ, "CELERY_BROKER_URL": "", "LIBRARY_ENV": "development"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr

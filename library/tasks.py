"""Celery: notification delivery and the reminder schedule on workers and beat (SPEC 6).

Used only when CELERY_BROKER_URL is set (create_app calls `celery_init_app`); without
it the CLI worker (`flask --app wsgi notifications worker`) does the same work. Each
task is one call into notifications/, run inside the app context (the Flask docs'
"Background Tasks with Celery" pattern). Delivery needs no Celery-side locking: a pass
claims its entries with a lease (notifications/worker.py), so any number of workers,
and a beat tick that overlaps a slow pass, are safe.

    celery -A wsgi.celery_app worker     # runs the tasks
    celery -A wsgi.celery_app beat       # queues them on the schedule
"""

from datetime import timedelta

from celery import Celery, Task, shared_task
from celery.signals import worker_process_init

from . import notifications
from .extensions import db

DEFAULT_QUEUE = "library"


def celery_init_app(app):
    """A Celery app for `app`: its tasks run in `app.app_context()`; kept in app.extensions."""

    class FlaskTask(Task):
        def __call__(self, *args, **kwargs):
            with app.app_context():
                return self.run(*args, **kwargs)

    celery_app = Celery(app.name, task_cls=FlaskTask)
    celery_app.config_from_object(celery_settings(app.config))
    celery_app.set_default()
    app.extensions["celery"] = celery_app

    @worker_process_init.connect(weak=False)
    def _fresh_connections(**_kwargs):
        # A prefork child must not reuse database connections inherited from the parent.
        with app.app_context():
            db.engine.dispose(close=False)

    return celery_app


def celery_settings(config):
    """Celery's settings, from the app config.

    CELERY_TASK_DEFAULT_QUEUE (config.py) names the queue the tasks
    and beat use, so several deployments (or test runs) can share one Redis; any Celery
    setting can be set or overridden with a `CELERY` mapping in the app config.
    """
    interval = int(config["WORKER_INTERVAL_SECONDS"])
    reminders = int(config["REMINDERS_EVERY_MINUTES"]) * 60
    settings = {
        "broker_url": config["CELERY_BROKER_URL"],
        "broker_connection_retry_on_startup": True,
        "task_default_queue": config.get("CELERY_TASK_DEFAULT_QUEUE") or DEFAULT_QUEUE,
        # No result backend: the outcomes live in the outbox table and the worker's log.
        "task_ignore_result": True,
        # A message is acknowledged after its task ran, so a worker that dies mid-pass
        # leaves it for another; one message at a time, so none waits behind a slow pass.
        "task_acks_late": True,
        "worker_prefetch_multiplier": 1,
        "timezone": "UTC",
        "enable_utc": True,
        "beat_schedule": {
            # A tick not started by the next one is redundant: it expires.
            "deliver-notifications": {
                "task": "library.deliver_notifications",
                "schedule": timedelta(seconds=interval),
                "options": {"expires": interval},
            },
            "poll-telegram": {
                "task": "library.poll_telegram",
                "schedule": timedelta(seconds=interval),
                "options": {"expires": interval},
            },
            "run-reminders": {
                "task": "library.run_reminders",
                "schedule": timedelta(seconds=reminders),
                "options": {"expires": reminders},
            },
        },
    }
    settings.update(config.get("CELERY") or {})
    return settings


@shared_task(name="library.deliver_notifications")
def deliver_notifications():
    """One pass over the outbox entries that are due; returns the counts."""
    report = notifications.deliver_due()
    return {
        "sent": report.sent,
        "retrying": report.retrying,
        "failed": report.failed,
        "skipped": report.skipped,
    }


@shared_task(name="library.run_reminders")
def run_reminders():
    """Queue the due-soon reminders and overdue notices that are due (idempotent)."""
    report = notifications.run_reminders()
    return {
        "due_soon": report.due_soon,
        "overdue": report.overdue,
        "expired_holds": report.expired_holds,
    }


@shared_task(name="library.poll_telegram")
def poll_telegram():
    """Handle the bot's new updates (getUpdates); a no-op with a webhook or no bot."""
    return notifications.poll_telegram()

"""Notifications: the outbox, its channels, the worker and Telegram linking (SPEC 5).

Events queue entries with outbox.py in their own transaction; worker.py delivers
them over channels.py; telegram.py links readers' chats.
"""

from .outbox import (
    LIST_STATUSES,
    count_by_status,
    get_notification,
    list_notifications,
    queue_loan_issued,
    queue_reminders,
    queue_welcome,
    retry_notification,
)
from .worker import deliver_due, poll_telegram, run_reminders, run_worker

__all__ = [
    "LIST_STATUSES",
    "count_by_status",
    "deliver_due",
    "get_notification",
    "list_notifications",
    "poll_telegram",
    "queue_loan_issued",
    "queue_reminders",
    "queue_welcome",
    "retry_notification",
    "run_reminders",
    "run_worker",
]

"""/api/v1/notifications: the outbox, and retrying what failed."""

from .. import notifications
from ..extensions import db
from .base import Blueprint, now
from .schemas import NotificationOut, NotificationQuery, page_of

blp = Blueprint(
    "notifications",
    __name__,
    url_prefix="/api/v1/notifications",
    description="The notification outbox",
)


@blp.get("")
@blp.arguments(NotificationQuery, location="query")
@blp.response(200, page_of(NotificationOut))
@blp.problems(422)
@blp.authenticated
def list_notifications(args):
    """Outbox entries, newest first, optionally of one status."""
    return notifications.list_notifications(**args)


@blp.post("/<int:notification_id>/retry")
@blp.response(200, NotificationOut)
@blp.problems(404, 409)
@blp.authenticated
def retry_notification(notification_id):
    """Queue a failed entry again, due now (409 `not_failed` for any other)."""
    entry = notifications.retry_notification(notification_id, now=now())
    db.session.commit()
    return entry

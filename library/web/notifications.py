"""The outbox: what was sent, what waits, what failed and why; retry a failed entry."""

from flask import flash, redirect, request, url_for
from flask_babel import gettext as _

from ..circulation.errors import NotFailed
from ..extensions import db
from ..models import utcnow
from ..notifications import outbox
from . import bp
from .render import is_htmx, render
from .session import login_required, referring_path, safe_next
from .util import page_args

TABS = ("all", *outbox.LIST_STATUSES)


@bp.get("/notifications")
@login_required
def notifications():
    status = request.args.get("status", "all")
    status = status if status in TABS else "all"
    page, per_page = page_args()
    result = outbox.list_notifications(
        status=None if status == "all" else status, page=page, per_page=per_page
    )
    return render(
        "notifications/list.html",
        block="results",
        page=result,
        tab=status,
        counts=outbox.count_by_status(),
        back=request.full_path.rstrip("?"),
    )


@bp.post("/notifications/<int:notification_id>/retry")
@login_required
def retry_notification(notification_id):
    """Queue a failed entry again; htmx gets its row back, now pending, with the outcome.

    An unknown id is a 404 page (NotificationNotFound).
    """
    error = notice = None
    try:
        entry = outbox.retry_notification(notification_id, now=utcnow())
        db.session.commit()
        notice = _("Queued again: the worker will send it on its next pass.")
    except NotFailed:
        db.session.rollback()
        entry = outbox.get_notification(notification_id)
        error = _not_failed_message(entry.status)
    back = safe_next(request.form.get("next") or referring_path() or url_for(".notifications"))
    if not is_htmx():
        flash(error or notice, "error" if error else "success")
        return redirect(back)
    return render(
        "notifications/_row.html",
        status=409 if error else 200,
        entry=entry,
        back=back,
        notice=notice,
        error=error,
    )


def _not_failed_message(status):
    messages = {
        "pending": lambda: _(
            "This message is already waiting to be sent; only a failed one can be retried."
        ),
        "sent": lambda: _("This message has already been sent; only a failed one can be retried."),
        "skipped": lambda: _(
            "This message was skipped because its loan was returned first; "
            "only a failed one can be retried."
        ),
    }
    return messages.get(status, lambda: _("Only a failed message can be retried."))()

"""The dashboard: counts, loans due soon and overdue, the hold shelf, 30 days of activity."""

from .. import circulation
from ..circulation import reports
from ..models import utcnow
from ..notifications.messages import local_date
from . import bp
from .chart import activity_chart
from .render import render
from .session import login_required


@bp.get("/")
@login_required
def dashboard():
    now = utcnow()
    shelf = circulation.hold_shelf()
    today = local_date(now)
    return render(
        "dashboard.html",
        now=now,
        counts=reports.counts(now=now),
        due_soon=reports.loans_due_soon(now=now),
        overdue=reports.overdue_loans(now=now),
        hold_shelf=shelf,
        # The shelf is oldest first, so the holds whose pickup ends first lead it.
        expiring_today=[hold for hold in shelf if local_date(hold.expires_at) == today],
        chart=activity_chart(reports.daily_activity(now=now)),
    )

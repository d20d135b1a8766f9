"""The dashboard: counts, loans due soon and overdue, 30 days of activity."""

from ..circulation import reports
from ..models import utcnow
from . import bp
from .chart import activity_chart
from .render import render
from .session import login_required


@bp.get("/")
@login_required
def dashboard():
    now = utcnow()
    return render(
        "dashboard.html",
        now=now,
        counts=reports.counts(now=now),
        due_soon=reports.loans_due_soon(now=now),
        overdue=reports.overdue_loans(now=now),
        chart=activity_chart(reports.daily_activity(now=now)),
    )

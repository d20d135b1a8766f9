"""GET /healthz: is the app up, and can it reach its database?"""

from flask import Blueprint, current_app
from sqlalchemy import text

from .extensions import db

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():
    try:
        db.session.execute(text("SELECT 1"))
        db.session.rollback()
    except Exception as exc:  # any failure to reach the database means "unavailable"
        db.session.rollback()
        current_app.logger.error("health check: database unreachable: %s", exc)
        return {"status": "unavailable", "database": "unreachable"}, 503
    return {"status": "ok", "database": "ok"}

"""POST /telegram/webhook: the Bot API delivers updates here (SPEC section 5).

Not part of /api/v1: Telegram calls it, not a librarian. When
TELEGRAM_WEBHOOK_SECRET is set, Telegram sends it in a header with every update
(`setWebhook(secret_token=...)`); a request without it is refused and changes nothing.
"""

import hmac

from flask import Blueprint, current_app, request
from flask_babel import gettext as _

from ..extensions import db
from ..models import utcnow
from ..notifications import telegram
from .problems import problem

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"  # noqa: S105 - a header name

bp = Blueprint("telegram", __name__)


@bp.post("/telegram/webhook")
def webhook():
    secret = current_app.config.get("TELEGRAM_WEBHOOK_SECRET")
    given = request.headers.get(SECRET_HEADER, "")
    if secret and not hmac.compare_digest(given.encode(), secret.encode()):
        current_app.logger.warning(
            "telegram webhook refused: wrong secret from %s", request.remote_addr
        )
        return problem(401, "unauthorized", _("The webhook secret token is missing or wrong."))
    update = request.get_json(silent=True)
    if not isinstance(update, dict):
        return problem(400, "bad_request", _("A Telegram update (a JSON object) was expected."))
    telegram.handle_update(update, now=utcnow())
    db.session.commit()
    return {"ok": True}

"""The language switch in the header: the choice is saved on the librarian's account,
so every page follows it on any browser, after signing out and in again too."""

from flask import abort, current_app, redirect, request, session
from flask_babel import get_locale

from ..extensions import db
from ..i18n import LANGUAGE_NAMES, SESSION_KEY
from . import bp
from .render import is_htmx
from .session import referring_path, safe_next, signed_in


@bp.post("/language")
def choose_language():
    """Save the chosen language (`language` = en | ru) and go back to the page it was
    chosen on. Signed out (the sign-in page), the browser's session keeps it."""
    language = request.form.get("language", "")
    if language not in current_app.config["LANGUAGES"]:
        abort(422)
    librarian = signed_in()
    if librarian is not None and librarian.language != language:
        librarian.language = language
        db.session.commit()
        current_app.logger.info("librarian id=%s chose language %s", librarian.id, language)
    session[SESSION_KEY] = language
    return redirect(safe_next(request.form.get("next") or referring_path()))


@bp.app_context_processor
def _language_switch():
    def language_switch():
        """The header switch: each language by its own name, which is current, and the
        page to come back to."""
        if request.method == "GET" and not is_htmx():
            here = request.full_path.rstrip("?")
        else:  # a page answered to a form: back to the page that sent the form
            here = referring_path() or ""
        current = str(get_locale())
        return {
            "languages": [
                (code, LANGUAGE_NAMES.get(code, code), code == current)
                for code in current_app.config["LANGUAGES"]
            ],
            "next": here,
        }

    return {"language_switch": language_switch}

"""What each kind of notification says: its subject, and its body from templates.

Subjects are fixed when an entry is queued (the outbox lists them); bodies are
rendered at delivery from `templates/notifications/<kind>.txt` (and `.html` for
email), in the recipient's language.
"""

from dataclasses import dataclass
from zoneinfo import ZoneInfo

from flask import current_app, render_template
from flask_babel import force_locale, gettext, lazy_gettext
from sqlalchemy import case, literal

SUBJECTS = {
    "welcome": lazy_gettext("Welcome to %(library)s"),
    "loan_issued": lazy_gettext("Borrowed: %(title)s"),
    "due_soon": lazy_gettext("Due soon: %(title)s"),
    "overdue": lazy_gettext("Overdue: %(title)s"),
    "hold_ready": lazy_gettext("Ready for pickup: %(title)s"),
    "telegram_linked": lazy_gettext("Telegram linked to %(library)s"),
    "telegram_refused": lazy_gettext("This link has expired or was already used"),
}
KINDS = tuple(SUBJECTS)
_TITLE = "\x00title\x00"


def language_of(value):
    """`value` if it is a language we have, else DEFAULT_LANGUAGE."""
    languages = current_app.config["LANGUAGES"]
    return value if value in languages else current_app.config["DEFAULT_LANGUAGE"]


def _translate_subject(kind, language, title):
    with force_locale(language):
        return gettext(SUBJECTS[kind], title=title, library=current_app.config["LIBRARY_NAME"])


def subject_parts(kind, language):
    """The translated text before and after the title in the subject of `kind`.

    Kept per app: it changes only with the catalogs and LIBRARY_NAME, and an issue at
    the desk needs it on every loan (gettext under force_locale costs about a
    millisecond).
    """
    language = language_of(language)
    cache = current_app.extensions.setdefault("library.subject_parts", {})
    parts = cache.get((kind, language))
    if parts is None:
        before, _, after = _translate_subject(kind, language, _TITLE).partition(_TITLE)
        parts = cache[(kind, language)] = (before, after)
    return parts


def subject(kind, language, title=""):
    before, after = subject_parts(kind, language)
    return f"{before}{title}{after}"


def subject_sql(kind, language_column, title_column):
    """The subject of `kind` as a SQL expression over a language and a title column.

    For set-wise queueing: the translated text around the title is computed here for
    each language, and the database puts each row's title in between.
    """
    default = language_of(None)
    by_language = {}
    for language in current_app.config["LANGUAGES"]:
        before, after = subject_parts(kind, language)
        by_language[language] = literal(before) + title_column + literal(after)
    return case(
        *((language_column == language, expr) for language, expr in by_language.items()),
        else_=by_language[default],
    )


def local_date(moment):
    """A calendar date in LIBRARY_TIMEZONE, as people read it: YYYY-MM-DD."""
    if moment is None:
        return ""
    zone = ZoneInfo(current_app.config["LIBRARY_TIMEZONE"])
    return moment.astimezone(zone).date().isoformat()


@dataclass(frozen=True)
class Message:
    subject: str
    text: str
    html: str | None


def render_message(entry, **context):
    """The subject and bodies of outbox `entry`, in its language."""
    template = f"notifications/{entry.kind}"
    context.update(
        entry=entry,
        library=current_app.config["LIBRARY_NAME"],
        due_date=local_date(entry.due_at),
    )
    with force_locale(language_of(entry.language)):
        text = render_template(f"{template}.txt", **context).strip() + "\n"
        html = render_template(f"{template}.html", **context) if entry.channel == "email" else None
    return Message(entry.subject, text, html)

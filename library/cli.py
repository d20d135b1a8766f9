"""Command-line tools: `flask --app wsgi librarian|reminders|notifications|demo ...`.

(`db` comes from Flask-Migrate.)
"""

import io
import sys
from datetime import UTC, datetime

import click
from flask import current_app
from flask.cli import AppGroup
from flask_babel import gettext as _
from sqlalchemy import exists, select

from .circulation.errors import LibraryError
from .extensions import db
from .i18n import error_detail, field_message


def register_cli(app):
    app.cli.add_command(librarian_cli)
    app.cli.add_command(demo_cli)
    app.cli.add_command(reminders_cli)
    app.cli.add_command(notifications_cli)
    app.cli.add_command(books_cli)


# AppGroup: each command runs in the app context however it is invoked (`flask ...`,
# or the app's test CLI runner, which does not go through FlaskGroup).
librarian_cli = AppGroup("librarian", help="Manage librarian accounts.")
demo_cli = AppGroup("demo", help="Sample data for trying the app.")
reminders_cli = AppGroup("reminders", help="The reminder schedule.")
notifications_cli = AppGroup("notifications", help="Deliver the notification outbox.")
books_cli = AppGroup("books", help="Move the catalog in and out as CSV.")


class IsoTime(click.ParamType):
    """An ISO 8601 time; without an offset it means UTC (SPEC section 5)."""

    name = "ISO-TIME"

    def convert(self, value, param, ctx):
        if isinstance(value, datetime):
            return value
        try:
            moment = datetime.fromisoformat(value.strip())
        except (ValueError, AttributeError):
            self.fail(
                _(
                    "%(value)r is not an ISO 8601 time (e.g. 2026-11-23T09:00:00Z)",
                    value=value,
                ),
                param,
                ctx,
            )
        return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


@reminders_cli.command("run")
@click.option("--now", type=IsoTime(), help="Act as if it were this time (default: now).")
def reminders_run(now):
    """Expire uncollected holds; queue the due reminders and notices (idempotent)."""
    from .notifications import run_reminders

    report = run_reminders(now=now)
    click.echo(
        _(
            "Queued %(due_soon)s due-soon reminder(s) and %(overdue)s overdue notice(s); "
            "expired %(holds)s hold(s).",
            due_soon=report.due_soon,
            overdue=report.overdue,
            holds=report.expired_holds,
        )
    )


@notifications_cli.command("deliver")
@click.option("--now", type=IsoTime(), help="Act as if it were this time (default: now).")
def notifications_deliver(now):
    """Make one pass over every outbox entry whose next attempt is due."""
    from .notifications import deliver_due

    report = deliver_due(now=now)
    click.echo(
        _(
            "Sent %(sent)s, retrying %(retrying)s, failed %(failed)s, skipped %(skipped)s.",
            sent=report.sent,
            retrying=report.retrying,
            failed=report.failed,
            skipped=report.skipped,
        )
    )


@notifications_cli.command("worker")
@click.option(
    "--interval",
    type=click.FloatRange(min=0.1),
    help="Seconds between passes (default: WORKER_INTERVAL_SECONDS).",
)
def notifications_worker(interval):
    """Deliver, poll Telegram and run the reminders, in a loop until SIGTERM or Ctrl-C."""
    from .notifications import run_worker

    run_worker(interval=interval)


@librarian_cli.command("create")
@click.option("--email", prompt=True)
@click.option("--name", default="", help="Shown in the app.")
@click.password_option(help="8 to 128 characters; asked for when not given.")
@click.option("--admin", is_flag=True, help="May manage other librarians.")
def create_librarian(email, name, password, admin):
    """Create a librarian account (works even when registration is closed)."""
    from .api.schemas import RegisterIn
    from .auth.passwords import hash_password
    from .models import Librarian, utcnow
    from .notifications import queue_welcome

    errors = RegisterIn().validate({"email": email, "password": password, "name": name})
    if errors:
        raise click.BadParameter(_reason(errors))
    email = email.strip().lower()
    if db.session.scalar(select(exists().where(Librarian.email == email))):
        raise click.ClickException(
            _("A librarian with email %(email)s already exists.", email=email)
        )
    first = not db.session.scalar(select(exists().where(Librarian.id.is_not(None))))
    librarian = Librarian(
        email=email,
        name=name,
        password_hash=hash_password(password),
        is_admin=admin or first,
        is_active=True,
        created_at=utcnow(),
    )
    db.session.add(librarian)
    db.session.flush()
    queue_welcome(librarian, now=librarian.created_at)
    db.session.commit()
    message = (
        _("Created admin %(email)s (id %(id)s).", email=email, id=librarian.id)
        if librarian.is_admin
        else _("Created librarian %(email)s (id %(id)s).", email=email, id=librarian.id)
    )
    click.echo(message)


@demo_cli.command("seed")
@click.option(
    "--email", default="demo@library.test", show_default=True, help="The demo librarian's email."
)
@click.option(
    "--password",
    default="demo-library",
    show_default=True,
    help="The demo librarian's password (a local demo only).",
)
def seed(email, password):
    """Fill an empty database with a sample catalog, readers and loans."""
    from .demo import seed_demo

    if current_app.config["LIBRARY_ENV"] == "production":
        raise click.ClickException(_("demo seed is for trying the app, not for production."))
    try:
        summary = seed_demo(librarian_email=email, librarian_password=password)
    except LibraryError as exc:
        db.session.rollback()
        raise click.ClickException(error_detail(exc)) from exc
    db.session.commit()
    click.echo(summary)


@books_cli.command("import")
@click.argument("file", type=click.File("r", encoding="utf-8-sig"))
def books_import(file):
    """Add the books of a CSV FILE in UTF-8 (`-` for standard input; header: title,
    author, isbn, year, description, copies_total; any common delimiter). Rejected rows
    are listed with their line number and reason; the others are imported. Exit status 1
    if any row was rejected.
    """
    from .circulation.catalog import import_books, read_rows
    from .models import utcnow

    try:
        if not file.seekable():  # standard input: read once, to be sniffed and counted
            file = io.StringIO(file.read())
        total = _count_lines(file)  # reads it all: an undecodable file imports nothing
        rows = read_rows(file)
        with click.progressbar(length=total, label=_("Importing"), file=sys.stderr) as bar:
            report = import_books(rows, now=utcnow(), progress=bar.update)
    except LibraryError as exc:
        raise click.ClickException(error_detail(exc)) from exc
    except UnicodeDecodeError as exc:
        raise click.ClickException(
            _("The file is not UTF-8 text; save it as UTF-8 and import it again.")
        ) from exc
    for line, errors in report.rejected:
        click.echo(_("line %(line)s: %(reason)s", line=line, reason=_reason(errors)), err=True)
    click.echo(
        _(
            "Imported %(imported)s book(s); rejected %(rejected)s row(s).",
            imported=report.imported,
            rejected=len(report.rejected),
        )
    )
    if report.rejected:
        raise SystemExit(1)


def _reason(errors):
    """Why values were refused, in the CLI's language: `isbn: ...; year: ...`."""
    return "; ".join(
        f"{column}: {' '.join(map(_message, messages))}" for column, messages in errors.items()
    )


def _message(message):
    return error_detail(message) if isinstance(message, LibraryError) else field_message(message)


def _count_lines(file):
    count = sum(1 for _ in file) - 1
    file.seek(0)
    return max(count, 0)


@books_cli.command("export")
@click.option(
    "--output",
    "-o",
    type=click.File("w", encoding="utf-8"),
    default="-",
    help="Write to this file (default: standard output).",
)
def books_export(output):
    """Write the catalog (withdrawn books left out) as CSV."""
    from .circulation.catalog import export_books

    count = export_books(output)
    click.echo(_("Exported %(count)s book(s).", count=count), err=True)

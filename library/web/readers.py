"""Readers: search, add, edit, delete; a reader's page with the issue box (and a hold
when no copy is left), the reader's holds and the Telegram link."""

from flask import abort, current_app, flash, make_response, redirect, request, url_for
from flask_babel import format_date
from flask_babel import gettext as _
from flask_jwt_extended import current_user

from .. import circulation
from ..api.problems import status_of
from ..circulation.errors import LibraryError, NotFoundError, TelegramNotConfigured
from ..circulation.values import is_storable, isbn_or_none
from ..extensions import db
from ..i18n import error_detail
from ..models import utcnow
from ..notifications import telegram
from . import bp
from .forms import IssueForm, ReaderForm
from .holds import hold_message
from .render import is_htmx, render
from .session import login_required
from .util import field_error, form_status, page_args

FIELDS = ("name", "email", "phone", "card_number", "telegram_chat_id", "language")


@bp.get("/readers")
@login_required
def readers():
    q = request.args.get("q", "").strip()
    page, per_page = page_args()
    result = circulation.search_readers(q=q, page=page, per_page=per_page)
    return render("readers/list.html", block="results", page=result, q=q)


@bp.route("/readers/new", methods=["GET", "POST"])
@login_required
def new_reader():
    form = ReaderForm()
    if form.validate_on_submit():
        try:
            reader = circulation.add_reader(now=utcnow(), **{f: form[f].data for f in FIELDS})
            db.session.commit()
        except LibraryError as exc:
            db.session.rollback()
            field_error(form, exc, default="email")
        else:
            flash(
                _("Registered %(name)s, card %(card)s.", name=reader.name, card=reader.card_number),
                "success",
            )
            return redirect(url_for(".reader_detail", reader_id=reader.id))
    return render("readers/form.html", form=form, reader=None, status=form_status(form))


@bp.route("/readers/<int:reader_id>/edit", methods=["GET", "POST"])
@login_required
def edit_reader(reader_id):
    reader = circulation.get_reader(reader_id)
    form = ReaderForm(obj=reader)
    if form.validate_on_submit():
        try:
            reader = circulation.update_reader(
                reader_id, {f: form[f].data for f in FIELDS}, now=utcnow()
            )
            db.session.commit()
        except LibraryError as exc:
            db.session.rollback()
            field_error(form, exc, default="email")
        else:
            flash(_("Saved %(name)s.", name=reader.name), "success")
            return redirect(url_for(".reader_detail", reader_id=reader.id))
    return render("readers/form.html", form=form, reader=reader, status=form_status(form))


@bp.post("/readers/<int:reader_id>/delete")
@login_required
def delete_reader(reader_id):
    try:
        reader = circulation.get_reader(reader_id)
        circulation.delete_reader(reader_id, now=utcnow())
        db.session.commit()
    except LibraryError as exc:
        db.session.rollback()
        if exc.code == "reader_not_found":
            abort(404)
        flash(error_detail(exc), "error")
        return redirect(url_for(".reader_detail", reader_id=reader_id))
    flash(_("Deleted %(name)s; their loan history is kept.", name=reader.name), "success")
    return redirect(url_for(".readers"))


@bp.get("/readers/<int:reader_id>")
@login_required
def reader_detail(reader_id):
    reader = circulation.get_reader(reader_id)
    # After a full-page "Link Telegram", the new link comes back here by its code.
    link = _telegram_link(reader.id, request.args.get("telegram"))
    return _reader_page(reader, IssueForm(), telegram_link=link)


@bp.post("/readers/<int:reader_id>/telegram")
@login_required
def reader_telegram(reader_id):
    """A new one-time Telegram link for the reader: the t.me URL and its QR code."""
    reader = circulation.get_reader(reader_id)
    try:
        link = telegram.create_link(reader.id, now=utcnow())
        db.session.commit()
    except TelegramNotConfigured:
        db.session.rollback()
        error = _(
            "Telegram is not set up in this library: an administrator must set "
            "TELEGRAM_BOT_NAME and TELEGRAM_BOT_TOKEN first."
        )
        return _reader_page(reader, block="telegram", status=409, telegram_error=error)
    if not is_htmx():
        return redirect(url_for(".reader_detail", reader_id=reader.id, telegram=link.code))
    return _reader_page(reader, block="telegram", telegram_link=link)


@bp.get("/readers/<int:reader_id>/telegram/<code>.svg")
@login_required
def reader_telegram_qr(reader_id, code):
    """The QR code of one of the reader's Telegram links; 404 for anyone else's code."""
    link = _telegram_link(reader_id, code)
    if link is None:
        abort(404)
    response = make_response(telegram.qr_svg(telegram.link_url(link.code)))
    response.content_type = "image/svg+xml"
    response.headers["Cache-Control"] = "private, no-store"  # it carries a one-time code
    return response


def _telegram_link(reader_id, code):
    """The reader's link with this code, or None.

    None too for a code no database can hold, and once Telegram is no longer set up
    (a link without a bot name has no URL).
    """
    if not code or len(code) > 64 or not is_storable(code):
        return None
    if not current_app.config.get("TELEGRAM_BOT_NAME"):
        return None
    try:
        return telegram.get_link(reader_id, code)
    except NotFoundError:
        return None


@bp.post("/readers/<int:reader_id>/issue")
@login_required
def issue(reader_id):
    """Issue by a scanned ISBN (or a chosen book); words list matching books to choose."""
    reader = circulation.get_reader(reader_id)
    form = IssueForm()
    form.validate()
    book_id = form.book_id.data
    query = form.q.data or ""
    matches = None
    if book_id is None and (isbn := isbn_or_none(query)):
        book = circulation.find_book_by_isbn(isbn)
        if book is None:
            form.q.errors = [_("No book in the catalog has ISBN %(isbn)s.", isbn=isbn)]
            return _reader_page(reader, form, status=404)
        book_id = book.id
    if book_id is None:
        if not query:
            form.q.errors = [_("Scan an ISBN or type words of a title.")]
            return _reader_page(reader, form, status=422)
        matches = circulation.search_books(q=query, per_page=10)
        if not matches.items:
            form.q.errors = [_("No book matches “%(q)s”.", q=query)]
            return _reader_page(reader, form, status=404)
        return _reader_page(reader, form, matches=matches)
    try:
        loan = circulation.issue_loan(book_id, reader.id, now=utcnow(), actor_id=current_user.id)
        db.session.commit()
    except LibraryError as exc:
        db.session.rollback()
        form.q.errors = [_issue_message(exc)]
        # No copy to issue: the reader can join the book's queue instead.
        offer = book_id if exc.code in ("book_unavailable", "book_on_hold") else None
        return _reader_page(
            circulation.get_reader(reader_id), form, status=status_of(exc), hold_book_id=offer
        )
    message = _(
        "Issued “%(title)s”, due %(due)s.", title=loan.book.title, due=format_date(loan.due_at)
    )
    if not is_htmx():
        flash(message, "success")
        return redirect(url_for(".reader_detail", reader_id=reader_id))
    return _reader_page(circulation.get_reader(reader_id), IssueForm(formdata=None), notice=message)


@bp.post("/readers/<int:reader_id>/holds")
@login_required
def place_hold(reader_id):
    """Put the reader in the queue of the book the issue box could not issue."""
    reader = circulation.get_reader(reader_id)
    form = IssueForm()
    form.validate()
    if form.book_id.data is None:
        form.q.errors = [_("Choose the book to place a hold on.")]
        return _reader_page(reader, form, status=422)
    try:
        hold = circulation.place_hold(
            form.book_id.data, reader.id, now=utcnow(), actor_id=current_user.id
        )
        db.session.commit()
    except LibraryError as exc:
        db.session.rollback()
        form.q.errors = [hold_message(exc)]
        return _reader_page(circulation.get_reader(reader_id), form, status=status_of(exc))
    message = _(
        "Placed a hold on “%(title)s”: number %(position)s in the queue.",
        title=hold.book.title,
        position=hold.position,
    )
    if not is_htmx():
        flash(message, "success")
        return redirect(url_for(".reader_detail", reader_id=reader_id))
    return _reader_page(reader, IssueForm(formdata=None), notice=message)


def _reader_page(
    reader,
    form=None,
    status=200,
    matches=None,
    notice=None,
    block="circulation",
    telegram_link=None,
    telegram_error=None,
    hold_book_id=None,
):
    now = utcnow()
    open_loans = circulation.list_loans(now=now, reader_id=reader.id, status="open", per_page=100)
    history = circulation.list_loans(now=now, reader_id=reader.id, status="returned", per_page=50)
    holds = circulation.list_holds(reader_id=reader.id, status="active", per_page=100).items
    return render(
        "readers/detail.html",
        block=block,
        status=status,
        reader=reader,
        form=form or IssueForm(formdata=None),
        open_loans=open_loans,
        history=history,
        holds=holds,
        ended_holds=_ended_holds(reader.id),
        hold_book_id=hold_book_id,
        matches=matches,
        notice=notice,
        telegram_link=telegram_link,
        telegram_url=telegram_link and telegram.link_url(telegram_link.code),
        telegram_error=telegram_error,
        now=now,
    )


def _ended_holds(reader_id, count=10):
    """The reader's latest holds that ended (fulfilled, cancelled, expired), newest first.

    Holds come oldest first, so the latest are on the last page (and the one before,
    when the last is short).
    """
    per_page = 50
    first = circulation.list_holds(reader_id=reader_id, per_page=per_page)
    items = first.items
    last = max(1, -(-first.total // per_page))
    if last > 1:
        items = [
            *circulation.list_holds(reader_id=reader_id, page=last - 1, per_page=per_page).items,
            *circulation.list_holds(reader_id=reader_id, page=last, per_page=per_page).items,
        ]
    return [h for h in reversed(items) if h.status not in ("waiting", "ready")][:count]


def _issue_message(exc):
    messages = {
        "loan_limit_reached": lambda: _(
            "This reader already has %(limit)s books on loan, the most allowed. "
            "A book must come back first.",
            limit=exc.params.get("limit"),
        ),
        "book_unavailable": lambda: _("No copy of this book is on the shelf."),
        "book_on_hold": lambda: _(
            "Every copy of this book is kept for readers who are waiting for it."
        ),
        "already_borrowed": lambda: _("This reader already has this book on loan."),
        "book_not_found": lambda: _("That book is not in the catalog."),
    }
    return messages.get(exc.code, lambda: error_detail(exc))()


def _date(value):
    return format_date(value)

"""Books: live search, paging, add, edit, withdraw; a book's page with its queue."""

from flask import abort, flash, redirect, request, url_for
from flask_babel import gettext as _

from .. import circulation
from ..circulation.errors import LibraryError
from ..extensions import db
from ..i18n import error_detail
from ..models import utcnow
from . import bp
from .forms import BookForm
from .render import render
from .session import login_required
from .util import field_error, form_status, page_args

FIELDS = ("title", "author", "isbn", "year", "description", "copies_total")


@bp.get("/books")
@login_required
def books():
    q = request.args.get("q", "").strip()
    available = {"true": True, "false": False}.get(request.args.get("available", ""))
    page, per_page = page_args()
    result = circulation.search_books(q=q, available=available, page=page, per_page=per_page)
    return render("books/list.html", block="results", page=result, q=q, available=available)


@bp.route("/books/new", methods=["GET", "POST"])
@login_required
def new_book():
    form = BookForm()
    if form.validate_on_submit():
        try:
            book = circulation.add_book(now=utcnow(), **{f: form[f].data for f in FIELDS})
            db.session.commit()
        except LibraryError as exc:
            db.session.rollback()
            field_error(form, exc, default="isbn")
        else:
            flash(_("Added “%(title)s”.", title=book.title), "success")
            return redirect(url_for(".book_detail", book_id=book.id))
    return render("books/form.html", form=form, book=None, status=form_status(form))


@bp.get("/books/<int:book_id>")
@login_required
def book_detail(book_id):
    book = circulation.get_book(book_id)
    loans = circulation.list_loans(now=utcnow(), book_id=book.id, per_page=50)
    queue = circulation.list_holds(book_id=book.id, status="active", per_page=100)
    return render("books/detail.html", book=book, loans=loans, queue=queue, now=utcnow())


@bp.route("/books/<int:book_id>/edit", methods=["GET", "POST"])
@login_required
def edit_book(book_id):
    book = circulation.get_book(book_id)
    form = BookForm(obj=book)
    if form.validate_on_submit():
        try:
            book = circulation.update_book(book_id, {f: form[f].data for f in FIELDS}, now=utcnow())
            db.session.commit()
        except LibraryError as exc:
            db.session.rollback()
            field_error(form, exc, default="title")
        else:
            flash(_("Saved “%(title)s”.", title=book.title), "success")
            return redirect(url_for(".book_detail", book_id=book.id))
    return render("books/form.html", form=form, book=book, status=form_status(form))


@bp.post("/books/<int:book_id>/withdraw")
@login_required
def withdraw_book(book_id):
    try:
        book = circulation.get_book(book_id)
        circulation.withdraw_book(book_id, now=utcnow())
        db.session.commit()
    except LibraryError as exc:
        db.session.rollback()
        if exc.code == "book_not_found":
            abort(404)
        flash(error_detail(exc), "error")
        return redirect(url_for(".book_detail", book_id=book_id))
    flash(_("Withdrew “%(title)s” from the catalog.", title=book.title), "success")
    return redirect(url_for(".books"))

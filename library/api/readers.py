"""/api/v1/readers: patrons and their loans."""

from flask import Response, url_for

from .. import circulation
from ..extensions import db
from ..notifications import telegram
from .base import Blueprint, now
from .schemas import (
    HoldOut,
    HoldStatusQuery,
    LoanOut,
    LoanStatusQuery,
    ReaderIn,
    ReaderOut,
    ReaderPatch,
    ReaderPut,
    ReaderQuery,
    TelegramLinkOut,
    page_of,
)

blp = Blueprint("readers", __name__, url_prefix="/api/v1/readers", description="Readers")


@blp.get("")
@blp.arguments(ReaderQuery, location="query")
@blp.response(200, page_of(ReaderOut))
@blp.problems(422)
@blp.authenticated
def list_readers(args):
    """Search readers by name word starts, email, or exact card number."""
    return circulation.search_readers(**args)


@blp.post("")
@blp.arguments(ReaderIn)
@blp.response(201, ReaderOut)
@blp.problems(409, 422)
@blp.authenticated
def create_reader(args):
    """Register a reader; without `card_number` the next free one is assigned."""
    reader = circulation.add_reader(now=now(), **args)
    db.session.commit()
    return reader, 201, {"Location": url_for(".get_reader", reader_id=reader.id)}


@blp.get("/<int:reader_id>")
@blp.response(200, ReaderOut)
@blp.problems(404)
@blp.authenticated
def get_reader(reader_id):
    """One reader."""
    return circulation.get_reader(reader_id)


@blp.put("/<int:reader_id>")
@blp.arguments(ReaderPut)
@blp.response(200, ReaderOut)
@blp.problems(404, 409, 422)
@blp.authenticated
def replace_reader(args, reader_id):
    """Replace a reader's fields."""
    reader = circulation.update_reader(reader_id, args, now=now())
    db.session.commit()
    return reader


@blp.patch("/<int:reader_id>")
@blp.arguments(ReaderPatch)
@blp.response(200, ReaderOut)
@blp.problems(404, 409, 422)
@blp.authenticated
def update_reader(args, reader_id):
    """Change some of a reader's fields."""
    reader = circulation.update_reader(reader_id, args, now=now())
    db.session.commit()
    return reader


@blp.delete("/<int:reader_id>")
@blp.response(204)
@blp.problems(404, 409)
@blp.authenticated
def delete_reader(reader_id):
    """Delete a reader with no open loan; their loan history stays readable."""
    circulation.delete_reader(reader_id, now=now())
    db.session.commit()


@blp.get("/<int:reader_id>/loans")
@blp.arguments(LoanStatusQuery, location="query")
@blp.response(200, page_of(LoanOut))
@blp.problems(404, 422)
@blp.authenticated
def reader_loans(args, reader_id):
    """A reader's loans, newest first (`status=open` for what they hold now)."""
    circulation.get_reader(reader_id)
    return circulation.list_loans(now=now(), reader_id=reader_id, **args)


@blp.get("/<int:reader_id>/holds")
@blp.arguments(HoldStatusQuery, location="query")
@blp.response(200, page_of(HoldOut))
@blp.problems(404, 422)
@blp.authenticated
def reader_holds(args, reader_id):
    """A reader's holds, oldest first (`status=active` for the ones still open)."""
    circulation.get_reader(reader_id)
    return circulation.list_holds(reader_id=reader_id, **args)


@blp.post("/<int:reader_id>/telegram-link")
@blp.response(201, TelegramLinkOut)
@blp.problems(404, 409)
@blp.authenticated
def create_telegram_link(reader_id):
    """A one-time `t.me` link (24 hours) that links the reader's Telegram chat.

    `Location` is its QR code (SVG). 409 `telegram_not_configured` without a bot.
    """
    link = telegram.create_link(reader_id, now=now())
    db.session.commit()
    body = {"url": telegram.link_url(link.code), "code": link.code, "expires_at": link.expires_at}
    location = url_for(".telegram_link_qr", reader_id=reader_id, code=link.code)
    return body, 201, {"Location": location}


@blp.get("/<int:reader_id>/telegram-link/<link_code:code>/qr.svg")
@blp.response(
    200,
    {"type": "string"},
    description="The QR code of the link (SVG)",
    content_type="image/svg+xml",
)
@blp.problems(404, 409)
@blp.authenticated
def telegram_link_qr(reader_id, code):
    """The QR code of a reader's Telegram link, as SVG, to show or print."""
    link = telegram.get_link(reader_id, code)
    svg = telegram.qr_svg(telegram.link_url(link.code))
    return Response(svg, mimetype="image/svg+xml", headers={"Cache-Control": "private, no-store"})

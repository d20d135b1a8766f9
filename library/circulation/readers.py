"""Readers (patrons): register, change, delete, search."""

from sqlalchemy import func, or_, select, update
from sqlalchemy.exc import IntegrityError

from ..extensions import db
from ..models import Reader
from .books import words_match
from .common import paginate, setting, violated
from .errors import CardTaken, EmailTaken, ReaderHasLoans, ReaderNotFound
from .values import AUTO_CARD_WIDTH, fold, is_card_number, valid_id

EDITABLE = ("name", "email", "phone", "telegram_chat_id", "language", "card_number")
CARD_ATTEMPTS = 5


def get_reader(reader_id):
    """The reader `reader_id`.

    Raises ReaderNotFound (also for a deleted reader).
    """
    reader = db.session.get(Reader, reader_id) if valid_id(reader_id) else None
    if reader is None or reader.deleted_at is not None:
        raise ReaderNotFound(reader_id=reader_id)
    return reader


def find_reader_by_card(card_number):
    """The active reader whose card this is, or None (a scan at the desk)."""
    if not is_card_number(card_number):
        return None
    return db.session.scalar(
        select(Reader).where(Reader.card_number == card_number, Reader.deleted_at.is_(None))
    )


def search_readers(q=None, page=1, per_page=20):
    """A page of readers by name; `q` matches name word starts, email, or a card exactly."""
    stmt = select(Reader).where(Reader.deleted_at.is_(None))
    q = (q or "").replace("\x00", "").strip()  # NUL: no stored text has one
    if q:
        conditions = [Reader.email == q.lower(), Reader.card_number == q]
        if "@" in q:
            conditions.append(Reader.email.startswith(q.lower(), autoescape=True))
        if fold(q):
            conditions.append(words_match(Reader.search_text, q))
        stmt = stmt.where(or_(*conditions))
    return paginate(stmt.order_by(Reader.name, Reader.id), page, per_page)


def _ensure_unique(email=None, card_number=None, reader_id=None):
    active = Reader.deleted_at.is_(None)
    others = Reader.id != reader_id if reader_id else True
    if email is not None and db.session.scalar(
        select(Reader.id).where(Reader.email == email, active, others).limit(1)
    ):
        raise EmailTaken(email=email)
    if card_number is not None and db.session.scalar(
        select(Reader.id).where(Reader.card_number == card_number, others).limit(1)
    ):
        raise CardTaken(card_number=card_number)


def next_card_number():
    """One more than the highest card number of the automatic width (8 digits)."""
    highest = db.session.scalar(
        select(func.max(Reader.card_number)).where(
            func.length(Reader.card_number) == AUTO_CARD_WIDTH
        )
    )
    number = int(highest) + 1 if highest else 1
    return str(number).zfill(AUTO_CARD_WIDTH)


def _flush_reader(reader):
    # The savepoint lets a lost race on a card number be retried in the same
    # transaction (begin_nested flushes what is already pending before it starts).
    try:
        with db.session.begin_nested():
            db.session.add(reader)
            db.session.flush()
    except IntegrityError as exc:
        if violated(exc, "card_number"):
            raise CardTaken(card_number=reader.card_number) from exc
        if violated(exc, "email"):
            raise EmailTaken(email=reader.email) from exc
        raise


def add_reader(
    *, name, email, now, phone=None, telegram_chat_id=None, card_number=None, language=None
):
    """Register a reader; without `card_number` the next free one is assigned.

    Raises EmailTaken, CardTaken.
    """
    _ensure_unique(email=email, card_number=card_number)
    reader = Reader(
        name=name,
        email=email,
        phone=phone,
        telegram_chat_id=telegram_chat_id,
        language=language or setting("DEFAULT_LANGUAGE"),
        card_number=card_number,
        created_at=now,
        updated_at=now,
    )
    if card_number is not None:
        _flush_reader(reader)
        return reader
    # Two desks may pick the same next number at once: the unique index decides,
    # and the loser takes the number after.
    for attempt in range(CARD_ATTEMPTS):
        reader.card_number = next_card_number()
        try:
            _flush_reader(reader)
            return reader
        except CardTaken:
            if attempt == CARD_ATTEMPTS - 1:
                raise
    raise AssertionError("unreachable")


def update_reader(reader_id, changes, *, now):
    """Change the given fields of a reader.

    Raises ReaderNotFound, EmailTaken, CardTaken.
    """
    reader = get_reader(reader_id)
    _ensure_unique(
        email=changes.get("email"), card_number=changes.get("card_number"), reader_id=reader.id
    )
    for field in EDITABLE:
        if field in changes:
            value = changes[field]
            if field in ("card_number", "language") and value is None:
                continue  # required columns: "none given" keeps what is there
            setattr(reader, field, value)
    reader.updated_at = now
    _flush_reader(reader)
    return reader


def delete_reader(reader_id, *, now):
    """Hide a reader from lists, search and issue; their loan history stays.

    Raises ReaderNotFound, ReaderHasLoans.
    """
    if not valid_id(reader_id):
        raise ReaderNotFound(reader_id=reader_id)
    deleted = db.session.execute(
        update(Reader)
        .where(Reader.id == reader_id, Reader.deleted_at.is_(None), Reader.open_loans == 0)
        .values(deleted_at=now, updated_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount
    if not deleted:
        get_reader(reader_id)
        raise ReaderHasLoans(reader_id=reader_id)
    # Nobody will pick up what this reader waited for: the queue moves on.
    from .holds import cancel_holds_of_reader  # holds build on this module

    cancel_holds_of_reader(reader_id, now=now)

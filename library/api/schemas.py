"""marshmallow schemas: they validate requests, shape responses and make the OpenAPI
document (flask-smorest), so the three can never disagree."""

import marshmallow as ma
from marshmallow import EXCLUDE, fields, post_load, validate, validates_schema

from ..circulation.books import COUNT_CAP
from ..circulation.holds import STATUSES as HOLD_STATUSES
from ..circulation.loans import STATUSES
from ..circulation.values import (
    CARD_NUMBER_RE,
    MAX_ID,
    NOT_AN_ISBN,
    YEAR_MIN,
    is_storable,
    parse_isbn,
    year_max,
)
from ..i18n import LANGUAGE_NAMES
from ..models import utcnow
from ..models.notification import STATUSES as NOTIFICATION_STATUSES

LANGUAGES = tuple(LANGUAGE_NAMES)  # a reader's `language`


class Schema(ma.Schema):
    class Meta:
        # Fields the server owns (id, created_at...) may come back in a PUT of what a
        # GET returned; they are ignored rather than refused.
        unknown = EXCLUDE
        ordered = True


class Out(Schema):
    """A response body: every field is always there (null only where `allow_none`).

    The fields are marked required for the OpenAPI document alone (marshmallow checks
    `required` on load, never on dump), so that a client, and the schemathesis test,
    can count on them.
    """

    def on_bind_field(self, field_name, field_obj):
        field_obj.required = True


def _storable(text):
    """Refuse text no database can keep (NUL, unpaired surrogates) as a 422, not a 500."""
    if not is_storable(text):
        raise ma.ValidationError("Must not contain NUL characters or unpaired surrogates.")
    return text


class Text(fields.String):
    """A string of input: whatever the field, one the database can store."""

    def _deserialize(self, value, attr, data, **kwargs):
        return _storable(super()._deserialize(value, attr, data, **kwargs))


class Trimmed(Text):
    """A string with surrounding whitespace removed before validation."""

    def _deserialize(self, value, attr, data, **kwargs):
        return super()._deserialize(value, attr, data, **kwargs).strip()


class OptionalText(Trimmed):
    """Trimmed text where nothing left means none: stored as null, as the desk's form and
    `books import` store an empty description, so that all three agree."""

    def deserialize(self, value, attr=None, data=None, **kwargs):
        # After validation, which would refuse None where a length is checked; and only
        # "", not marshmallow's (falsy) `missing`, which a PATCH leaving it out gives.
        result = super().deserialize(value, attr, data, **kwargs)
        return None if result == "" else result


class Email(fields.Email):
    """An email address, compared and stored in lower case."""

    def __init__(self, **kwargs):
        super().__init__(validate=validate.Length(max=254), **kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, str):
            value = _storable(value).strip()
        return super()._deserialize(value, attr, data, **kwargs).lower()


class Isbn(Text):
    """ISBN-10 or ISBN-13, hyphens allowed, checked and stored as 13 digits."""

    def __init__(self, **kwargs):
        super().__init__(
            metadata={
                "description": "ISBN-10 or ISBN-13; returned as 13 digits",
                "example": "9785170878833",
            },
            **kwargs,
        )

    def _deserialize(self, value, attr, data, **kwargs):
        text = super()._deserialize(value, attr, data, **kwargs).strip()
        if not text:
            return None
        if len(text) > 20:
            raise ma.ValidationError(NOT_AN_ISBN)
        try:
            return parse_isbn(text)
        except ValueError as exc:
            raise ma.ValidationError(str(exc)) from exc


def _year_in_range(value):
    if not YEAR_MIN <= value <= year_max():
        # The wording of a FIELD_TEMPLATES entry (library/i18n.py), so it is translated.
        raise ma.ValidationError(f"Must be between {YEAR_MIN} and {year_max()}.")


def Id(**kwargs):  # noqa: N802 - a field factory, named like the fields it makes
    return fields.Integer(strict=True, validate=validate.Range(min=1), **kwargs)


def Name(**kwargs):  # noqa: N802
    return Trimmed(validate=validate.Length(min=1, max=300), **kwargs)


# ---- problems ---------------------------------------------------------------


class FieldError(Out):
    field = fields.String()
    message = fields.String()


class Problem(Schema):
    """RFC 9457 problem details, with our stable `code`."""

    type = fields.String(required=True, metadata={"example": "about:blank"})
    title = fields.String(required=True, metadata={"example": "Conflict"})
    status = fields.Integer(required=True, metadata={"example": 409})
    detail = fields.String(
        required=True, metadata={"example": "Reader 7 already has 3 books on loan."}
    )
    code = fields.String(required=True, metadata={"example": "loan_limit_reached"})
    errors = fields.List(fields.Nested(FieldError), metadata={"description": "422 only"})


# ---- paging -------------------------------------------------------------------


class PageArgs(Schema):
    page = fields.Integer(strict=False, load_default=1, validate=validate.Range(min=1, max=MAX_ID))
    per_page = fields.Integer(
        strict=False, load_default=20, validate=validate.Range(min=1, max=100)
    )


_page_schemas = {}


def page_of(item_schema, *, capped=False):
    """The schema of a page of `item_schema`: `{items, page, per_page, total}`.

    A `capped` list (the books) counts its items only up to a cap, and adds
    `total_capped`.
    """
    name = item_schema.__name__.removesuffix("Out") + "Page"
    if name not in _page_schemas:
        fields_of_page = {
            "items": fields.List(fields.Nested(item_schema)),
            "page": fields.Integer(),
            "per_page": fields.Integer(),
            "total": fields.Integer(),
        }
        if capped:
            fields_of_page["total"] = fields.Integer(
                metadata={"description": f"items counted, up to {COUNT_CAP}"}
            )
            fields_of_page["total_capped"] = fields.Boolean(
                metadata={"description": "true: more than `total` items match"}
            )
        _page_schemas[name] = type(name, (Out,), fields_of_page)
    return _page_schemas[name]


# ---- auth --------------------------------------------------------------------------


class RegisterIn(Schema):
    email = Email(required=True)
    password = Text(required=True, validate=validate.Length(min=8, max=128), load_only=True)
    name = Trimmed(validate=validate.Length(max=300), allow_none=True)


class LoginIn(Schema):
    """JSON `{email, password}`, or the OAuth2 password form `username` + `password`."""

    email = Text(validate=validate.Length(max=254))
    username = Text(validate=validate.Length(max=254))
    password = Text(required=True, validate=validate.Length(max=1024), load_only=True)

    @validates_schema
    def _needs_an_email(self, data, **kwargs):
        if not (data.get("email") or data.get("username")):
            raise ma.ValidationError("Give `email` (or `username`).", "email")

    @post_load
    def _email(self, data, **kwargs):
        return {
            "email": (data.get("email") or data["username"]).strip().lower(),
            "password": data["password"],
        }


class TokenOut(Out):
    access_token = fields.String()
    token_type = fields.String(metadata={"example": "bearer"})
    expires_in = fields.Integer(metadata={"description": "seconds"})


class LibrarianOut(Out):
    id = fields.Integer()
    email = fields.String()
    name = fields.String()
    is_admin = fields.Boolean()
    is_active = fields.Boolean()
    created_at = fields.DateTime()


# ---- books ---------------------------------------------------------------------------


class BookIn(Schema):
    title = Name(required=True)
    author = Name(required=True)
    isbn = Isbn(allow_none=True, load_default=None)
    year = fields.Integer(strict=True, allow_none=True, load_default=None, validate=_year_in_range)
    description = OptionalText(
        allow_none=True, load_default=None, validate=validate.Length(max=5000)
    )
    copies_total = fields.Integer(
        strict=True, load_default=1, validate=validate.Range(min=0, max=10_000)
    )


class BookRow(BookIn):
    """A row of `books import`: text cells, where an empty cell means "not given"."""

    year = fields.Integer(allow_none=True, load_default=None, validate=_year_in_range)
    copies_total = fields.Integer(load_default=1, validate=validate.Range(min=0, max=10_000))

    @ma.pre_load
    def _empty_cells(self, data, **_kwargs):
        return {k: v for k, v in data.items() if k and v is not None and str(v).strip() != ""}


class BookPut(BookIn):
    """A full replacement: fields left out are emptied, and the copy count is required."""

    copies_total = fields.Integer(
        strict=True, required=True, validate=validate.Range(min=0, max=10_000)
    )


class BookPatch(Schema):
    title = Name()
    author = Name()
    isbn = Isbn(allow_none=True)
    year = fields.Integer(strict=True, allow_none=True, validate=_year_in_range)
    description = OptionalText(allow_none=True, validate=validate.Length(max=5000))
    copies_total = fields.Integer(strict=True, validate=validate.Range(min=0, max=10_000))


class BookOut(Out):
    id = fields.Integer()
    title = fields.String()
    author = fields.String()
    isbn = fields.String(allow_none=True, metadata={"description": "13 digits, or null"})
    year = fields.Integer(allow_none=True)
    description = fields.String(allow_none=True)
    copies_total = fields.Integer()
    copies_available = fields.Integer()
    created_at = fields.DateTime()
    updated_at = fields.DateTime()


class BookQuery(PageArgs):
    q = Text(
        validate=validate.Length(max=200),
        metadata={"description": "title/author word starts, or an ISBN"},
    )
    available = fields.Boolean(metadata={"description": "true: on the shelf; false: none"})


# ---- readers -------------------------------------------------------------------------


def _card_number(**kwargs):
    return Text(
        validate=validate.Regexp(CARD_NUMBER_RE, error="A card number is 4 to 20 digits."),
        metadata={"example": "00000042"},
        **kwargs,
    )


def _chat_id(**kwargs):
    return fields.Integer(strict=True, validate=validate.Range(min=-MAX_ID, max=MAX_ID), **kwargs)


class ReaderIn(Schema):
    name = Name(required=True)
    email = Email(required=True)
    phone = Trimmed(allow_none=True, load_default=None, validate=validate.Length(max=40))
    telegram_chat_id = _chat_id(allow_none=True, load_default=None)
    card_number = _card_number(allow_none=True, load_default=None)
    language = Text(allow_none=True, load_default=None, validate=validate.OneOf(LANGUAGES))


class ReaderPut(ReaderIn):
    """A full replacement; the card number and language stay when left out."""


class ReaderPatch(Schema):
    name = Name()
    email = Email()
    phone = Trimmed(allow_none=True, validate=validate.Length(max=40))
    telegram_chat_id = _chat_id(allow_none=True)
    card_number = _card_number()
    language = Text(validate=validate.OneOf(LANGUAGES))


class ReaderOut(Out):
    id = fields.Integer()
    card_number = fields.String()
    name = fields.String()
    email = fields.String()
    phone = fields.String(allow_none=True)
    telegram_chat_id = fields.Integer(allow_none=True)
    language = fields.String()
    open_loans = fields.Integer()
    created_at = fields.DateTime()
    updated_at = fields.DateTime()


class ReaderQuery(PageArgs):
    q = Text(
        validate=validate.Length(max=200),
        metadata={"description": "name word starts, email, or card number"},
    )


# ---- loans ---------------------------------------------------------------------------


class LoanIn(Schema):
    book_id = Id(required=True)
    reader_id = Id(required=True)


class LoanBook(Out):
    id = fields.Integer()
    title = fields.String()
    author = fields.String()
    isbn = fields.String(allow_none=True)


class LoanReader(Out):
    id = fields.Integer()
    name = fields.String()
    email = fields.String()


class LoanOut(Out):
    id = fields.Integer()
    book_id = fields.Integer()
    reader_id = fields.Integer()
    book = fields.Nested(LoanBook)
    reader = fields.Nested(LoanReader)
    issued_at = fields.DateTime()
    due_at = fields.DateTime()
    returned_at = fields.DateTime(allow_none=True)
    renewals = fields.Integer()
    status = fields.String(metadata={"enum": ["open", "returned"]})
    overdue = fields.Method("_overdue", metadata={"type": "boolean"})
    issued_by = fields.Integer(allow_none=True)
    returned_by = fields.Integer(allow_none=True)

    def _overdue(self, loan):
        return loan.is_overdue(utcnow())


class LoanStatusQuery(PageArgs):
    status = Text(load_default="all", validate=validate.OneOf(STATUSES))


class LoanQuery(LoanStatusQuery):
    reader_id = fields.Integer(validate=validate.Range(min=1))
    book_id = fields.Integer(validate=validate.Range(min=1))


class Health(Schema):
    status = fields.String()
    database = fields.String()


class NotificationOut(Out):
    id = fields.Integer()
    channel = fields.String(metadata={"enum": ["email", "telegram"]})
    recipient = fields.String(metadata={"description": "the email address, or the chat id"})
    subject = fields.String()
    status = fields.String(metadata={"enum": list(NOTIFICATION_STATUSES)})
    attempts = fields.Integer()
    last_error = fields.String(allow_none=True)
    created_at = fields.DateTime()
    sent_at = fields.DateTime(allow_none=True)


class NotificationQuery(PageArgs):
    status = Text(validate=validate.OneOf(NOTIFICATION_STATUSES))


class TelegramLinkOut(Out):
    url = fields.String(metadata={"example": "https://t.me/library_bot?start=Zm9v"})
    code = fields.String()
    expires_at = fields.DateTime()


class HoldOut(Out):
    id = fields.Integer()
    book_id = fields.Integer()
    reader_id = fields.Integer()
    book = fields.Nested(LoanBook)
    reader = fields.Nested(LoanReader)
    position = fields.Integer(
        allow_none=True, metadata={"description": "place in the queue (1 = next), while waiting"}
    )
    status = fields.String(metadata={"enum": list(HOLD_STATUSES)})
    placed_at = fields.DateTime()
    ready_at = fields.DateTime(allow_none=True)
    expires_at = fields.DateTime(
        allow_none=True, metadata={"description": "pickup deadline of a ready hold"}
    )


class HoldStatusQuery(PageArgs):
    status = Text(validate=validate.OneOf([*HOLD_STATUSES, "active"]))


class HoldQuery(HoldStatusQuery):
    reader_id = fields.Integer(validate=validate.Range(min=1))
    book_id = fields.Integer(validate=validate.Range(min=1))

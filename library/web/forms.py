"""The pages' forms (Flask-WTF): the same limits and parsers as the API's schemas."""

from flask import current_app
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from marshmallow import ValidationError as MarshmallowError
from marshmallow import validate as ma_validate
from wtforms import (
    EmailField,
    HiddenField,
    IntegerField,
    PasswordField,
    SelectChoice,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.validators import EqualTo, InputRequired, Length, NumberRange, Optional, Regexp
from wtforms.validators import ValidationError as FormError

from ..circulation.values import (
    CARD_NUMBER_RE,
    COPIES_MAX,
    DESCRIPTION_MAX,
    EMAIL_MAX,
    MAX_ID,
    NAME_MAX,
    PASSWORD_MAX,
    PASSWORD_MIN,
    YEAR_MIN,
    is_storable,
    parse_isbn,
    year_max,
)
from ..i18n import LANGUAGE_NAMES, field_message


def strip(value):
    return value.strip() if isinstance(value, str) else value


def lower(value):
    return value.lower() if isinstance(value, str) else value


def empty_to_none(value):
    return value or None


def email_address(form, field):
    try:
        ma_validate.Email()(field.data)
    except MarshmallowError as exc:
        raise FormError(_l("Enter a valid email address.")) from exc


def valid_isbn(form, field):
    if field.data:
        try:
            field.data = parse_isbn(field.data)
        except ValueError as exc:
            raise FormError(field_message(str(exc))) from exc


def publication_year(form, field):
    if field.data is not None and not YEAR_MIN <= field.data <= year_max():
        raise FormError(_l("Between %(low)s and %(high)s.", low=YEAR_MIN, high=year_max()))


class Form(FlaskForm):
    """A page's form: text no database can store is refused beside its field."""

    def validate(self, extra_validators=None):
        valid = super().validate(extra_validators)
        for field in self:
            if isinstance(field.data, str) and not is_storable(field.data):
                field.errors = [*field.errors, _l("Contains characters that cannot be stored.")]
                valid = False
        return valid


def required():
    return InputRequired(message=_l("This field is required."))


class LoginForm(Form):
    email = EmailField(
        _l("Email"), filters=[strip, lower], validators=[required(), Length(max=EMAIL_MAX)]
    )
    password = PasswordField(_l("Password"), validators=[required(), Length(max=1024)])
    next = HiddenField()


class RegisterForm(Form):
    name = StringField(_l("Your name"), filters=[strip], validators=[Length(max=NAME_MAX)])
    email = EmailField(
        _l("Email"),
        filters=[strip, lower],
        validators=[required(), Length(max=EMAIL_MAX), email_address],
    )
    password = PasswordField(
        _l("Password"),
        validators=[
            required(),
            Length(
                min=PASSWORD_MIN,
                max=PASSWORD_MAX,
                message=_l("From %(min)d to %(max)d characters."),
            ),
        ],
    )
    confirm = PasswordField(
        _l("Repeat the password"),
        validators=[required(), EqualTo("password", message=_l("The passwords differ."))],
    )


class BookForm(Form):
    title = StringField(
        _l("Title"), filters=[strip], validators=[required(), Length(min=1, max=NAME_MAX)]
    )
    author = StringField(
        _l("Author"), filters=[strip], validators=[required(), Length(min=1, max=NAME_MAX)]
    )
    isbn = StringField(
        _l("ISBN"), filters=[strip, empty_to_none], validators=[Length(max=20), valid_isbn]
    )
    year = IntegerField(_l("Year"), validators=[Optional(), publication_year])
    description = TextAreaField(
        _l("Description"), filters=[strip, empty_to_none], validators=[Length(max=DESCRIPTION_MAX)]
    )
    copies_total = IntegerField(
        _l("Copies"),
        default=1,
        validators=[required(), NumberRange(min=0, max=COPIES_MAX)],
    )


class ReaderForm(Form):
    name = StringField(
        _l("Name"), filters=[strip], validators=[required(), Length(min=1, max=NAME_MAX)]
    )
    email = EmailField(
        _l("Email"),
        filters=[strip, lower],
        validators=[required(), Length(max=EMAIL_MAX), email_address],
    )
    phone = StringField(_l("Phone"), filters=[strip, empty_to_none], validators=[Length(max=40)])
    card_number = StringField(
        _l("Card number"),
        filters=[strip, empty_to_none],
        description=_l("4 to 20 digits; leave empty to assign the next free number."),
        validators=[
            Optional(),
            Regexp(CARD_NUMBER_RE, message=_l("A card number is 4 to 20 digits.")),
        ],
    )
    telegram_chat_id = IntegerField(
        _l("Telegram chat id"), validators=[Optional(), NumberRange(min=-MAX_ID, max=MAX_ID)]
    )
    language = SelectField(
        _l("Language of notifications"),
        choices=[SelectChoice(code, name) for code, name in LANGUAGE_NAMES.items()],
        default=lambda: current_app.config["DEFAULT_LANGUAGE"],
    )


class IssueForm(Form):
    """The issue box of a reader's page: a scanned ISBN, or words of a title."""

    q = StringField(_l("Issue a book: scan an ISBN or type a title"), filters=[strip])
    book_id = IntegerField(validators=[Optional()])

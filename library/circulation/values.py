"""Parsing and normalising of values, shared by the API schemas and the web forms."""

import re
from datetime import UTC, datetime

from stdnum import isbn as stdnum_isbn
from stdnum.exceptions import InvalidChecksum, InvalidLength
from stdnum.exceptions import ValidationError as StdnumError

from .errors import N_

MAX_ID = 2**63 - 1
# Field limits of SPEC section 2, shared by the API schemas and the web forms.
NAME_MAX = 300
DESCRIPTION_MAX = 5000
YEAR_MIN = 1450
COPIES_MAX = 10_000
EMAIL_MAX = 254
PASSWORD_MIN, PASSWORD_MAX = 8, 128
CARD_NUMBER_RE = re.compile(r"^[0-9]{4,20}$")
AUTO_CARD_WIDTH = 8
_WORD_RE = re.compile(r"\w+")

# Why an ISBN was refused, in words we translate (python-stdnum's own are English only).
NOT_AN_ISBN = N_("Not a valid ISBN-10 or ISBN-13.")
ISBN_REASONS = {
    InvalidChecksum: N_("Not a valid ISBN: its check digit is wrong."),
    InvalidLength: N_("Not a valid ISBN: it has 10 or 13 digits."),
}


def is_storable(text):
    """Whether every database can keep this text: no NUL, no unpaired surrogate.

    PostgreSQL refuses NUL in text, and a lone surrogate cannot be encoded at all; such
    input must be refused as invalid before it reaches the database.
    """
    if "\x00" in text:
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def parse_isbn(value):
    """Return the ISBN-13 (digits only) of an ISBN-10 or ISBN-13; ValueError if invalid,
    its message one of NOT_AN_ISBN and ISBN_REASONS."""
    try:
        return stdnum_isbn.to_isbn13(stdnum_isbn.validate(value))
    except StdnumError as exc:
        reason = next((m for cls, m in ISBN_REASONS.items() if isinstance(exc, cls)), NOT_AN_ISBN)
        raise ValueError(reason) from exc


def isbn_or_none(text):
    """The ISBN-13 that `text` spells, or None: used to route a search or a scan."""
    if not text or len(text) > 40:
        return None
    try:
        return parse_isbn(text.strip())
    except ValueError:
        return None


def is_card_number(text):
    return bool(text) and CARD_NUMBER_RE.fullmatch(text) is not None


def fold(text):
    """Case- and ё-folded words of `text`, the form search compares in."""
    return _WORD_RE.findall((text or "").casefold().replace("ё", "е"))


# The longest word search keeps: PostgreSQL's search column refuses a word of over
# 2,047 bytes, and 511 characters of up to 4 bytes fit. Only casefolding makes a word
# longer than a title's 300 characters (the ligature "ﬃ" folds to "ffi").
WORD_MAX = 511


def search_text(*parts):
    """The stored search column: folded words, space-separated, with a leading space;
    a word of more than WORD_MAX characters is left out.

    A query word `w` matches a word that starts with it as `LIKE '% w%'`, on SQLite and
    PostgreSQL alike (SQLite's LIKE folds only ASCII case, so both sides are folded here).
    """
    words = [w for part in parts for w in fold(part) if len(w) <= WORD_MAX]
    return " " + " ".join(words) if words else ""


def like_escape(word):
    return word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def valid_id(value):
    """Ids beyond 63 bits exist nowhere; the database must not be asked about them."""
    return isinstance(value, int) and 0 < value <= MAX_ID


def year_max():
    """The latest publication year accepted: next year (books are announced ahead)."""
    return datetime.now(UTC).year + 1

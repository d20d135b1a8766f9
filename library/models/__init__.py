"""The data model. Invariants are named database constraints, not checks in code."""

from .book import Book
from .hold import Hold
from .idempotency import IdempotencyKey
from .librarian import Librarian, RevokedToken
from .loan import Loan
from .notification import Notification, TelegramLink, TelegramPoll
from .reader import Reader
from .types import utcnow

__all__ = [
    "Book",
    "Hold",
    "IdempotencyKey",
    "Librarian",
    "Loan",
    "Notification",
    "Reader",
    "RevokedToken",
    "TelegramLink",
    "TelegramPoll",
    "utcnow",
]

"""The data model. Invariants are named database constraints, not checks in code."""

from .book import Book
from .librarian import Librarian, RevokedToken
from .loan import Loan
from .reader import Reader
from .types import utcnow

__all__ = ["Book", "Librarian", "Loan", "Reader", "RevokedToken", "utcnow"]

"""THE domain: the rules of circulation, as plain functions.

Both faces (the JSON API and the web pages) call these. They take ids, values, `now`
and the acting librarian's id; they flush and raise LibraryError subclasses; they never
commit, and never look at a request. The caller's unit of work commits once.
"""

from .books import add_book, find_book_by_isbn, get_book, search_books, update_book, withdraw_book
from .common import Page
from .errors import ConflictError, InvalidError, LibraryError, NotFoundError
from .holds import (
    cancel_hold,
    expire_holds,
    get_hold,
    hold_shelf,
    list_holds,
    place_hold,
)
from .loans import (
    STATUSES,
    get_loan,
    issue_loan,
    list_loans,
    renew_loan,
    return_book,
    return_loan,
)
from .readers import (
    add_reader,
    delete_reader,
    find_reader_by_card,
    get_reader,
    search_readers,
    update_reader,
)

__all__ = [
    "STATUSES",
    "ConflictError",
    "InvalidError",
    "LibraryError",
    "NotFoundError",
    "Page",
    "add_book",
    "add_reader",
    "cancel_hold",
    "delete_reader",
    "expire_holds",
    "find_book_by_isbn",
    "find_reader_by_card",
    "get_book",
    "get_hold",
    "get_loan",
    "get_reader",
    "hold_shelf",
    "issue_loan",
    "list_holds",
    "list_loans",
    "place_hold",
    "renew_loan",
    "return_book",
    "return_loan",
    "search_books",
    "search_readers",
    "update_book",
    "update_reader",
    "withdraw_book",
]

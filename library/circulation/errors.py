"""The domain's errors: one class per rule, each with a stable `code`.

Each face maps the hierarchy once (api/problems.py to a status). The message is a
template filled from keyword arguments, so it can be translated as a whole: `N_`
marks it for `pybabel extract`, and the faces translate it, then fill it in
(library/i18n.py `error_detail`). The `code` never changes with the language.
"""


def N_(message):  # noqa: N802 - the conventional name of gettext's no-op marker
    """Mark `message` for translation without translating it (this module has no locale)."""
    return message


class LibraryError(Exception):
    code = "library_error"
    message = N_("The request could not be completed.")
    field = None  # the input that caused it, for a message beside that field

    def __init__(self, message=None, /, **params):
        self.params = params
        if message is not None:
            self.message = message
        super().__init__(self.detail)

    @property
    def detail(self):
        return self.message.format(**self.params)


class NotFoundError(LibraryError):
    code = "not_found"
    message = N_("Not found.")


class ConflictError(LibraryError):
    code = "conflict"


class InvalidError(LibraryError):
    code = "validation_error"


class BookNotFound(NotFoundError):
    code = "book_not_found"
    message = N_("Book {book_id} does not exist.")
    field = "book_id"


class ReaderNotFound(NotFoundError):
    code = "reader_not_found"
    message = N_("Reader {reader_id} does not exist.")
    field = "reader_id"


class LoanNotFound(NotFoundError):
    code = "loan_not_found"
    message = N_("Loan {loan_id} does not exist.")


class LibrarianNotFound(NotFoundError):
    code = "librarian_not_found"
    message = N_("Librarian {librarian_id} does not exist.")


class AlreadyBorrowed(ConflictError):
    code = "already_borrowed"
    message = N_("Reader {reader_id} already has book {book_id} on loan.")
    field = "book_id"


class LoanLimitReached(ConflictError):
    code = "loan_limit_reached"
    message = N_("Reader {reader_id} already has {limit} books on loan, the most allowed.")
    field = "reader_id"


class BookUnavailable(ConflictError):
    code = "book_unavailable"
    message = N_("No copy of book {book_id} is on the shelf.")
    field = "book_id"


class NotBorrowed(ConflictError):
    code = "not_borrowed"
    message = N_("Reader {reader_id} has no open loan of book {book_id}.")
    field = "book_id"


class AlreadyReturned(ConflictError):
    code = "already_returned"
    message = N_("Loan {loan_id} has already been returned.")


class RenewalLimitReached(ConflictError):
    code = "renewal_limit_reached"
    message = N_("Loan {loan_id} has been renewed {limit} times, the most allowed.")


class BookOnLoan(ConflictError):
    code = "book_on_loan"
    message = N_("Book {book_id} has copies on loan; it can be withdrawn once they are back.")


class CopiesOnLoan(ConflictError):
    code = "copies_on_loan"
    message = N_("Book {book_id} has {on_loan} copies on loan; copies_total cannot be lower.")
    field = "copies_total"


class ReaderHasLoans(ConflictError):
    code = "reader_has_loans"
    message = N_("Reader {reader_id} has books on loan; they can be deleted once all are back.")


class IsbnTaken(ConflictError):
    code = "isbn_taken"
    message = N_("Another book already has ISBN {isbn}.")
    field = "isbn"


class EmailTaken(ConflictError):
    code = "email_taken"
    message = N_("The email address {email} is already in use.")
    field = "email"


class CardTaken(ConflictError):
    code = "card_taken"
    message = N_("Library card {card_number} already belongs to another reader.")
    field = "card_number"


class UnauthorizedError(LibraryError):
    code = "unauthorized"
    message = N_("Sign in first: a valid access token is required.")


class ForbiddenError(LibraryError):
    code = "forbidden"
    message = N_("This is not allowed for your account.")


class InvalidCredentials(UnauthorizedError):
    code = "invalid_credentials"
    message = N_("The email or the password is wrong.")


class AccountDisabled(ForbiddenError):
    code = "account_disabled"
    message = N_("This account has been deactivated; ask an administrator.")


class RegistrationClosed(ForbiddenError):
    code = "registration_closed"
    message = N_("Registration is closed: an administrator must create new accounts.")


class AdminOnly(ForbiddenError):
    code = "admin_only"
    message = N_("Only an administrator may do this.")


class NotificationNotFound(NotFoundError):
    code = "notification_not_found"
    message = N_("Notification {notification_id} does not exist.")


class NotFailed(ConflictError):
    code = "not_failed"
    message = N_("Notification {notification_id} is {status}; only a failed one can be retried.")


class TelegramNotConfigured(ConflictError):
    code = "telegram_not_configured"
    message = N_("Telegram is not set up here (TELEGRAM_BOT_NAME and TELEGRAM_BOT_TOKEN).")


class TelegramLinkNotFound(NotFoundError):
    code = "telegram_link_not_found"
    message = N_("Reader {reader_id} has no Telegram link code {code}.")


class IdempotencyKeyReused(InvalidError):
    code = "idempotency_key_reused"
    message = N_("This Idempotency-Key was already used for a different request.")
    field = "Idempotency-Key"


class IdempotencyInProgress(ConflictError):
    code = "idempotency_in_progress"
    message = N_("A request with this Idempotency-Key is still running; retry in a moment.")


class InvalidIdempotencyKey(InvalidError):
    message = N_("Idempotency-Key must be 1 to 255 visible ASCII characters.")
    field = "Idempotency-Key"


class HoldNotFound(NotFoundError):
    code = "hold_not_found"
    message = N_("Hold {hold_id} does not exist.")


class CopyAvailable(ConflictError):
    code = "copy_available"
    message = N_("A copy of book {book_id} is on the shelf: issue it instead of placing a hold.")
    field = "book_id"


class AlreadyOnHold(ConflictError):
    code = "already_on_hold"
    message = N_("Reader {reader_id} is already waiting for book {book_id}.")
    field = "book_id"


class HoldLimitReached(ConflictError):
    code = "hold_limit_reached"
    message = N_("Reader {reader_id} already has {limit} holds, the most allowed.")
    field = "reader_id"


class BookOnHold(ConflictError):
    code = "book_on_hold"
    message = N_("Every copy of book {book_id} is kept for readers who are waiting for it.")
    field = "book_id"


class HoldNotActive(ConflictError):
    code = "hold_not_active"
    message = N_("Hold {hold_id} is {status}: only a waiting or ready hold can be cancelled.")


class CsvHeaderMissing(InvalidError):
    code = "csv_header_missing"
    message = N_("The header row must name the columns {columns}; missing: {missing}.")

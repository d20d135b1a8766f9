"""Errors as RFC 9457 problem details: every failure of the API, mapped once."""

import logging
from http import HTTPStatus

from flask import current_app, request
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from ..circulation.errors import (
    ConflictError,
    ForbiddenError,
    InvalidError,
    NotFoundError,
    UnauthorizedError,
)
from ..extensions import db
from ..i18n import error_detail, field_message, status_title

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"

STATUS = {
    UnauthorizedError: 401,
    ForbiddenError: 403,
    NotFoundError: 404,
    ConflictError: 409,
    InvalidError: 422,
}

# The `code` of a problem raised by the HTTP layer rather than by a rule.
HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "rate_limited",
    500: "internal_error",
    503: "unavailable",
}

# The `detail` of a problem raised by the HTTP layer, translated when it is answered.
DETAILS = {
    400: _l("The request could not be read: is the body valid JSON?"),
    401: _l("Sign in first: a valid access token is required."),
    404: _l("There is nothing at this address."),
    405: _l("This address does not accept the {method} method."),
    413: _l("The request body is too large."),
    415: _l("This type of request body is not accepted."),
    422: _l("Some fields are not valid; see `errors`."),
    429: _l("Too many failed sign-ins; try again later."),
    500: _l("Something went wrong on our side; it has been logged."),
    503: _l("The service is unavailable for a moment; try again shortly."),
}


def problem(status, code, detail, headers=None, **extra):
    """An RFC 9457 problem response."""
    body = {
        "type": "about:blank",
        "title": status_title(status),
        "status": status,
        "detail": detail,
        "code": code,
        **extra,
    }
    return body, status, {**(headers or {}), "Content-Type": PROBLEM_JSON}


def field_errors(messages, prefix=""):
    """Flatten webargs/marshmallow messages into `[{field, message}]`.

    `{"json": {"isbn": ["Not valid"]}}` -> `[{"field": "isbn", "message": "Not valid"}]`.
    """
    errors = []
    for key, value in messages.items():
        if not prefix and key in ("json", "query", "form", "json_or_form", "path"):
            name = ""
        elif key == "_schema":
            name = prefix or "body"
        else:
            name = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, dict):
            errors.extend(field_errors(value, name))
        else:
            for message in value if isinstance(value, list) else [value]:
                errors.append({"field": name or "body", "message": field_message(message)})
    return errors


def status_of(exc):
    """The HTTP status of a LibraryError: 404, 409, 422..."""
    return next((s for cls, s in STATUS.items() if isinstance(exc, cls)), 400)


def library_problem(exc):
    """A broken rule of the domain: 404/409/..., with the rule's own code."""
    # Roll back first: the request's unit of work must leave no half-done write.
    db.session.rollback()
    status = status_of(exc)
    log.info("refused %s %s: %s (%s)", request.method, request.path, exc.code, exc.detail)
    detail = error_detail(exc)
    extra = {}
    if status == 422:
        extra["errors"] = [{"field": exc.field or "body", "message": detail}]
    return problem(status, exc.code, detail, **extra)


def http_problem(exc):
    """Routing, parsing and protocol errors: 400, 404, 405, 413, 422..."""
    db.session.rollback()
    status = exc.code or 500
    data = getattr(exc, "data", None) or {}
    headers = {k: v for k, v in exc.get_headers() if k.lower() != "content-type"}
    headers.update(data.get("headers") or {})
    code = HTTP_CODES.get(status, HTTPStatus(status).phrase.lower().replace(" ", "_"))
    detail = data.get("message") or str(DETAILS.get(status, exc.description or ""))
    extra = {}
    if status == 422:
        extra["errors"] = field_errors(data.get("messages") or {})
    return problem(status, code, detail.format(method=request.method), headers, **extra)


def database_unavailable(exc):
    db.session.rollback()
    log.error("database unavailable on %s %s: %s", request.method, request.path, exc)
    return problem(503, "unavailable", str(DETAILS[503]), {"Retry-After": "5"})


def unexpected_problem(exc):
    db.session.rollback()
    current_app.logger.exception("unhandled error on %s %s", request.method, request.path)
    return problem(500, "internal_error", str(DETAILS[500]))


def register_jwt_errors(jwt):
    """Every token failure is a 401 problem: `token_expired` or `unauthorized`."""

    def unauthorized(detail):
        return problem(401, "unauthorized", detail, {"WWW-Authenticate": "Bearer"})

    @jwt.unauthorized_loader
    def _missing(reason):
        return unauthorized(_("Sign in first: send 'Authorization: Bearer <token>'."))

    @jwt.invalid_token_loader
    def _invalid(reason):
        return unauthorized(_("The access token is not valid."))

    @jwt.expired_token_loader
    def _expired(_header, _payload):
        return problem(
            401,
            "token_expired",
            _("The access token has expired; sign in again."),
            {"WWW-Authenticate": 'Bearer error="invalid_token"'},
        )

    @jwt.revoked_token_loader
    def _revoked(_header, _payload):
        return unauthorized(_("The access token has been revoked; sign in again."))

    @jwt.user_lookup_error_loader
    def _gone(_header, _payload):
        return unauthorized(_("The account of this token no longer exists or is deactivated."))

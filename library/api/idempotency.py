"""Safe retries: the `Idempotency-Key` header of SPEC section 3.

A write a script may retry after a time-out carries a key of its choosing. The first
request with a key claims it (its own short transaction, so a concurrent twin sees the
claim at once and gets 409 `idempotency_in_progress`), runs, and stores its response
in the same transaction as its writes. A repeat within IDEMPOTENCY_HOURS by the same
librarian gets that response again, changing nothing; the same key with another request
(method, path or body) gets 422 `idempotency_key_reused`. The keys live in the
database, so they hold across gunicorn workers and hosts.

A request that fails unexpectedly (5xx, a validation error) releases its key: nothing
was written, and the retry runs afresh. A claim older than IDEMPOTENCY_LEASE_SECONDS
whose request never finished (its worker was killed) is taken over: its writes were
never committed either.
"""

import functools
import hashlib
import json
import re
from datetime import timedelta

from flask import current_app, make_response, request
from flask_jwt_extended import current_user
from sqlalchemy import delete, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from ..circulation.common import on_postgresql
from ..circulation.errors import (
    IdempotencyInProgress,
    IdempotencyKeyReused,
    InvalidIdempotencyKey,
    LibraryError,
)
from ..extensions import db
from ..models import IdempotencyKey, utcnow
from . import problems

HEADER = "Idempotency-Key"
KEY = re.compile(r"[\x21-\x7e]{1,255}")
REPLAYED_HEADERS = ("Location", "Content-Type")

DOC = {
    "parameters": [
        {
            "in": "header",
            "name": HEADER,
            "required": False,
            "schema": {"type": "string", "pattern": "^[\\x21-\\x7e]{1,255}$"},
            "description": "Makes a retry safe: a repeat with the same key within 24 hours "
            "gets the first response again and changes nothing.",
        }
    ]
}


def _fingerprint():
    digest = hashlib.sha256()
    for part in (request.method, request.path, request.get_data(cache=True)):
        digest.update(part if isinstance(part, bytes) else part.encode())
        digest.update(b"\0")
    return digest.hexdigest()


def _row(librarian_id, key):
    return (IdempotencyKey.librarian_id == librarian_id, IdempotencyKey.key == key)


def _claim(librarian_id, key, fingerprint, now):
    """Claim the key (committed); None if ours now, else the record that holds it."""
    lease = timedelta(seconds=current_app.config["IDEMPOTENCY_LEASE_SECONDS"])
    db.session.execute(
        delete(IdempotencyKey).where(
            *_row(librarian_id, key),
            or_(
                IdempotencyKey.expires_at <= now,
                # A claim whose request died: nothing of it was committed.
                (IdempotencyKey.response_status.is_(None))
                & (IdempotencyKey.created_at <= now - lease),
            ),
        )
    )
    insert = postgresql.insert if on_postgresql() else sqlite.insert
    claimed = db.session.execute(
        insert(IdempotencyKey)
        .values(
            librarian_id=librarian_id,
            key=key,
            fingerprint=fingerprint,
            created_at=now,
            expires_at=now + timedelta(hours=current_app.config["IDEMPOTENCY_HOURS"]),
        )
        .on_conflict_do_nothing()
        .returning(IdempotencyKey.key)
    ).first()
    held = (
        None
        if claimed
        else db.session.scalar(select(IdempotencyKey).where(*_row(librarian_id, key)))
    )
    db.session.commit()
    return held


def _release(librarian_id, key):
    db.session.rollback()
    db.session.execute(
        delete(IdempotencyKey).where(
            *_row(librarian_id, key), IdempotencyKey.response_status.is_(None)
        )
    )
    db.session.commit()


def _store(librarian_id, key, response):
    headers = {
        name: response.headers[name] for name in REPLAYED_HEADERS if name in response.headers
    }
    db.session.execute(
        update(IdempotencyKey)
        .where(*_row(librarian_id, key))
        .values(
            response_status=response.status_code,
            response_body=response.get_data(as_text=True),
            response_headers=json.dumps(headers),
        )
        .execution_options(synchronize_session=False)
    )


def _replay(record):
    response = make_response(record.response_body, record.response_status)
    for name, value in json.loads(record.response_headers or "{}").items():
        response.headers[name] = value
    response.headers["Idempotent-Replayed"] = "true"
    return response


def idempotent(view):
    """Run `view` as one unit of work, made safe to retry by an Idempotency-Key.

    The view itself must not commit: this commits once, with the stored response.
    """

    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        key = request.headers.get(HEADER)
        if key is None:
            response = make_response(view(*args, **kwargs))
            db.session.commit()
            return response
        if not KEY.fullmatch(key):
            raise InvalidIdempotencyKey()
        librarian_id, now = current_user.id, utcnow()
        fingerprint = _fingerprint()
        held = _claim(librarian_id, key, fingerprint, now)
        if held is not None:
            if held.fingerprint != fingerprint:
                raise IdempotencyKeyReused()
            if held.response_status is None:
                raise IdempotencyInProgress()
            current_app.logger.info("idempotent replay librarian=%s key=%r", librarian_id, key)
            return _replay(held)
        try:
            response = make_response(view(*args, **kwargs))
        except LibraryError as exc:
            # A refused rule is the request's answer: kept, and given again on a retry.
            response = make_response(problems.library_problem(exc))
        except BaseException:
            _release(librarian_id, key)
            raise
        if response.status_code >= 500:
            _release(librarian_id, key)
            return response
        _store(librarian_id, key, response)
        db.session.commit()
        return response

    return wrapper

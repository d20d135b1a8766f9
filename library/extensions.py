"""Extensions, created unbound and initialised in the app factory."""

import threading
import time

import flask_jwt_extended
from cachetools import TLRUCache
from flask import current_app
from flask_babel import Babel
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf.csrf import CSRFProtect
from sqlalchemy import MetaData
from sqlalchemy.orm import DeclarativeBase

from .database import include_in_autogenerate

# Named constraints, so Alembic can alter them (batch mode on SQLite) and an
# IntegrityError names the rule that was broken.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class JWTManager(flask_jwt_extended.JWTManager):
    """flask-jwt-extended's manager, checking each token's signature and claims once
    per process until it expires (issue 8: the hot path).

    flask-jwt-extended decodes a token three times per request (twice unverified, to
    find its key, then verified) and PyJWT checks each part's base64 character by
    character: 11-16 % of an issue or a `/auth/me` in process. The claims of a token
    that passed are kept, per app, until its `exp` (plus the leeway): the same token
    string, from the same app, again gives the same claims, and an expired one is
    decoded afresh, so PyJWT refuses it as before. Whether it was revoked, and whether
    its librarian may still sign in, is asked of the database on every request, as before
    (auth/__init__.py). `_decode_jwt_from_config` is the one method the extension
    decodes through (Flask-JWT-Extended 4.7, pinned); tests/test_auth.py checks that
    tokens are still refused when expired, tampered with, signed with another key, or
    revoked after they were cached.
    """

    MAX_TOKENS = 4096  # per worker process: every token of a busy day, a few MB at most

    def init_app(self, app, add_context_processor=False):
        super().init_app(app, add_context_processor)
        leeway = app.config.get("JWT_DECODE_LEEWAY", 0)
        leeway = leeway.total_seconds() if hasattr(leeway, "total_seconds") else leeway
        app.extensions["verified_tokens"] = (
            TLRUCache(self.MAX_TOKENS, ttu=lambda _t, c, _n: c["exp"] + leeway, timer=time.time),
            threading.Lock(),  # threaded servers: a cachetools cache is not thread-safe
        )

    def _decode_jwt_from_config(self, encoded_token, csrf_value=None, allow_expired=False):
        if allow_expired:
            return super()._decode_jwt_from_config(encoded_token, csrf_value, allow_expired)
        verified, lock = current_app.extensions["verified_tokens"]
        key = (encoded_token, csrf_value)
        with lock:
            claims = verified.get(key)
        if claims is None:
            claims = super()._decode_jwt_from_config(encoded_token, csrf_value)
            if "exp" in claims:
                with lock:
                    verified[key] = claims
        return dict(claims)  # the caller's own copy


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


db = SQLAlchemy(model_class=Base)
migrate = Migrate(render_as_batch=True, include_name=include_in_autogenerate)
jwt = JWTManager()
csrf = CSRFProtect()
babel = Babel()


class DecoratedLimitsOnly(Limiter):
    """flask-limiter, checking limits only where a view is decorated with one.

    Only sign-in is throttled (auth/throttle.py): no default, application or meta
    limits. flask-limiter still checks every request before it runs, resolving the
    endpoint's limits only to find none: 4-6 % of an issue's instructions (issue 8,
    bench/README.md). A decorated view checks its own limits in its decorator (not "in
    middleware"), so that check alone is kept; `init_app` refuses a configuration in
    which the skipped one would have found something.
    """

    def init_app(self, app):
        super().init_app(app)
        if (
            self.limit_manager.default_limits
            or self.limit_manager.application_limits
            or self._meta_limits
            or app.config.get("RATELIMIT_IN_MEMORY_FALLBACK")
        ):
            raise RuntimeError(
                "Only decorated views are rate-limited here (library/extensions.py): "
                "default, application, meta and fallback limits are not checked."
            )

    def _check_request_limit(self, callable_name=None, in_middleware=True):
        if not in_middleware:
            super()._check_request_limit(callable_name=callable_name, in_middleware=False)


# Storage is Redis when REDIS_URL is set (shared by every worker and host), memory
# otherwise.
limiter = DecoratedLimitsOnly(key_func=get_remote_address)

"""Settings, read from the environment and an optional `.env` file (SPEC section 6)."""

import os
from pathlib import Path

from dotenv import load_dotenv

BASE_DIR = Path(__file__).resolve().parent
load_dotenv(BASE_DIR / ".env")

DEFAULT_SECRET_KEY = "dev-only-secret-key-not-for-production-use"  # noqa: S105 - refused in production


def _bool(name, default=False):
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _int(name, default):
    return int(os.environ.get(name, default))


def _float(name, default):
    return float(os.environ.get(name, default))


def normalize_database_url(url):
    """Point any PostgreSQL URL at the project's own driver (psycopg 3).

    `postgres://`, `postgresql://` and `postgresql+<anything>://` all select it, so
    a URL copied from a hosting dashboard works as it is.
    """
    if not url:
        return url
    scheme, sep, rest = url.partition("://")
    if sep and scheme.split("+")[0] in {"postgres", "postgresql"}:
        return f"postgresql+psycopg://{rest}"
    return url


class Config:
    LIBRARY_ENV = os.environ.get("LIBRARY_ENV", "development")
    SECRET_KEY = os.environ.get("SECRET_KEY", DEFAULT_SECRET_KEY)
    # None means "SQLite file in the instance folder"; create_app fills it in.
    SQLALCHEMY_DATABASE_URI = normalize_database_url(os.environ.get("DATABASE_URL"))
    # No ping at every checkout: database.py pings only a connection that idled this
    # many seconds (a fresh or busy one is used as it is).
    SQLALCHEMY_ENGINE_OPTIONS = {"pool_pre_ping": False}
    DATABASE_PING_AFTER_SECONDS = _float("DATABASE_PING_AFTER_SECONDS", 1.0)
    # Seconds to wait for a new PostgreSQL connection before answering 503; without it
    # a database host that drops packets holds a worker for minutes (database.py).
    DATABASE_CONNECT_TIMEOUT = _int("DATABASE_CONNECT_TIMEOUT", 5)

    # Circulation rules (SPEC section 2)
    LOAN_LIMIT = _int("LOAN_LIMIT", 3)
    LOAN_PERIOD_DAYS = _int("LOAN_PERIOD_DAYS", 14)
    REMINDER_AFTER_DAYS = _int("REMINDER_AFTER_DAYS", 10)
    OVERDUE_NOTICE_EVERY_DAYS = _int("OVERDUE_NOTICE_EVERY_DAYS", 7)
    MAX_RENEWALS = _int("MAX_RENEWALS", 2)
    HOLD_LIMIT = _int("HOLD_LIMIT", 5)
    HOLD_PICKUP_DAYS = _int("HOLD_PICKUP_DAYS", 7)
    ACCESS_TOKEN_MINUTES = _int("ACCESS_TOKEN_MINUTES", 30)
    REGISTRATION_OPEN = _bool("REGISTRATION_OPEN", False)
    DEFAULT_LANGUAGE = os.environ.get("DEFAULT_LANGUAGE", "en")
    LIBRARY_TIMEZONE = os.environ.get("LIBRARY_TIMEZONE", "UTC")

    # Sign-in throttling (flask-limiter): failed sign-ins allowed per email and per
    # client address (behind a proxy, set PROXY_FIX_X_FOR to the number of proxies).
    LOGIN_LIMIT_PER_EMAIL = os.environ.get("LOGIN_LIMIT_PER_EMAIL", "5 per 15 minutes")
    LOGIN_LIMIT_PER_ADDRESS = os.environ.get("LOGIN_LIMIT_PER_ADDRESS", "30 per 15 minutes")
    PROXY_FIX_X_FOR = _int("PROXY_FIX_X_FOR", 0)
    RATELIMIT_STORAGE_URI = os.environ.get("RATELIMIT_STORAGE_URI") or os.environ.get(
        "REDIS_URL", "memory://"
    )
    RATELIMIT_STRATEGY = "sliding-window-counter"
    RATELIMIT_HEADERS_ENABLED = True
    RATELIMIT_KEY_PREFIX = os.environ.get("RATELIMIT_KEY_PREFIX", "library-login")

    # Idempotency-Key: how long a key's response is kept, and after how long an
    # unfinished claim (its worker died) may be taken over.
    IDEMPOTENCY_HOURS = _int("IDEMPOTENCY_HOURS", 24)
    IDEMPOTENCY_LEASE_SECONDS = _int("IDEMPOTENCY_LEASE_SECONDS", 120)

    # Request bodies larger than this are refused with 413.
    MAX_CONTENT_LENGTH = _int("MAX_CONTENT_LENGTH", 1024 * 1024)

    # Notifications (delivered by the outbox worker)
    MAIL_SERVER = os.environ.get("MAIL_SERVER")
    MAIL_PORT = _int("MAIL_PORT", 25)
    MAIL_USE_TLS = _bool("MAIL_USE_TLS")
    MAIL_USE_SSL = _bool("MAIL_USE_SSL")
    MAIL_USERNAME = os.environ.get("MAIL_USERNAME")
    MAIL_PASSWORD = os.environ.get("MAIL_PASSWORD")
    MAIL_DEFAULT_SENDER = os.environ.get("MAIL_DEFAULT_SENDER", "library@localhost")
    TELEGRAM_BOT_TOKEN = os.environ.get("TELEGRAM_BOT_TOKEN")
    TELEGRAM_BOT_NAME = os.environ.get("TELEGRAM_BOT_NAME")
    TELEGRAM_WEBHOOK_SECRET = os.environ.get("TELEGRAM_WEBHOOK_SECRET")
    TELEGRAM_API_URL = os.environ.get("TELEGRAM_API_URL", "https://api.telegram.org")
    MAIL_TIMEOUT = _int("MAIL_TIMEOUT", 30)
    # A CA bundle for an intranet mail server with a private certificate authority.
    MAIL_CA_FILE = os.environ.get("MAIL_CA_FILE")
    TELEGRAM_TIMEOUT = _int("TELEGRAM_TIMEOUT", 15)
    TELEGRAM_LINK_HOURS = _int("TELEGRAM_LINK_HOURS", 24)
    LIBRARY_NAME = os.environ.get("LIBRARY_NAME", "Library")
    # Outbox delivery: attempts before an entry is `failed`; the first retry waits
    # NOTIFICATION_RETRY_SECONDS, each next one twice as long, at most the cap. A worker
    # holds an entry for NOTIFICATION_LEASE_SECONDS while it sends; if it dies, the
    # entry comes due again after that.
    NOTIFICATION_MAX_ATTEMPTS = _int("NOTIFICATION_MAX_ATTEMPTS", 8)
    NOTIFICATION_RETRY_SECONDS = _int("NOTIFICATION_RETRY_SECONDS", 30)
    NOTIFICATION_RETRY_MAX_SECONDS = _int("NOTIFICATION_RETRY_MAX_SECONDS", 6 * 3600)
    NOTIFICATION_LEASE_SECONDS = _int("NOTIFICATION_LEASE_SECONDS", 300)
    NOTIFICATION_BATCH = _int("NOTIFICATION_BATCH", 50)  # entries claimed at a time
    # `notifications worker` (and Celery beat): how often to deliver, poll Telegram
    # and run the reminder schedule.
    WORKER_INTERVAL_SECONDS = _int("WORKER_INTERVAL_SECONDS", 5)
    REMINDERS_EVERY_MINUTES = _int("REMINDERS_EVERY_MINUTES", 15)
    REDIS_URL = os.environ.get("REDIS_URL")
    CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL")
    CELERY_TASK_DEFAULT_QUEUE = os.environ.get("CELERY_TASK_DEFAULT_QUEUE", "library")

    # JSON API and its OpenAPI document (flask-smorest)
    API_TITLE = "Library API"
    API_VERSION = "v1"
    OPENAPI_VERSION = "3.0.3"
    OPENAPI_URL_PREFIX = "/api"
    OPENAPI_JSON_PATH = "v1/openapi.json"
    OPENAPI_SWAGGER_UI_PATH = "docs"
    OPENAPI_SWAGGER_UI_URL = "/static/vendor/swagger-ui/"
    JSON_SORT_KEYS = False

    # flask-jwt-extended; the lifetime is set from ACCESS_TOKEN_MINUTES in create_app.
    # The API reads the bearer header only, the pages the HttpOnly cookie only.
    JWT_TOKEN_LOCATION = ["headers", "cookies"]
    JWT_ALGORITHM = "HS256"
    JWT_ERROR_MESSAGE_KEY = "detail"
    JWT_ACCESS_COOKIE_NAME = "library_access"
    JWT_COOKIE_SAMESITE = "Lax"
    JWT_COOKIE_SECURE = LIBRARY_ENV == "production"
    # The pages' forms and htmx requests are CSRF-checked by Flask-WTF (web/__init__.py),
    # which covers the cookie too; the API takes no cookie, so it needs no CSRF token.
    JWT_COOKIE_CSRF_PROTECT = False
    SESSION_COOKIE_NAME = "library_session"
    SESSION_COOKIE_SAMESITE = "Lax"
    SESSION_COOKIE_SECURE = LIBRARY_ENV == "production"

    # Flask-WTF: checked in the web blueprint only; a token lives as long as the
    # browser session, so a page left open all day still posts.
    WTF_CSRF_CHECK_DEFAULT = False
    WTF_CSRF_TIME_LIMIT = None

    # Flask-Babel (catalogs in library/translations)
    LANGUAGES = ("en", "ru")
    BABEL_DEFAULT_LOCALE = DEFAULT_LANGUAGE
    BABEL_DEFAULT_TIMEZONE = LIBRARY_TIMEZONE
    BABEL_TRANSLATION_DIRECTORIES = str(BASE_DIR / "library" / "translations")


class TestConfig(Config):
    TESTING = True
    LIBRARY_ENV = "testing"
    SECRET_KEY = "test-secret-key-that-is-long-enough-for-hs256"  # noqa: S105
    # Tests set what they need: nothing leaves the machine by accident.
    MAIL_SERVER = None
    TELEGRAM_BOT_TOKEN = None
    TELEGRAM_BOT_NAME = None
    TELEGRAM_WEBHOOK_SECRET = None
    TELEGRAM_API_URL = "http://127.0.0.1:9/unset"
    CELERY_BROKER_URL = None
    RATELIMIT_STORAGE_URI = "memory://"

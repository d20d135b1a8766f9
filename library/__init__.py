"""Library: a circulation system for librarians and scripts."""

import logging
from datetime import timedelta
from pathlib import Path

from flask import Flask
from sqlalchemy.orm import configure_mappers

from config import DEFAULT_SECRET_KEY, Config

from .extensions import babel, csrf, db, jwt, limiter, migrate
from .i18n import select_locale, select_timezone

ROOT = Path(__file__).resolve().parent.parent


def create_app(config_class=Config, **overrides):
    app = Flask(
        __name__,
        template_folder=str(ROOT / "templates"),
        static_folder=str(ROOT / "static"),
        instance_path=str(ROOT / "instance"),
    )
    app.config.from_object(config_class)
    app.config.update(overrides)
    _check_config(app)
    if not app.config.get("SQLALCHEMY_DATABASE_URI"):
        Path(app.instance_path).mkdir(parents=True, exist_ok=True)
        app.config["SQLALCHEMY_DATABASE_URI"] = (
            f"sqlite:///{Path(app.instance_path) / 'library.db'}"
        )
    app.config["JWT_ACCESS_TOKEN_EXPIRES"] = timedelta(minutes=app.config["ACCESS_TOKEN_MINUTES"])
    app.json.sort_keys = False
    app.json.ensure_ascii = False
    _configure_logging(app)

    db.init_app(app)
    migrate.init_app(app, db, directory=str(ROOT / "migrations"))
    jwt.init_app(app)
    csrf.init_app(app)
    limiter.init_app(app)
    if app.config["PROXY_FIX_X_FOR"]:
        from werkzeug.middleware.proxy_fix import ProxyFix

        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=app.config["PROXY_FIX_X_FOR"])
    babel.init_app(app, locale_selector=select_locale, timezone_selector=select_timezone)
    with app.app_context():
        from .database import configure_engine

        configure_engine(db.engine)

    from . import api, auth, health, web  # noqa: F401 - auth registers the JWT loaders
    from .api import telegram as telegram_webhook
    from .api.problems import register_jwt_errors
    from .errors import register_error_handlers

    # Mappers configured now, not at the first object a request builds: the hot path
    # builds its objects from rows without the constructor (circulation/statements.py).
    configure_mappers()
    api.init_app(app)
    register_jwt_errors(jwt)
    register_error_handlers(app)  # after the API's, so ours answer every error
    app.register_blueprint(health.bp)
    app.register_blueprint(telegram_webhook.bp)
    app.register_blueprint(web.bp)

    from . import http

    http.init_app(app)

    from .cli import register_cli

    register_cli(app)
    if app.config.get("CELERY_BROKER_URL"):
        # Imported only here: without a broker nothing of Celery is loaded.
        from .tasks import celery_init_app

        celery_init_app(app)
    return app


def _check_config(app):
    production = app.config["LIBRARY_ENV"] == "production"
    # Cookies only over HTTPS in production, whatever set LIBRARY_ENV (environment or
    # an override given to create_app).
    app.config["JWT_COOKIE_SECURE"] = app.config["SESSION_COOKIE_SECURE"] = production
    if production:
        key = app.config.get("SECRET_KEY")
        if not key or key == DEFAULT_SECRET_KEY or len(key) < 32:
            raise RuntimeError(
                "Refusing to start in production without a real SECRET_KEY "
                "(set SECRET_KEY to a random string of 32 characters or more)."
            )


def _configure_logging(app):
    if not app.debug and not app.testing:
        app.logger.setLevel(logging.INFO)
        logging.getLogger("library").setLevel(logging.INFO)
        logging.getLogger("library.request").setLevel(logging.INFO)

"""The JSON API under /api/v1, with its generated OpenAPI document."""

from flask_smorest import Api as SmorestApi

from . import auth, books, holds, loans, notifications, readers
from .base import CONVERTERS

BLUEPRINTS = (
    auth.blp,
    auth.librarians,
    books.blp,
    readers.blp,
    loans.blp,
    holds.blp,
    notifications.blp,
)


class Api(SmorestApi):
    # flask-smorest documents a catch-all `default` response (application/json, its own
    # error shape) on every operation: it would hide any status an operation does not
    # document. Each problem an operation can give is documented instead (base.py).
    DEFAULT_ERROR_RESPONSE_NAME = None


def init_app(app):
    app.config.setdefault(
        "API_SPEC_OPTIONS",
        {
            "info": {
                "description": "Circulation API of the Library: catalog, readers, loans, "
                "notifications."
            },
            "components": {
                "securitySchemes": {
                    "bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
                }
            },
        },
    )
    # One Api per app: it holds that app's OpenAPI document.
    api = Api(app)
    for name, (converter, schema) in CONVERTERS.items():
        app.url_map.converters[name] = converter
        api.register_converter(converter, lambda _converter, schema=schema: schema)
    for blueprint in BLUEPRINTS:
        api.register_blueprint(blueprint)

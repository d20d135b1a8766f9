"""The JSON API under /api/v1, with its generated OpenAPI document."""

from flask_smorest import Api

from . import auth, books, loans, notifications, readers

BLUEPRINTS = (
    auth.blp,
    auth.librarians,
    books.blp,
    readers.blp,
    loans.blp,
    notifications.blp,
)


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
    for blueprint in BLUEPRINTS:
        api.register_blueprint(blueprint)

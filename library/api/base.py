"""What every API module shares: the blueprint class, its parser, token checks."""

import functools
import json

from flask_jwt_extended import current_user, jwt_required
from flask_smorest import Blueprint as SmorestBlueprint
from webargs.flaskparser import FlaskParser

from ..circulation.errors import AdminOnly
from ..models import utcnow
from .problems import PROBLEM_JSON
from .schemas import Problem

BEARER = [{"bearerAuth": []}]

DESCRIPTIONS = {
    400: "Malformed request (not JSON, or nested too deep)",
    401: "Missing, malformed, tampered, revoked or expired token",
    403: "Not allowed for this account",
    404: "Not found",
    409: "A circulation rule refused it; `code` says which",
    422: "Invalid fields; `errors` lists them",
}


class Parser(FlaskParser):
    def _raw_load_json(self, req):
        try:
            return super()._raw_load_json(req)
        except json.JSONDecodeError:
            raise
        except RecursionError as exc:
            # Absurdly deep nesting: the json module gives up; that is a 400, not a 500.
            raise json.JSONDecodeError("JSON nested too deeply", "-", 0) from exc
        except ValueError as exc:
            # A number too long to convert (over 4300 digits): unreadable JSON, a 400.
            raise json.JSONDecodeError(str(exc), "-", 0) from exc


class Blueprint(SmorestBlueprint):
    ARGUMENTS_PARSER = Parser()
    # Sign-in takes JSON or the OAuth2 password form; the document shows the JSON.
    DEFAULT_LOCATION_CONTENT_TYPE_MAPPING = {
        **SmorestBlueprint.DEFAULT_LOCATION_CONTENT_TYPE_MAPPING,
        "json_or_form": "application/json",
    }

    def problems(self, *statuses):
        """Document the problem responses an operation can give."""

        def decorator(fn):
            for status in statuses:
                fn = self.alt_response(
                    status,
                    schema=Problem,
                    description=DESCRIPTIONS.get(status),
                    content_type=PROBLEM_JSON,
                )(fn)
            return fn

        return decorator

    def authenticated(self, fn=None, *, admin=False):
        """Require a bearer token (and an admin's, with admin=True); document both."""

        def decorator(fn):
            if admin:
                fn = _admin_only(fn)
                fn = self.problems(403)(fn)
            fn = jwt_required(locations=["headers"])(fn)
            fn = self.problems(401)(fn)
            return self.doc(security=BEARER)(fn)

        return decorator(fn) if fn else decorator


def _admin_only(fn):
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        if not current_user.is_admin:
            raise AdminOnly()
        return fn(*args, **kwargs)

    return wrapper


def now():
    return utcnow()

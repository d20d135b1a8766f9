"""What every API module shares: the blueprint class, its parser, token checks."""

import functools
import json

from flask_jwt_extended import current_user, jwt_required
from flask_smorest import Blueprint as SmorestBlueprint
from webargs.flaskparser import FlaskParser
from werkzeug.routing import BaseConverter

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
    413: "The request body is too large",
    422: "Invalid fields; `errors` lists them",
    429: "Too many failed attempts; `Retry-After` says when to try again",
    503: "The database is unreachable for a moment; `Retry-After` says when to try again",
}

# Problems any operation can give, or any that reads arguments from a place; documented
# by the blueprint itself, so that no view can forget them.
EVERY_OPERATION = (503,)
WITH_PATH_ARGUMENTS = (404,)  # `/books/abc`: the route's converter does not match
BODY_LOCATIONS = ("json", "form", "json_or_form", "files")
ARGUMENT_PROBLEMS = {
    **dict.fromkeys(BODY_LOCATIONS, (400, 413, 422)),
    "query": (422,),
    "headers": (422,),
    "cookies": (422,),
}


class LinkCodeConverter(BaseConverter):
    """A Telegram link code in a path: what `secrets.token_urlsafe` makes and Telegram's
    start parameter allows. Anything else (a NUL, which PostgreSQL cannot even compare)
    is an unknown address, 404, and never reaches the database."""

    regex = "[A-Za-z0-9_-]{1,64}"


# Path converters of the API: name -> (converter, schema of the parameter in the document).
CONVERTERS = {
    "link_code": (
        LinkCodeConverter,
        {"type": "string", "pattern": f"^{LinkCodeConverter.regex}$", "maxLength": 64},
    ),
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

    def route(self, rule, **options):
        """Register a view, documenting the problems every operation (on this rule) can give."""
        register = super().route(rule, **options)
        statuses = EVERY_OPERATION + (WITH_PATH_ARGUMENTS if "<" in rule else ())

        def decorator(fn):
            return register(self.problems(*statuses)(fn))

        return decorator

    def arguments(self, schema, *, location="json", **kwargs):
        """Parse arguments; document what unreadable or invalid ones get (400, 413, 422)."""
        parse = super().arguments(schema, location=location, **kwargs)

        def decorator(fn):
            return self.problems(*ARGUMENT_PROBLEMS.get(location, (422,)))(parse(fn))

        return decorator

    def problems(self, *statuses):
        """Document the problem responses an operation can give (once each)."""

        def decorator(fn):
            documented = getattr(fn, "_apidoc", {}).get("response", {}).get("responses", {})
            for status in dict.fromkeys(statuses):
                if status in documented:
                    continue
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

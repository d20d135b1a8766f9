"""The WSGI entry point: `gunicorn wsgi:app`, `flask --app wsgi ...`."""

from library import create_app

app = create_app()

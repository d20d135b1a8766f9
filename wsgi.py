"""The WSGI entry point: `gunicorn wsgi:app`, `flask --app wsgi ...`.

With CELERY_BROKER_URL set, `celery_app` is the Celery app for
`celery -A wsgi.celery_app worker` and `celery -A wsgi.celery_app beat`; else None.
"""

from library import create_app

app = create_app()
celery_app = app.extensions.get("celery")

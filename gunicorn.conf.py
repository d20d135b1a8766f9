"""gunicorn's settings file: gunicorn reads ./gunicorn.conf.py from the directory it is
started in (the project root, as the README does); `--config` names it from elsewhere.
The workers, bind address and the rest stay on the command line (README, Production)."""

import time


def post_worker_init(worker):
    """Compile the pages' templates as the worker boots, before it takes a request."""
    app = worker.wsgi
    if not hasattr(app, "jinja_env"):  # not the Flask app (the benchmark's bare ceiling)
        return
    from library.web.render import compile_templates

    started = time.perf_counter()
    try:
        count = compile_templates(app)
    except Exception:  # a broken template fails its own page, not the worker's boot
        worker.log.exception("templates not compiled at boot pid=%s", worker.pid)
        return
    worker.log.info(
        "templates compiled pid=%s count=%d ms=%.0f",
        worker.pid,
        count,
        (time.perf_counter() - started) * 1000,
    )

"""One template per page; an htmx request gets only the block it swaps."""

from flask import make_response, render_template, request
from jinja2_fragments.flask import render_block


def is_htmx():
    return request.headers.get("HX-Request") == "true"


def render(template, block=None, status=200, **context):
    """The whole page for a normal load or a history restore; only `block` for htmx."""
    partial = (
        block is not None
        and is_htmx()
        and "HX-History-Restore-Request" not in request.headers
        and request.headers.get("HX-Target") != "main"  # a boosted navigation wants the page
    )
    html = (
        render_block(template, block, **context)
        if partial
        else render_template(template, **context)
    )
    response = make_response(html, status)
    response.vary.add("HX-Request")  # so caches keep the page and the fragment apart
    return response


def compile_templates(app):
    """Compile every template of `app` now; how many there are.

    Run as each gunicorn worker boots (gunicorn.conf.py): Jinja compiles a template on
    its first use, per process, so otherwise the first librarian to open a page in each
    new worker waits for it (a third of a second for all of them, on the bench machine).
    """
    env = app.jinja_env
    names = env.list_templates()
    for name in names:
        env.get_template(name)
    return len(names)

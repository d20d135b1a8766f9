"""Sign in, sign out, and the first-run registration of the first librarian."""

from flask import current_app, flash, g, redirect, request, url_for
from flask_babel import gettext as _
from flask_jwt_extended import current_user, get_jwt

from ..auth import service
from ..auth.throttle import retry_after, throttled
from ..circulation.errors import AccountDisabled, EmailTaken, InvalidCredentials
from ..extensions import db
from ..models import utcnow
from . import bp
from .forms import LoginForm, RegisterForm
from .render import render
from .session import end_session, login_required, safe_next, signed_in, start_session


def _too_many_attempts(request_limit):
    """The sign-in form again, with the reason beside it (429, Retry-After)."""
    form = LoginForm(next=request.args.get("next"))
    wait = retry_after(request_limit)
    form.form_errors.append(
        _(
            "Too many failed sign-ins. Try again in %(minutes)s min.",
            minutes=max(1, round(wait / 60)),
        )
    )
    current_app.logger.warning("sign-in throttled on the pages: %s", request_limit.limit)
    response = render("auth/login.html", form=form, status=429)
    response.headers["Retry-After"] = str(wait)
    return response


@bp.route("/login", methods=["GET", "POST"])
@throttled(on_breach=_too_many_attempts)
def login():
    if not service.any_librarian():
        return redirect(url_for(".register"))
    form = LoginForm(next=request.args.get("next"))
    status = 200
    if form.validate_on_submit():
        try:
            librarian = service.authenticate(form.email.data, form.password.data)
        except (InvalidCredentials, AccountDisabled) as exc:
            db.session.rollback()
            form.form_errors.append(
                _("Wrong email or password.")
                if isinstance(exc, InvalidCredentials)
                else _("This account has been deactivated. Ask an administrator.")
            )
            status = 401 if isinstance(exc, InvalidCredentials) else 403
        else:
            current_app.logger.info("librarian signed in on the pages id=%s", librarian.id)
            return start_session(redirect(safe_next(form.next.data)), librarian)
    elif form.is_submitted():
        status = 422
    return render("auth/login.html", form=form, status=status)


@bp.route("/register", methods=["GET", "POST"])
def register():
    """First run: the first librarian (the admin); later only when registration is open
    or for an admin adding a colleague."""
    actor = signed_in()
    first = not service.any_librarian()
    if not (first or current_app.config["REGISTRATION_OPEN"] or (actor and actor.is_admin)):
        flash(_("Registration is closed. Ask an administrator for an account."), "error")
        return redirect(url_for(".login"))
    form = RegisterForm()
    status = 200
    if form.validate_on_submit():
        try:
            librarian = service.register_librarian(
                email=form.email.data,
                password=form.password.data,
                name=form.name.data,
                actor=actor,
                now=utcnow(),
            )
            db.session.commit()
        except EmailTaken:
            db.session.rollback()
            form.email.errors.append(_("A librarian with this email already exists."))
            status = 409
        else:
            if actor:
                flash(_("Account created for %(email)s.", email=librarian.email), "success")
                return redirect(url_for(".dashboard"))
            flash(_("Welcome! Your account is ready."), "success")
            return start_session(redirect(url_for(".dashboard")), librarian)
    elif form.is_submitted():
        status = 422
    return render("auth/register.html", form=form, first=first, status=status)


@bp.post("/logout")
@login_required
def logout():
    payload = get_jwt()
    service.revoke_token(payload["jti"], current_user.id, service.token_expiry(payload))
    db.session.commit()
    g.pop("web_token", None)
    current_app.logger.info("librarian signed out on the pages id=%s", current_user.id)
    flash(_("You have signed out."), "success")
    return end_session(redirect(url_for(".login")))

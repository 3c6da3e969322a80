"""Account pages: register, log in and out, and manage API keys (CSRF-protected forms).

A session names its account and the account's session generation: logging out moves the
generation on, so every cookie issued before (a copied one too) stops working at once.
"""

from __future__ import annotations

from flask import Blueprint, Flask, Response, current_app, flash, redirect, render_template, request, session, url_for
from flask.sessions import SecureCookieSessionInterface, SessionMixin
from flask.typing import ResponseReturnValue
from flask_login import LoginManager, UserMixin, current_user, login_required, login_user, logout_user
from flask_wtf import FlaskForm
from flask_wtf.csrf import CSRFError
from wtforms import EmailField, PasswordField, SelectField, StringField
from wtforms.validators import DataRequired, EqualTo, Length, ValidationError

from src.adapters.web.auth import verified_keys
from src.adapters.web.models import ID_IN_PATH
from src.application.domain.errors import DomainError, InvalidParameter
from src.application.domain.model import Role, User
from src.application.services.passwords import check_strength
from src.application.use_cases.accounts import AccountUseCases

blueprint = Blueprint("accounts", __name__)
login_manager = LoginManager()
login_manager.login_view = "accounts.log_in"
login_manager.login_message = "Log in to manage your API keys."
ISSUED_KEY = "issued_key"  # the session entry that carries a new key across the redirect, once
# Pages are cached and shared by everyone, so the server cannot tailor their menu: this cookie,
# no secret and readable by scripts, tells the browser's menu to drop "Log in" and "Register".
SIGNED_IN = "signed_in"
REGISTERED = "If this email was new, its account is ready: log in to create an API key."


class SessionUser(UserMixin):  # type: ignore[misc]
    """The logged-in account, as Flask-Login wants it; the domain User knows nothing of sessions."""

    def __init__(self, user: User):
        self.user = user
        self.id = user.id

    def get_id(self) -> str:
        return f"{self.user.id}:{self.user.session_generation}"


@login_manager.user_loader
def load_user(session_id: str) -> SessionUser | None:
    user_id, _, generation = session_id.partition(":")
    if not (user_id.isdigit() and generation.isdigit()):
        return None  # a session from before generations, or forged: log in again
    user = _accounts().session_user(int(user_id), int(generation))
    return SessionUser(user) if user else None


class AccountSessions(SecureCookieSessionInterface):
    """Flask says an answer varies by Cookie once the session was read, and Flask-Login reads it
    after every request: static files and API answers said so too, so a shared cache (a CDN, a
    proxy's) would keep a copy a visitor, or none. Only the account pages are made from the
    session; the rest are the same for everyone (cached pages fit their menu to the SIGNED_IN
    cookie in the browser)."""

    def save_session(self, app: Flask, session: SessionMixin, response: Response) -> None:
        super().save_session(app, session, response)
        if request.blueprint != blueprint.name:
            response.vary.discard("cookie")  # lower case: werkzeug's HeaderSet finds the name so


class RegisterForm(FlaskForm):  # type: ignore[misc]
    email = EmailField("Email", validators=[DataRequired(), Length(max=254)])
    password = PasswordField("Password", validators=[DataRequired(), Length(max=256)])
    confirm = PasswordField("Repeat the password", validators=[EqualTo("password", "the passwords differ")])

    def validate_password(self, field: PasswordField) -> None:
        """The password policy's reasons with the form's own, so one submission shows them all."""
        try:
            check_strength(field.data, self.email.data or "")
        except InvalidParameter as error:
            raise ValidationError(str(error)) from error


class LoginForm(FlaskForm):  # type: ignore[misc]
    email = EmailField("Email", validators=[DataRequired(), Length(max=254)])
    password = PasswordField("Password", validators=[DataRequired(), Length(max=256)])


class NewKeyForm(FlaskForm):  # type: ignore[misc]
    name = StringField("Name", validators=[DataRequired(), Length(max=100)])
    role = SelectField("Role", choices=[role.value for role in Role], default=Role.READER.value)


class ConfirmForm(FlaskForm):  # type: ignore[misc]
    """A form with nothing but its CSRF token: log out, revoke."""


FORMS = {"accounts.register": (RegisterForm, "register.html"), "accounts.log_in": (LoginForm, "login.html")}


@blueprint.route("/register", methods=["GET", "POST"])
def register(accounts: AccountUseCases) -> ResponseReturnValue:
    form = RegisterForm()
    if form.validate_on_submit():
        try:
            accounts.register(form.email.data, form.password.data)
        except InvalidParameter as error:
            field = form.password if error.parameter == "password" else form.email
            field.errors = [*field.errors, str(error)]
        else:
            # The same answer whether the email was new or taken: no account is revealed.
            flash(REGISTERED)
            return redirect(url_for("accounts.log_in"))
    return render_template("register.html", form=form), 400 if form.errors else 200


@blueprint.route("/login", methods=["GET", "POST"])
def log_in(accounts: AccountUseCases) -> ResponseReturnValue:
    form = LoginForm()
    if form.validate_on_submit():
        try:
            user = accounts.log_in(form.email.data, form.password.data)
        except DomainError as error:
            form.password.errors = [str(error)]
        else:
            session.clear()  # a new session, and a new CSRF token with it: nothing carries over
            login_user(SessionUser(user))
            response = redirect(url_for("accounts.keys"))
            response.set_cookie(SIGNED_IN, "1", samesite="Lax", secure=current_app.config["SESSION_COOKIE_SECURE"])
            return response
    page = current_app.make_response((render_template("login.html", form=form), 401 if form.errors else 200))
    if SIGNED_IN in request.cookies and not current_user.is_authenticated:  # its session ended elsewhere
        page.delete_cookie(SIGNED_IN)
    return page


@blueprint.post("/logout")
def log_out(accounts: AccountUseCases) -> ResponseReturnValue:
    if ConfirmForm().validate_on_submit() and current_user.is_authenticated:
        accounts.log_out(current_user.user.id)
        logout_user()
        session.clear()
    response = redirect(url_for("pages.home"))
    response.delete_cookie(SIGNED_IN)
    return response


@blueprint.get("/keys")
@login_required  # type: ignore[misc]
def keys(accounts: AccountUseCases) -> ResponseReturnValue:
    issued = session.pop(ISSUED_KEY, None)
    page = _keys_page(accounts, NewKeyForm(formdata=None), issued)
    # A page that shows a new key must stay in no cache, the browser's back-forward one included.
    return page, 200, {"Cache-Control": "no-store"}


@blueprint.post("/keys")
@login_required  # type: ignore[misc]
def create_key(accounts: AccountUseCases) -> ResponseReturnValue:
    form = NewKeyForm()
    if not form.validate_on_submit():
        return _keys_page(accounts, form, issued=None), 400
    try:
        issued = accounts.issue_api_key(form.name.data, current_user.user.id, Role(form.role.data))
    except DomainError as error:
        form.name.errors = [str(error)]
        return _keys_page(accounts, form, issued=None), 400
    # Post/redirect/get: a reload shows the page again instead of making a second key. The key
    # rides the session to the next page once; it is never kept anywhere else.
    session[ISSUED_KEY] = issued.secret
    return redirect(url_for("accounts.keys"))


@blueprint.post(f"/keys/<{ID_IN_PATH}:key_id>/revoke")
@login_required  # type: ignore[misc]
def revoke_key(key_id: int, accounts: AccountUseCases) -> ResponseReturnValue:
    if ConfirmForm().validate_on_submit():
        key = accounts.revoke_api_key(current_user.user.id, key_id)
        verified_keys().forget(key.key_hash)  # other workers forget it within REMEMBER_SECONDS
        flash(f"Key {key.name} ({key.prefix}…) is revoked.")
    return redirect(url_for("accounts.keys"))


@blueprint.errorhandler(CSRFError)
def csrf_failed(error: CSRFError) -> ResponseReturnValue:
    """An expired or missing token (an old tab, say): the form again, with what to do."""
    form_class, template = FORMS.get(request.endpoint or "", (None, ""))
    if form_class is None:
        flash("The form had expired; please try again.")
        return redirect(url_for("accounts.keys") if current_user.is_authenticated else url_for("accounts.log_in"))
    form = form_class()  # what was typed, and a fresh token
    message = "The form had expired (or came from elsewhere); please send it again."
    return render_template(template, form=form, message=message), 400


def _keys_page(accounts: AccountUseCases, form: NewKeyForm, issued: str | None) -> str:
    user = current_user.user
    form.role.choices = [role.value for role in Role if user.role.allows(role)]
    return render_template(
        "keys.html",
        form=form,
        confirm=ConfirmForm(),
        keys=accounts.api_keys(user.id),
        issued=issued,
        admin=user.role is Role.ADMIN,
    )


def _accounts() -> AccountUseCases:
    return current_app.extensions["injector"].get(AccountUseCases)  # type: ignore[no-any-return]

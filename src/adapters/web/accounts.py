"""Account pages: register, log in and out, and manage API keys (CSRF-protected forms)."""

from __future__ import annotations

from flask import Blueprint, current_app, flash, redirect, render_template, url_for
from flask.typing import ResponseReturnValue
from flask_login import LoginManager, UserMixin, current_user, login_required, login_user, logout_user
from flask_wtf import FlaskForm
from wtforms import EmailField, PasswordField, StringField
from wtforms.validators import DataRequired, EqualTo, Length

from src.adapters.web.auth import verified_keys
from src.application.domain.errors import DomainError
from src.application.domain.model import User
from src.application.use_cases.accounts import AccountUseCases

blueprint = Blueprint("accounts", __name__)
login_manager = LoginManager()
login_manager.login_view = "accounts.log_in"
login_manager.login_message = "Log in to manage your API keys."


class SessionUser(UserMixin):  # type: ignore[misc]
    """The logged-in account, as Flask-Login wants it; the domain User knows nothing of sessions."""

    def __init__(self, user: User):
        self.user = user
        self.id = user.id


@login_manager.user_loader
def load_user(user_id: str) -> SessionUser | None:
    user = current_app.extensions["injector"].get(AccountUseCases).user(int(user_id))
    return SessionUser(user) if user else None


class RegisterForm(FlaskForm):  # type: ignore[misc]
    email = EmailField("Email", validators=[DataRequired(), Length(max=254)])
    password = PasswordField("Password", validators=[DataRequired(), Length(max=256)])
    confirm = PasswordField("Repeat the password", validators=[EqualTo("password", "the passwords differ")])


class LoginForm(FlaskForm):  # type: ignore[misc]
    email = EmailField("Email", validators=[DataRequired(), Length(max=254)])
    password = PasswordField("Password", validators=[DataRequired(), Length(max=256)])


class NewKeyForm(FlaskForm):  # type: ignore[misc]
    name = StringField("Name", validators=[DataRequired(), Length(max=100)])


class ConfirmForm(FlaskForm):  # type: ignore[misc]
    """A form with nothing but its CSRF token: log out, revoke."""


@blueprint.route("/register", methods=["GET", "POST"])
def register(accounts: AccountUseCases) -> ResponseReturnValue:
    form = RegisterForm()
    if form.validate_on_submit():
        try:
            user = accounts.register(form.email.data, form.password.data)
        except DomainError as error:
            form.email.errors = [*form.email.errors, str(error)]
        else:
            login_user(SessionUser(user))
            flash("Welcome! Create an API key to call the API.")
            return redirect(url_for("accounts.keys"))
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
            login_user(SessionUser(user))
            return redirect(url_for("accounts.keys"))
    return render_template("login.html", form=form), 401 if form.errors else 200


@blueprint.post("/logout")
def log_out() -> ResponseReturnValue:
    if ConfirmForm().validate_on_submit():
        logout_user()
    return redirect(url_for("pages.home"))


@blueprint.get("/keys")
@login_required  # type: ignore[misc]
def keys(accounts: AccountUseCases) -> ResponseReturnValue:
    return _keys_page(accounts, NewKeyForm(), issued=None)


@blueprint.post("/keys")
@login_required  # type: ignore[misc]
def create_key(accounts: AccountUseCases) -> ResponseReturnValue:
    form = NewKeyForm()
    if not form.validate_on_submit():
        return _keys_page(accounts, form, issued=None), 400
    issued = accounts.issue_api_key(form.name.data, current_user.id)
    # Shown in this response only, never stored in the session or anywhere else.
    return _keys_page(accounts, NewKeyForm(formdata=None), issued=issued.secret)


@blueprint.post("/keys/<int:key_id>/revoke")
@login_required  # type: ignore[misc]
def revoke_key(key_id: int, accounts: AccountUseCases) -> ResponseReturnValue:
    if ConfirmForm().validate_on_submit():
        key = accounts.revoke_api_key(current_user.id, key_id)
        verified_keys().forget(key.key_hash)  # other workers forget it within REMEMBER_SECONDS
        flash(f"Key {key.name} ({key.prefix}…) is revoked.")
    return redirect(url_for("accounts.keys"))


def _keys_page(accounts: AccountUseCases, form: NewKeyForm, issued: str | None) -> str:
    return render_template(
        "keys.html", form=form, confirm=ConfirmForm(), keys=accounts.api_keys(current_user.id), issued=issued
    )

"""Accounts over HTTP: register, log in, keys, CSRF, secrets never in clear, rate limits."""

from __future__ import annotations

import logging
import re
import time
import uuid

import pytest
from sqlalchemy import event, text

from src.adapters.web.auth import REMEMBER_SECONDS
from src.application.use_cases.accounts import AccountUseCases
from src.infrastructure.app import create_app
from src.infrastructure.database import db
from tests.support.polling import wait_until_finished

PASSWORD = "Correct-Horse-42"
CSRF = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')


def csrf_token(client, path: str) -> str:
    return CSRF.search(client.get(path).data.decode()).group(1)


def unique_email() -> str:
    return f"user-{uuid.uuid4().hex[:8]}@example.com"


def register(client, email: str, password: str = PASSWORD):
    token = csrf_token(client, "/register")
    return client.post(
        "/register", data={"email": email, "password": password, "confirm": password, "csrf_token": token}
    )


def log_in(client, email: str, password: str = PASSWORD):
    token = csrf_token(client, "/login")
    return client.post("/login", data={"email": email, "password": password, "csrf_token": token})


def sign_up(client, email: str | None = None) -> str:
    """Registers and logs in; returns the email."""
    email = email or unique_email()
    register(client, email)
    assert log_in(client, email).status_code == 302
    return email


def log_out(client):
    return client.post("/logout", data={"csrf_token": csrf_token(client, "/keys")})


def create_key(client, name: str = "laptop", role: str = "reader") -> str:
    token = csrf_token(client, "/keys")
    created = client.post("/keys", data={"name": name, "role": role, "csrf_token": token})
    assert created.status_code == 302 and created.location.endswith("/keys")  # post/redirect/get
    page = client.get("/keys").data.decode()
    return re.search(r'<code id="new-key">([^<]+)</code>', page).group(1)


def test_register_log_in_create_a_key_call_the_api_revoke_it_and_get_401(client, caplog):
    caplog.set_level(logging.DEBUG)
    email = unique_email()
    registered = register(client, email)
    assert registered.status_code == 302 and registered.location.endswith("/login")
    assert client.get("/keys").status_code == 302  # not logged in by registering: sent to the log-in page
    assert log_in(client, email).status_code == 302
    secret = create_key(client)
    assert secret.startswith("jnc_")

    assert client.get("/metrics/?metric_name=TTFT", headers={"api-key": secret}).status_code == 200
    assert client.get("/runs", headers={"Authorization": f"Bearer {secret}"}).status_code == 200
    keys_page = client.get("/keys").data.decode()
    assert secret not in keys_page and secret[:10] in keys_page  # only the prefix, after the first showing

    key_id = re.search(r'action="/keys/(\d+)/revoke"', keys_page).group(1)
    client.post(f"/keys/{key_id}/revoke", data={"csrf_token": csrf_token(client, "/keys")})
    assert client.get("/metrics/?metric_name=TTFT", headers={"api-key": secret}).status_code == 401
    assert "revoked" in client.get("/keys").data.decode()
    assert secret not in caplog.text and PASSWORD not in caplog.text


def test_a_key_revoked_on_one_worker_stops_working_on_every_worker_within_two_seconds(client, environ):
    other_worker = create_app(environ).test_client()  # same database and Redis, its own memory
    sign_up(client)
    headers = {"api-key": create_key(client)}
    assert other_worker.get("/llms", headers=headers).status_code == 200  # verified there, so remembered

    key_id = re.search(r'action="/keys/(\d+)/revoke"', client.get("/keys").data.decode()).group(1)
    client.post(f"/keys/{key_id}/revoke", data={"csrf_token": csrf_token(client, "/keys")})
    revoked_at = time.monotonic()
    assert client.get("/llms", headers=headers).status_code == 401
    while other_worker.get("/llms", headers=headers).status_code == 200:
        assert time.monotonic() - revoked_at < REMEMBER_SECONDS + 0.5, "the other worker still accepts the key"
        time.sleep(0.05)


def test_keys_and_passwords_are_never_stored_in_clear(client, clean_app):
    email = sign_up(client)
    secret = create_key(client)
    with clean_app.app_context(), db.engine.connect() as connection:
        dump = " ".join(
            str(row) for table in ("users", "api_keys") for row in connection.execute(text(f"SELECT * FROM {table}"))
        )
    assert email in dump
    assert secret not in dump and secret[4:] not in dump and PASSWORD not in dump


def test_forms_without_a_valid_csrf_token_are_refused(client):
    email = unique_email()
    response = client.post("/register", data={"email": email, "password": PASSWORD, "confirm": PASSWORD})
    assert response.status_code == 400
    sign_up(client, email)
    forged = client.post("/keys", data={"name": "forged", "csrf_token": "not-the-token"})
    assert forged.status_code in (302, 400) and b"jnc_" not in client.get("/keys").data


def test_a_wrong_password_never_reveals_whether_the_email_exists(client):
    email = unique_email()
    register(client, email)
    answers = []
    for candidate, password in ((email, "Wrong-Horse-42"), (unique_email(), PASSWORD)):
        token = csrf_token(client, "/login")
        response = client.post("/login", data={"email": candidate, "password": password, "csrf_token": token})
        # The form's CSRF token is signed with the second it was made in: not part of the answer.
        body = CSRF.sub("TOKEN", response.data.decode()).replace(candidate, "EMAIL")
        answers.append((response.status_code, body))
    assert answers[0] == answers[1]
    assert "wrong email or password" in answers[0][1]


def test_a_weak_password_is_explained_under_the_password_field(client):
    response = register(client, unique_email(), "password")
    assert response.status_code == 400
    html = response.data.decode()
    password_label = html[html.index('name="password"') : html.index('name="confirm"')]
    assert "the password must" in password_label
    assert "the password must" not in html[: html.index('name="password"')]  # not under the email


def test_a_weak_password_repeated_wrong_is_told_both_at_once(client):
    token = csrf_token(client, "/register")
    data = {"email": unique_email(), "password": "short", "confirm": "", "csrf_token": token}
    html = client.post("/register", data=data).data.decode()
    assert "the password must have 10 to" in html and "the passwords differ" in html


def test_registering_a_taken_email_answers_as_a_new_one_does(client):
    email = unique_email()
    answers = []
    for _ in range(2):  # new, then taken
        response = register(client, email)
        page = client.get(response.location)
        answers.append((response.status_code, response.location, CSRF.sub("TOKEN", page.data.decode())))
    assert answers[0] == answers[1]
    assert "If this email was new" in answers[0][2]


def test_registration_is_limited_per_address(clean_app, environ):
    client = create_app({**environ, "REGISTER_RATE_LIMIT": "2/hour"}).test_client()
    statuses = [register(client, unique_email()).status_code for _ in range(3)]
    assert statuses == [302, 302, 429]
    other = client.post("/register", environ_base={"REMOTE_ADDR": "198.51.100.7"})
    assert other.status_code == 400  # another address has its own allowance (this one sent no token)


def test_log_out_ends_the_session_on_the_server_so_a_copied_cookie_stops_working(client, clean_app):
    sign_up(client)
    copied = client.get_cookie("session").value
    thief = clean_app.test_client()
    thief.set_cookie("session", copied)
    assert thief.get("/keys").status_code == 200
    log_out(client)
    assert thief.get("/keys").status_code == 302  # sent to the log-in page


def test_the_csrf_token_is_new_after_log_in(client):
    email = unique_email()
    register(client, email)
    before = csrf_token(client, "/login")
    log_in(client, email)
    assert csrf_token(client, "/keys") != before


def test_an_expired_form_is_shown_again_with_a_message_not_json(client):
    response = client.post("/login", data={"email": "ada@example.com", "password": "x", "csrf_token": "stale"})
    assert response.status_code == 400 and response.mimetype == "text/html"
    html = response.data.decode()
    assert "The form had expired" in html and 'value="ada@example.com"' in html and CSRF.search(html)


def test_the_page_with_a_new_key_is_never_stored_and_a_reload_makes_no_second_key(client):
    sign_up(client)
    create_key(client, "once")
    page = client.get("/keys")
    assert page.headers["Cache-Control"] == "no-store" and 'id="new-key"' not in page.data.decode()
    assert page.data.decode().count("<td>once</td>") == 1


def test_a_reader_account_cannot_make_stronger_keys_and_an_admin_can(client, clean_app):
    email = sign_up(client)
    assert 'name="role"' in client.get("/keys").data.decode()  # the hidden reader role only
    assert "<select" not in client.get("/keys").data.decode()
    token = csrf_token(client, "/keys")
    forged = client.post("/keys", data={"name": "sneaky", "role": "admin", "csrf_token": token})
    assert forged.status_code == 400 and "this account may issue reader keys" in forged.data.decode()

    listed = clean_app.test_cli_runner().invoke(args=["users", "list"])
    assert re.fullmatch(rf"{re.escape(email)}: reader, registered \d{{4}}-\d\d-\d\d \d\d:\d\d UTC, 0 active keys\n",
                        listed.output), listed.output  # fmt: skip
    result = clean_app.test_cli_runner().invoke(args=["users", "set-role", email, "admin"])
    assert result.exit_code == 0 and "is now admin" in result.output
    secret = create_key(client, "ops", role="operator")
    listed = clean_app.test_cli_runner().invoke(args=["users", "list"]).output
    assert listed.startswith(f"{email}: admin, registered ") and listed.endswith(" UTC, 1 active key\n")
    run = client.post("/runs", json={"samples_per_pair": 10}, headers={"api-key": secret})
    assert run.status_code == 202 and run.json["run"]["requested_by"].startswith("key:")
    wait_until_finished(client, {"api-key": secret}, f"/runs/{run.json['run']['id']}")  # before its database goes
    page = client.get("/keys").data.decode()
    assert "<select" in page and "API keys of every account" in page and email in page


def test_past_twenty_active_keys_the_keys_page_says_to_revoke_one_first(client):
    sign_up(client)
    for n in range(20):
        create_key(client, f"key {n}")
    token = csrf_token(client, "/keys")
    refused = client.post("/keys", data={"name": "one more", "role": "reader", "csrf_token": token})
    assert refused.status_code == 400
    assert "an account may hold at most 20 active keys: revoke one first" in refused.data.decode()


def test_session_cookies_are_http_only_and_same_site_lax(client):
    email = unique_email()
    register(client, email)
    response = log_in(client, email)
    (cookie,) = [c for c in response.headers.getlist("Set-Cookie") if c.startswith("session=")]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_the_menus_signed_in_cookie_holds_no_secret_and_goes_with_the_session(client):
    sign_up(client)
    assert client.get_cookie("signed_in").value == "1"  # for the menu's script: no HttpOnly, nothing to steal
    log_out(client)
    assert client.get_cookie("signed_in") is None

    sign_up(client)
    client.delete_cookie("session")  # the browser's session ended: the log-in page it meets clears the menu's hint
    assert client.get("/keys").status_code == 302
    client.get("/login")
    assert client.get_cookie("signed_in") is None


def test_only_the_accounts_pages_say_they_vary_by_cookie(client, api_headers):
    """The rest is the same whoever is logged in, so a shared cache may keep one copy for all."""
    sign_up(client)
    for path, headers in (("/static/vendor/plotly.min.js", {}), ("/visualize", {}), ("/health/", {}),
                          ("/runs", api_headers), ("/metrics/?metric_name=TTFT", api_headers)):  # fmt: skip
        response = client.get(path, headers=headers)
        assert response.status_code in (200, 404), path  # 404: no run yet to rank
        assert "Cookie" not in response.vary and "Set-Cookie" not in response.headers, path
    for path in ("/keys", "/login", "/register"):
        assert "Cookie" in client.get(path).vary, path


@pytest.fixture
def limited_client(clean_app, environ):
    app = create_app({**environ, "RATE_LIMIT": "5/minute", "LOGIN_RATE_LIMIT_ACCOUNT": "3/minute"})
    return app.test_client()


def test_the_api_answers_429_with_retry_after_past_the_rate_limit_per_key(limited_client, api_headers):
    statuses = [limited_client.get("/runs", headers=api_headers).status_code for _ in range(7)]  # not cached
    assert statuses == [200] * 5 + [429] * 2
    refused = limited_client.get("/runs", headers=api_headers)
    assert refused.is_json and 0 < int(refused.headers["Retry-After"]) <= 60  # when the minute's window ends
    assert limited_client.get("/runs", headers={"api-key": "another-key"}).status_code == 401  # its own bucket
    other_key = limited_client.application.extensions["injector"].get(AccountUseCases).issue_api_key("reader")
    assert limited_client.get("/runs", headers={"api-key": other_key.secret}).status_code == 200


def test_only_work_counts_against_the_rate_limit_not_answers_the_cache_holds(limited_client, api_headers):
    assert limited_client.get("/llms", headers=api_headers).headers["X-Cache"] == "miss"  # computed: counted
    cached = [limited_client.get("/llms", headers=api_headers) for _ in range(10)]
    assert [(r.status_code, r.headers["X-Cache"]) for r in cached] == [(200, "hit")] * 10
    statuses = [limited_client.get("/runs", headers=api_headers).status_code for _ in range(5)]
    assert statuses == [200] * 4 + [429]  # the miss above and these four make five
    assert limited_client.get("/llms", headers=api_headers).status_code == 200  # still cached


def test_an_address_presenting_unknown_keys_is_refused_without_a_query_past_its_limit(clean_app, environ, api_headers):
    client = create_app({**environ, "INVALID_KEY_RATE_LIMIT": "3/minute"}).test_client()
    assert client.get("/llms", headers=api_headers).status_code == 200  # a key in use from that address
    statuses = [client.get("/llms", headers={"api-key": uuid.uuid4().hex}).status_code for _ in range(4)]
    assert statuses == [401, 401, 401, 429]

    queries = []
    with client.application.app_context():
        listen = lambda *args: queries.append(args[2])  # noqa: E731
        event.listen(db.engine, "before_cursor_execute", listen)
        try:
            refused = client.get("/llms", headers={"Authorization": f"Bearer {uuid.uuid4().hex}"})
        finally:
            event.remove(db.engine, "before_cursor_execute", listen)
    assert refused.status_code == 429 and refused.is_json and 0 < int(refused.headers["Retry-After"]) <= 60
    assert queries == []  # guessing keys costs the database nothing more
    time.sleep(REMEMBER_SECONDS)  # the key in use is verified again: it still works
    assert client.get("/llms", headers=api_headers).status_code == 200


@pytest.mark.parametrize("proxy_hops, apart", [("0", False), ("1", True)])
def test_the_forwarded_client_address_counts_only_behind_declared_proxies(clean_app, environ, proxy_hops, apart):
    client = create_app({**environ, "INVALID_KEY_RATE_LIMIT": "2/minute", "PROXY_HOPS": proxy_hops}).test_client()

    def guess(address: str) -> int:
        return client.get("/llms", headers={"api-key": uuid.uuid4().hex, "X-Forwarded-For": address}).status_code

    assert [guess("203.0.113.1") for _ in range(3)] == [401, 401, 429]
    assert guess("203.0.113.2") == (401 if apart else 429)  # without a proxy, the header is the client's word


def test_wrong_passwords_from_a_stranger_never_lock_the_owner_out(limited_client):
    email = unique_email()
    register(limited_client, email)
    statuses = []
    for _ in range(4):
        token = csrf_token(limited_client, "/login")
        data = {"email": email, "password": "Wrong-Horse-42", "csrf_token": token}
        statuses.append(
            limited_client.post("/login", data=data, environ_base={"REMOTE_ADDR": "203.0.113.9"}).status_code
        )
    assert statuses == [401, 401, 401, 429]  # the stranger's address is limited on this account
    assert log_in(limited_client, email).status_code == 302  # the owner, from their own address

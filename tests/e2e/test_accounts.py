"""Accounts over HTTP: register, log in, keys, CSRF, secrets never in clear, rate limits."""

from __future__ import annotations

import logging
import re
import time
import uuid

import pytest
from sqlalchemy import event, text

from src.adapters.web.auth import REMEMBER_SECONDS
from src.infrastructure.app import create_app
from src.infrastructure.database import db

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


def create_key(client, name: str = "laptop") -> str:
    token = csrf_token(client, "/keys")
    page = client.post("/keys", data={"name": name, "csrf_token": token}).data.decode()
    return re.search(r'<code id="new-key">([^<]+)</code>', page).group(1)


def test_register_log_in_create_a_key_call_the_api_revoke_it_and_get_401(client, caplog):
    caplog.set_level(logging.DEBUG)
    email = unique_email()
    assert register(client, email).status_code == 302
    client.post("/logout", data={"csrf_token": csrf_token(client, "/keys")})
    assert client.get("/keys").status_code == 302  # logged out: sent to the log-in page

    token = csrf_token(client, "/login")
    assert client.post("/login", data={"email": email, "password": PASSWORD, "csrf_token": token}).status_code == 302
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
    register(client, unique_email())
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
    email = unique_email()
    register(client, email)
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
    assert register(client, email).status_code == 302
    forged = client.post("/keys", data={"name": "forged", "csrf_token": "not-the-token"})
    assert forged.status_code == 400 and b"jnc_" not in forged.data


def test_a_wrong_password_never_reveals_whether_the_email_exists(client):
    email = unique_email()
    register(client, email)
    client.post("/logout", data={"csrf_token": csrf_token(client, "/keys")})
    answers = []
    for candidate, password in ((email, "Wrong-Horse-42"), (unique_email(), PASSWORD)):
        token = csrf_token(client, "/login")
        response = client.post("/login", data={"email": candidate, "password": password, "csrf_token": token})
        # The form's CSRF token is signed with the second it was made in: not part of the answer.
        body = CSRF.sub("TOKEN", response.data.decode()).replace(candidate, "EMAIL")
        answers.append((response.status_code, body))
    assert answers[0] == answers[1]
    assert "wrong email or password" in answers[0][1]


def test_weak_passwords_and_taken_emails_are_explained_on_the_form(client):
    response = register(client, unique_email(), "password")
    assert response.status_code == 400 and b"the password must" in response.data
    email = unique_email()
    register(client, email)
    client.post("/logout", data={"csrf_token": csrf_token(client, "/keys")})
    again = register(client, email)
    assert again.status_code == 400 and b"already uses this email" in again.data


def test_session_cookies_are_http_only_and_same_site_lax(client):
    response = register(client, unique_email())
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie


@pytest.fixture
def limited_client(clean_app, environ):
    app = create_app({**environ, "RATE_LIMIT": "5/minute", "LOGIN_RATE_LIMIT_ACCOUNT": "3/minute"})
    return app.test_client()


def test_the_api_answers_429_with_retry_after_past_the_rate_limit_per_key(limited_client, api_headers):
    statuses = [limited_client.get("/llms", headers=api_headers).status_code for _ in range(7)]
    assert statuses == [200] * 5 + [429] * 2
    refused = limited_client.get("/llms", headers=api_headers)
    assert refused.is_json and 0 < int(refused.headers["Retry-After"]) <= 60  # when the minute's window ends
    assert limited_client.get("/llms", headers={"api-key": "another-key"}).status_code == 401  # its own bucket


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


def test_log_in_attempts_are_limited_per_account(limited_client):
    email = unique_email()
    statuses = []
    for _ in range(4):
        token = csrf_token(limited_client, "/login")
        data = {"email": email, "password": "Wrong-Horse-42", "csrf_token": token}
        statuses.append(limited_client.post("/login", data=data).status_code)
    assert statuses == [401, 401, 401, 429]

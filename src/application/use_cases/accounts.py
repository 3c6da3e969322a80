"""Accounts and API keys: passwords hashed with scrypt, keys random and stored only as hashes."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import timedelta

from injector import inject

from src.application.domain.errors import Conflict, InvalidParameter, NotFound, Unauthorized
from src.application.domain.model import ApiKey, User
from src.application.ports.clock import Clock
from src.application.ports.unit_of_work import AbstractUnitOfWork
from src.application.services.passwords import (
    UNKNOWN_USER_HASH,
    check_strength,
    hash_password,
    verify_password,
)

KEY_PREFIX = "jnc_"
# Recording every use would turn each API read into a write; once a minute is precise enough.
LAST_USED_RESOLUTION = timedelta(minutes=1)
EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]{2,}$")
BOOTSTRAP = "bootstrap"


@dataclass(frozen=True)
class AccountSettings:
    bootstrap_api_key: str | None = None


@dataclass(frozen=True)
class IssuedKey:
    key: ApiKey
    secret: str  # shown once to its owner, never stored


def hash_key(secret: str) -> str:
    """SHA-256 suffices: keys carry 256 random bits, so there is nothing to brute-force."""
    return hashlib.sha256(secret.encode()).hexdigest()


class AccountUseCases:
    @inject
    def __init__(self, uow: AbstractUnitOfWork, clock: Clock, settings: AccountSettings):
        self.uow = uow
        self.clock = clock
        self.settings = settings

    def register(self, email: str, password: str) -> User:
        email = normalize_email(email)
        check_strength(password, email)
        user = User(email=email, password_hash=hash_password(password), created_at=self.clock.now())
        try:
            with self.uow:
                self.uow.users.add(user)
                self.uow.commit()
        except Conflict:
            raise Conflict("an account already uses this email") from None
        return user

    def log_in(self, email: str, password: str) -> User:
        """The user, or Unauthorized with one message whether the email or the password is wrong."""
        with self.uow:
            user = self.uow.users.get_by_email(normalize_email(email, strict=False))
        if not verify_password(password, user.password_hash if user else UNKNOWN_USER_HASH) or user is None:
            raise Unauthorized("wrong email or password")
        return user

    def user(self, user_id: int) -> User | None:
        with self.uow:
            return self.uow.users.get(user_id)

    def user_by_email(self, email: str) -> User:
        with self.uow:
            user = self.uow.users.get_by_email(normalize_email(email, strict=False))
        if user is None:
            raise NotFound(f"no account uses {email}")
        return user

    def issue_api_key(self, name: str, user_id: int | None = None) -> IssuedKey:
        name = name.strip()
        if not 1 <= len(name) <= 100:
            raise InvalidParameter("a key name must have 1 to 100 characters")
        secret = KEY_PREFIX + secrets.token_urlsafe(32)
        key = ApiKey(
            name=name,
            prefix=secret[: len(KEY_PREFIX) + 6],
            key_hash=hash_key(secret),
            created_at=self.clock.now(),
            user_id=user_id,
        )
        with self.uow:
            self.uow.api_keys.add(key)
            self.uow.commit()
        return IssuedKey(key=key, secret=secret)

    def api_keys(self, user_id: int) -> list[ApiKey]:
        with self.uow:
            return self.uow.api_keys.for_user(user_id)

    def revoke_api_key(self, user_id: int, key_id: int) -> ApiKey:
        with self.uow:
            key = self.uow.api_keys.get(key_id)
            if key is None or key.user_id != user_id:
                raise NotFound(f"you have no API key {key_id}")
            if key.revoked_at is None:
                key.revoked_at = self.clock.now()
                self.uow.commit()
            return key

    def authenticate(self, presented: str | None) -> str:
        """Who is calling: "bootstrap" for the environment's key, "key:<id>" for an issued one."""
        if not presented:
            raise Unauthorized("an API key is required: send it in the api-key header")
        bootstrap = self.settings.bootstrap_api_key
        if bootstrap and hmac.compare_digest(presented.encode(), bootstrap.encode()):
            return BOOTSTRAP
        digest = hash_key(presented)
        with self.uow:
            key = self.uow.api_keys.get_by_hash(digest)
            # The lookup is by hash; comparing the hashes again in constant time keeps a
            # database collation or index quirk from ever accepting a near match.
            if key is None or not key.is_active or not hmac.compare_digest(key.key_hash, digest):
                raise Unauthorized("the API key is not valid")
            now = self.clock.now()
            if key.last_used_at is None or now - key.last_used_at > LAST_USED_RESOLUTION:
                key.last_used_at = now
                self.uow.commit()
            return f"key:{key.id}"


def normalize_email(email: str, strict: bool = True) -> str:
    email = email.strip().lower()
    if strict and (len(email) > 254 or not EMAIL.match(email)):
        raise InvalidParameter("enter a valid email address")
    return email

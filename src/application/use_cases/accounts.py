"""Accounts and API keys: passwords hashed with scrypt, keys random and stored only as hashes."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections import Counter
from dataclasses import dataclass
from datetime import timedelta

from injector import inject

from src.application.domain.errors import Conflict, Forbidden, InvalidParameter, NotFound, Unauthorized
from src.application.domain.model import ApiKey, Caller, Role, User
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
MAX_ACTIVE_KEYS = 20  # an account's: each key has its own rate limit
EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]{2,}$")
BOOTSTRAP = "bootstrap"


@dataclass(frozen=True)
class AccountSettings:
    bootstrap_api_key: str | None  # the environment's admin key, if any


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

    def register(self, email: str, password: str) -> User | None:
        """The new account, or None when the email is taken. The caller must answer both alike
        (and the password is hashed in both): registering tells no more than logging in does."""
        email = normalize_email(email)
        check_strength(password, email)
        user = User(email=email, password_hash=hash_password(password), created_at=self.clock.now())
        try:
            with self.uow:
                self.uow.users.add(user)
                self.uow.commit()
        except Conflict:
            return None
        return user

    def log_in(self, email: str, password: str) -> User:
        """The user, or Unauthorized with one message whether the email or the password is wrong."""
        with self.uow:
            user = self.uow.users.get_by_email(email.strip().lower()) if email.isprintable() else None
        if not verify_password(password, user.password_hash if user else UNKNOWN_USER_HASH) or user is None:
            raise Unauthorized("wrong email or password")
        return user

    def user(self, user_id: int) -> User | None:
        with self.uow:
            return self.uow.users.get(user_id)

    def session_user(self, user_id: int, generation: int) -> User | None:
        """The user of a session issued at `generation`; None once a log-out moved it on."""
        user = self.user(user_id)
        return user if user is not None and user.session_generation == generation else None

    def log_out(self, user_id: int) -> None:
        """Ends every session of the account, on every device: copied cookies stop working."""
        with self.uow:
            user = self.uow.users.get(user_id)
            if user is not None:
                user.session_generation += 1
                self.uow.commit()

    def set_role(self, email: str, role: Role) -> User:
        """An account's role: the most its keys may have (the command line's business)."""
        with self.uow:
            user = self.uow.users.get_by_email(normalize_email(email, strict=False))
            if user is None:
                raise NotFound(f"no account uses {email}")
            user.role = role
            self.uow.commit()
            return user

    def users(self) -> list[tuple[User, int]]:
        """Every account, in the order they registered, with how many active keys it holds (the
        command line's business)."""
        with self.uow:
            active = Counter(key.user_id for key in self.uow.api_keys.list() if key.is_active)
            return [(user, active[user.id]) for user in self.uow.users.list()]

    def user_by_email(self, email: str) -> User:
        with self.uow:
            user = self.uow.users.get_by_email(normalize_email(email, strict=False))
        if user is None:
            raise NotFound(f"no account uses {email}")
        return user

    def issue_api_key(self, name: str, user_id: int | None = None, role: Role = Role.READER) -> IssuedKey:
        """A new key for the account (none: the operator's, from the command line), with a role
        no higher than the account's."""
        name = check_text(name, "a key name", 100)
        secret = KEY_PREFIX + secrets.token_urlsafe(32)
        key = ApiKey(
            name=name,
            prefix=secret[: len(KEY_PREFIX) + 6],
            key_hash=hash_key(secret),
            created_at=self.clock.now(),
            role=role,
            user_id=user_id,
        )
        with self.uow:
            owner = self.uow.users.get(user_id) if user_id is not None else None
            if user_id is not None and (owner is None or not owner.role.allows(role)):
                raise Forbidden(f"this account may issue {owner.role if owner else 'no'} keys, not {role} keys")
            if user_id is not None and sum(k.is_active for k in self.uow.api_keys.for_user(user_id)) >= MAX_ACTIVE_KEYS:
                raise Conflict(f"an account may hold at most {MAX_ACTIVE_KEYS} active keys: revoke one first")
            self.uow.api_keys.add(key)
            self.uow.commit()
        return IssuedKey(key=key, secret=secret)

    def api_keys(self, user_id: int) -> list[tuple[ApiKey, str | None]]:
        """The keys an account manages, with their owners' emails: its own, or every key for an admin."""
        with self.uow:
            user = self.uow.users.get(user_id)
            if user is not None and user.role is Role.ADMIN:
                owners = {u.id: u.email for u in self.uow.users.list()}
                return [(key, owners.get(key.user_id)) for key in self.uow.api_keys.list()]
            return [(key, user.email if user else None) for key in self.uow.api_keys.for_user(user_id)]

    def revoke_api_key(self, user_id: int, key_id: int) -> ApiKey:
        """Revokes one of the account's keys, or any key for an admin."""
        with self.uow:
            key = self.uow.api_keys.get(key_id)
            user = self.uow.users.get(user_id)
            may = key is not None and (key.user_id == user_id or (user is not None and user.role is Role.ADMIN))
            if key is None or not may:
                raise NotFound(f"you have no API key {key_id}")
            if key.revoked_at is None:
                key.revoked_at = self.clock.now()
                self.uow.commit()
            return key

    def authenticate(self, presented: str | None) -> Caller:
        """Who is calling: "bootstrap" (an admin) for the environment's key, "key:<id>" for an issued one."""
        if not presented:
            raise Unauthorized("an API key is required: send it in the api-key header")
        bootstrap = self.settings.bootstrap_api_key
        if bootstrap and hmac.compare_digest(presented.encode(), bootstrap.encode()):
            return Caller(BOOTSTRAP, Role.ADMIN)
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
            return Caller(key.identity, key.role, account=key.user_id)


def check_text(value: str, what: str, max_length: int) -> str:
    """Stripped text of 1 to max_length printable characters (no NUL or other control characters,
    which PostgreSQL refuses or logs mangle)."""
    value = value.strip()
    if not 1 <= len(value) <= max_length:
        raise InvalidParameter(f"{what} must have 1 to {max_length} characters")
    if not value.isprintable():
        raise InvalidParameter(f"{what} must not contain control characters")
    return value


def normalize_email(email: str, strict: bool = True) -> str:
    email = email.strip().lower()
    if not email.isprintable():
        raise InvalidParameter("enter a valid email address", parameter="email")
    if strict and (len(email) > 254 or not EMAIL.match(email)):
        raise InvalidParameter("enter a valid email address", parameter="email")
    return email

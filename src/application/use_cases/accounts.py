"""API keys: issued at random, stored only as hashes, checked in constant time."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta

from injector import inject

from src.application.domain.errors import InvalidParameter, Unauthorized
from src.application.domain.model import ApiKey
from src.application.ports.clock import Clock
from src.application.ports.unit_of_work import AbstractUnitOfWork

KEY_PREFIX = "jnc_"
# Recording every use would turn each API read into a write; once a minute is precise enough.
LAST_USED_RESOLUTION = timedelta(minutes=1)


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

    def authenticate(self, presented: str | None) -> None:
        """Accept the bootstrap key from the environment or an active issued key; else Unauthorized."""
        if not presented:
            raise Unauthorized("an API key is required: send it in the api-key header")
        bootstrap = self.settings.bootstrap_api_key
        if bootstrap and hmac.compare_digest(presented.encode(), bootstrap.encode()):
            return
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

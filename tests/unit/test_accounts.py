import pytest

from src.application.domain.errors import Unauthorized
from src.application.use_cases.accounts import AccountSettings, AccountUseCases, hash_key
from tests.unit.fakes import FakeUnitOfWork, FixedClock


def accounts(bootstrap=None):
    uow = FakeUnitOfWork()
    return AccountUseCases(uow, FixedClock(), AccountSettings(bootstrap_api_key=bootstrap)), uow


def test_the_bootstrap_key_from_the_environment_is_accepted():
    use_cases, _ = accounts(bootstrap="from-env")
    use_cases.authenticate("from-env")


@pytest.mark.parametrize("presented", [None, "", "wrong", "from-env "])
def test_missing_or_unknown_keys_are_refused(presented):
    use_cases, _ = accounts(bootstrap="from-env")
    with pytest.raises(Unauthorized):
        use_cases.authenticate(presented)


def test_issued_keys_are_random_prefixed_and_stored_only_as_hashes():
    use_cases, uow = accounts()
    first = use_cases.issue_api_key("ci")
    second = use_cases.issue_api_key("ci")
    assert first.secret != second.secret
    assert first.secret.startswith("jnc_") and len(first.secret) >= 4 + 43  # 256 bits in base64
    stored = uow.store.api_keys[0]
    assert stored.key_hash == hash_key(first.secret)
    assert first.secret not in repr(vars(stored))
    use_cases.authenticate(first.secret)
    assert uow.store.api_keys[0].last_used_at is not None


def test_a_revoked_key_is_refused():
    use_cases, uow = accounts()
    issued = use_cases.issue_api_key("old")
    uow.store.api_keys[0].revoked_at = FixedClock().now()
    with pytest.raises(Unauthorized):
        use_cases.authenticate(issued.secret)

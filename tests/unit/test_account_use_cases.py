import pytest

from src.application.domain.errors import Conflict, InvalidParameter, NotFound, Unauthorized
from src.application.services.passwords import check_strength, hash_password, verify_password
from src.application.use_cases.accounts import AccountSettings, AccountUseCases
from tests.unit.fakes import FakeUnitOfWork, FixedClock

STRONG = "Correct-Horse-42"


@pytest.fixture
def accounts():
    return AccountUseCases(FakeUnitOfWork(), FixedClock(), AccountSettings())


def test_passwords_are_stored_as_salted_scrypt_hashes():
    first, second = hash_password(STRONG), hash_password(STRONG)
    assert first.startswith("scrypt$32768$8$1$") and first != second and STRONG not in first
    assert verify_password(STRONG, first) and not verify_password("Correct-Horse-43", first)
    assert not verify_password(STRONG, "garbage")


@pytest.mark.parametrize(
    "password, complaint",
    [
        ("Sh0rt!", "10 to 256"),
        ("alllowercaseletters"[:12], "mix three"),
        ("Ada.Lovelace-1815", "not contain your email"),
    ],
)
def test_weak_passwords_are_refused_with_the_reason(password, complaint):
    with pytest.raises(InvalidParameter, match=complaint):
        check_strength(password, "ada.lovelace@example.com")


def test_a_long_passphrase_is_strong_enough_without_symbols():
    check_strength("correct horse battery staple", "ada@example.com")


def test_registration_normalizes_the_email_and_refuses_a_second_account(accounts):
    user = accounts.register("  Ada@Example.COM ", STRONG)
    assert user.email == "ada@example.com"
    with pytest.raises(Conflict):
        accounts.register("ada@example.com", STRONG)
    with pytest.raises(InvalidParameter, match="valid email"):
        accounts.register("not-an-email", STRONG)


def test_a_failed_log_in_says_the_same_for_a_wrong_password_and_an_unknown_email(accounts):
    accounts.register("ada@example.com", STRONG)
    assert accounts.log_in("ADA@example.com", STRONG).email == "ada@example.com"
    messages = set()
    for email, password in (("ada@example.com", "Wrong-Horse-42"), ("nobody@example.com", STRONG)):
        with pytest.raises(Unauthorized) as error:
            accounts.log_in(email, password)
        messages.add(str(error.value))
    assert messages == {"wrong email or password"}


def test_users_list_and_revoke_only_their_own_keys(accounts):
    ada = accounts.register("ada@example.com", STRONG)
    bob = accounts.register("bob@example.com", STRONG)
    issued = accounts.issue_api_key("laptop", ada.id)
    assert [k.name for k in accounts.api_keys(ada.id)] == ["laptop"]
    assert accounts.api_keys(bob.id) == []
    with pytest.raises(NotFound):
        accounts.revoke_api_key(bob.id, issued.key.id)
    assert accounts.authenticate(issued.secret) == f"key:{issued.key.id}"
    accounts.revoke_api_key(ada.id, issued.key.id)
    with pytest.raises(Unauthorized):
        accounts.authenticate(issued.secret)

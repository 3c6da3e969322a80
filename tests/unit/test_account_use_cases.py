from datetime import timedelta

import pytest

from src.application.domain.errors import Conflict, Forbidden, InvalidParameter, NotFound, Unauthorized
from src.application.domain.model import Caller, Role
from src.application.services.passwords import check_strength, hash_password, verify_password
from src.application.use_cases.accounts import AccountSettings, AccountUseCases
from tests.unit.fakes import FakeUnitOfWork, FixedClock

STRONG = "Correct-Horse-42"


@pytest.fixture
def accounts():
    return AccountUseCases(FakeUnitOfWork(), FixedClock(), AccountSettings(bootstrap_api_key=None))


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


def test_registration_normalizes_the_email_and_makes_no_second_account(accounts):
    user = accounts.register("  Ada@Example.COM ", STRONG)
    assert user.email == "ada@example.com" and user.role is Role.READER
    assert accounts.register("ada@example.com", "Another-Horse-43") is None  # the caller answers as for a new one
    assert accounts.log_in("ada@example.com", STRONG).id == user.id  # the first account is untouched
    with pytest.raises(InvalidParameter, match="valid email") as error:
        accounts.register("not-an-email", STRONG)
    assert error.value.parameter == "email"
    with pytest.raises(InvalidParameter) as error:
        accounts.register("bob@example.com", "weak")
    assert error.value.parameter == "password"


@pytest.mark.parametrize("email", ["ada\x00@example.com", "ada@exa\nmple.com"])
def test_control_characters_in_an_email_are_refused_clearly_and_never_found(accounts, email):
    with pytest.raises(InvalidParameter, match=r"^enter a valid email address$") as refused:
        accounts.register(email, STRONG)
    assert refused.value.parameter == "email"
    with pytest.raises(Unauthorized):
        accounts.log_in(email, STRONG)


def test_a_key_name_with_control_characters_is_refused(accounts):
    with pytest.raises(InvalidParameter, match="control characters"):
        accounts.issue_api_key("lap\x00top")


def test_a_log_out_ends_every_session_of_the_account(accounts):
    ada = accounts.register("ada@example.com", STRONG)
    assert accounts.session_user(ada.id, ada.session_generation) is not None
    accounts.log_out(ada.id)
    assert accounts.session_user(ada.id, 0) is None
    assert accounts.session_user(ada.id, 1).email == "ada@example.com"  # a new log-in's session
    accounts.log_out(ada.id)  # and that one ends at the next log-out
    assert accounts.session_user(ada.id, 1) is None and accounts.session_user(ada.id, 2) is not None


def test_the_command_line_finds_accounts_by_email_as_typed_and_names_a_missing_one(accounts):
    ada = accounts.register("ada@example.com", STRONG)
    assert accounts.user_by_email(" ADA@example.com").id == ada.id
    for look_up in (accounts.user_by_email, lambda email: accounts.set_role(email, Role.ADMIN)):
        with pytest.raises(NotFound, match=r"^no account uses bob@example\.com$"):
            look_up("bob@example.com")
        with pytest.raises(NotFound, match=r"^no account uses not-an-email$"):  # a typo is simply not found
            look_up("not-an-email")


def test_a_keys_last_use_is_recorded_at_most_once_a_minute():
    clock = FixedClock()
    accounts = AccountUseCases(FakeUnitOfWork(), clock, AccountSettings(bootstrap_api_key=None))
    issued = accounts.issue_api_key("ci")
    accounts.authenticate(issued.secret)
    first = accounts.uow.store.api_keys[0].last_used_at
    assert first == clock.now()
    clock.advance(timedelta(seconds=60))
    accounts.authenticate(issued.secret)
    assert accounts.uow.store.api_keys[0].last_used_at == first  # no write for every request
    clock.advance(timedelta(seconds=1))
    accounts.authenticate(issued.secret)
    assert accounts.uow.store.api_keys[0].last_used_at == clock.now()


def test_keys_carry_a_role_no_higher_than_their_account_allows(accounts):
    ada = accounts.register("ada@example.com", STRONG)
    assert ada.role is Role.READER  # every account starts as a reader
    assert accounts.issue_api_key("laptop", ada.id).key.role is Role.READER
    with pytest.raises(Forbidden, match="reader keys, not operator"):
        accounts.issue_api_key("ci", ada.id, Role.OPERATOR)
    accounts.set_role("ada@example.com", Role.OPERATOR)
    issued = accounts.issue_api_key("ci", ada.id, Role.OPERATOR)
    assert accounts.authenticate(issued.secret) == Caller(f"key:{issued.key.id}", Role.OPERATOR, account=ada.id)
    ops = accounts.issue_api_key("ops", None, Role.ADMIN)
    assert ops.key.role is Role.ADMIN and accounts.authenticate(ops.secret).account is None  # the command line's


def test_an_account_holds_at_most_twenty_active_keys_each_with_its_own_rate_limit(accounts):
    ada = accounts.register("ada@example.com", STRONG)
    keys = [accounts.issue_api_key(f"key {n}", ada.id).key for n in range(20)]
    with pytest.raises(Conflict, match=r"^an account may hold at most 20 active keys: revoke one first$"):
        accounts.issue_api_key("one more", ada.id)
    accounts.revoke_api_key(ada.id, keys[0].id)
    accounts.issue_api_key("one more", ada.id)
    for n in range(25):  # the command line's keys belong to no account
        accounts.issue_api_key(f"ops {n}", None, Role.ADMIN)


def test_the_bootstrap_key_is_an_admin(accounts):
    accounts = AccountUseCases(FakeUnitOfWork(), FixedClock(), AccountSettings(bootstrap_api_key="boot"))
    assert accounts.authenticate("boot") == Caller("bootstrap", Role.ADMIN)


def test_an_admin_lists_and_revokes_every_accounts_keys(accounts):
    ada = accounts.register("ada@example.com", STRONG)
    root = accounts.register("root@example.com", STRONG)
    issued = accounts.issue_api_key("laptop", ada.id)
    assert [(key.name, owner) for key, owner in accounts.api_keys(root.id)] == []
    accounts.set_role("root@example.com", Role.ADMIN)
    assert [(key.name, owner) for key, owner in accounts.api_keys(root.id)] == [("laptop", "ada@example.com")]
    accounts.revoke_api_key(root.id, issued.key.id)
    with pytest.raises(Unauthorized):
        accounts.authenticate(issued.secret)


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
    assert [k.name for k, _ in accounts.api_keys(ada.id)] == ["laptop"]
    assert accounts.api_keys(bob.id) == []
    with pytest.raises(NotFound):
        accounts.revoke_api_key(bob.id, issued.key.id)
    assert accounts.authenticate(issued.secret).identity == f"key:{issued.key.id}"
    accounts.revoke_api_key(ada.id, issued.key.id)
    with pytest.raises(Unauthorized):
        accounts.authenticate(issued.secret)


def test_key_names_keep_to_1_to_100_printable_characters_and_keys_show_a_10_character_prefix(accounts):
    assert accounts.issue_api_key(" k ").key.name == "k"
    issued = accounts.issue_api_key("k" * 100)
    assert issued.key.name == "k" * 100 and len(issued.secret) == 4 + 43  # jnc_ and 256 random bits
    assert issued.key.prefix == issued.secret[:10]
    for name in ("", "   ", "k" * 101):
        with pytest.raises(InvalidParameter, match=r"^a key name must have 1 to 100 characters$"):
            accounts.issue_api_key(name)
    with pytest.raises(InvalidParameter, match=r"^a key name must not contain control characters$"):
        accounts.issue_api_key("tab\there")


def test_emails_longer_than_254_characters_are_refused(accounts):
    local = "a" * 64
    fits = f"{local}@{'b' * (254 - 64 - 1 - 4)}.com"
    assert len(fits) == 254 and accounts.register(fits, STRONG).email == fits
    with pytest.raises(InvalidParameter, match=r"^enter a valid email address$") as refused:
        accounts.register(fits.replace("@", "@b"), STRONG)  # 255 characters, the same local part
    assert refused.value.parameter == "email"


def test_missing_and_unknown_keys_are_told_apart_and_a_strangers_key_cannot_be_revoked(accounts):
    with pytest.raises(Unauthorized, match=r"^an API key is required: send it in the api-key header$"):
        accounts.authenticate("")
    with pytest.raises(Unauthorized, match=r"^the API key is not valid$"):
        accounts.authenticate("jnc_unknown")
    ada = accounts.register("ada@example.com", STRONG)
    with pytest.raises(NotFound, match=r"^you have no API key 99$"):
        accounts.revoke_api_key(ada.id, 99)
    with pytest.raises(Forbidden, match=r"^this account may issue reader keys, not admin keys$"):
        accounts.issue_api_key("ops", ada.id, Role.ADMIN)
    with pytest.raises(Forbidden, match=r"^this account may issue no keys, not reader keys$"):
        accounts.issue_api_key("ghost", 404)


def test_accounts_are_listed_in_the_order_they_registered_with_their_active_keys(accounts):
    ada = accounts.register("ada@example.com", STRONG)
    accounts.register("bob@example.com", STRONG)
    accounts.issue_api_key("laptop", ada.id)
    accounts.revoke_api_key(ada.id, accounts.issue_api_key("old", ada.id).key.id)
    accounts.issue_api_key("ci")  # the command line's: no account's
    assert [(user.email, keys) for user, keys in accounts.users()] == [("ada@example.com", 1), ("bob@example.com", 0)]

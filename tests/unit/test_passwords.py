import base64
import hashlib

import pytest

from src.application.domain.errors import InvalidParameter
from src.application.services.passwords import UNKNOWN_USER_HASH, check_strength, hash_password, verify_password

STRONG = "Correct-Horse-42"


def scrypt(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(password.encode(), salt=salt, n=n, r=r, p=p, maxmem=2**27, dklen=32)


def test_a_hash_holds_its_parameters_a_16_byte_salt_and_the_32_byte_scrypt_digest():
    scheme, n, r, p, salt, digest = hash_password(STRONG).split("$")
    assert (scheme, n, r, p) == ("scrypt", "32768", "8", "1")
    salt_bytes = base64.b64decode(salt)
    assert len(salt_bytes) == 16
    assert base64.b64decode(digest) == scrypt(STRONG, salt_bytes, 2**15, 8, 1)


def test_a_hash_made_with_other_parameters_verifies_with_its_own():
    """Hashes stored before a change of cost still verify: the parameters are read from each."""
    salt = b"0123456789abcdef"
    digest = scrypt(STRONG, salt, 2**10, 4, 2)
    encoded = "$".join(["scrypt", "1024", "4", "2", base64.b64encode(salt).decode(), base64.b64encode(digest).decode()])
    assert verify_password(STRONG, encoded)
    assert not verify_password("Correct-Horse-43", encoded)


@pytest.mark.parametrize(
    "encoded",
    [
        "garbage",
        "scrypt$32768$8$1$c2FsdA==",  # a field short
        "scrypt$many$8$1$c2FsdA==$ZGlnZXN0",  # a cost that is not a number
        "scrypt$1024$4$2$not base64!$ZGlnZXN0",
    ],
)
def test_a_malformed_hash_verifies_nothing_rather_than_raising(encoded):
    assert verify_password(STRONG, encoded) is False


def test_an_unknown_user_is_checked_against_a_hash_of_the_same_cost():
    assert UNKNOWN_USER_HASH.startswith("scrypt$32768$8$1$")
    assert not verify_password("", UNKNOWN_USER_HASH)


@pytest.mark.parametrize(
    "password",
    ["Abcdefgh1!", "A" * 128 + "b" * 127 + "1", "lower-UPPER", "lower-1234", "UPPER-1234", "lowerUPPER12"],
)
def test_ten_to_256_characters_of_three_kinds_are_strong_enough(password):
    check_strength(password, "ada@example.com")


@pytest.mark.parametrize("password", ["onlylowerandspace", "sixteen letters!"])
def test_sixteen_characters_need_no_third_kind(password):
    check_strength(password, "ada@example.com")


@pytest.mark.parametrize(
    "password, message",
    [
        ("Abcdefg1!", "the password must have 10 to 256 characters"),
        ("A" * 128 + "b" * 128 + "1", "the password must have 10 to 256 characters"),
        (
            "lowerUPPERcase",  # letters are no symbols
            "the password must mix three of lower case, upper case, digits and symbols (or use 16+ characters)",
        ),
        (
            "fifteen letters",
            "the password must mix three of lower case, upper case, digits and symbols (or use 16+ characters)",
        ),
        (
            "short",
            "the password must have 10 to 256 characters and mix three of lower case, upper case, digits and"
            " symbols (or use 16+ characters)",
        ),
        ("Xada-Lovelace-1", "the password must not contain your email"),
    ],
)
def test_a_weak_password_is_refused_with_every_reason_at_once(password, message):
    with pytest.raises(InvalidParameter) as refused:
        check_strength(password, "ADA@example.com")
    assert str(refused.value) == message and refused.value.parameter == "password"


def test_an_email_name_under_three_characters_is_not_looked_for():
    check_strength("Al-Correct-Horse-42", "al@example.com")
    with pytest.raises(InvalidParameter, match="not contain your email"):
        check_strength("Alf-Correct-Horse-42", "alf@example.com")

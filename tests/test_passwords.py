"""C9, C11, C12: password hashing and policy."""

from __future__ import annotations

import pytest
from passlib.context import CryptContext

from identity.passwords import PasswordHasher, context_words, make_context, policy_problems


@pytest.fixture(scope="module")
def hasher() -> PasswordHasher:
    return PasswordHasher()


def test_c9_hashes_are_argon2id_at_owasp_parameters(hasher):
    stored = hasher.hash("a perfectly long passphrase")
    assert stored.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    assert hasher.verify("a perfectly long passphrase", stored) == (True, None)
    assert hasher.verify("a perfectly long passphrasf", stored) == (False, None)


def test_c9_hash_with_old_parameters_is_upgraded_on_successful_verify(hasher):
    old = PasswordHasher(make_context(memory_kib=8 * 1024, time_cost=1)).hash(
        "an old passphrase here"
    )
    ok, upgraded = hasher.verify("an old passphrase here", old)
    assert ok
    assert upgraded is not None and upgraded.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    assert hasher.verify("wrong passphrase here!", old) == (False, None)


def test_c11_unknown_user_spends_one_full_verification(hasher, monkeypatch):
    """The no-account path runs argon2id verification exactly like the wrong-password path."""
    calls = []
    original = CryptContext.verify

    def counting(self, secret, hash, **kwargs):
        calls.append(hash)
        return original(self, secret, hash, **kwargs)

    monkeypatch.setattr(CryptContext, "verify", counting)
    assert hasher.verify("whatever it is", None) == (False, None)
    assert len(calls) == 1 and calls[0].startswith("$argon2id$v=19$m=19456,t=2,p=1$")


def test_passwords_are_normalized_not_truncated(hasher):
    stored = hasher.hash("\uff46\uff55\uff4c\uff4cwidth passphrase")  # NFKC: full-width → ASCII
    assert hasher.verify("fullwidth passphrase", stored)[0]
    long_password = "x" * 200 + "tail"
    stored = hasher.hash(long_password)
    assert not hasher.verify("x" * 200 + "tall", stored)[0]  # the end still counts


@pytest.mark.parametrize(
    ("password", "problem"),
    [
        ("short one", "at least 15"),
        ("passwordpassword", "too common"),
        ("correct horse battery staple", "too common"),
        ("y" * 257, "at most 256"),
        # NIST SP 800-63B: repetitive or sequential characters.
        ("z" * 64, "repeated or sequential"),
        ("abcabcabcabcabcabc", "repeated or sequential"),
        ("12341234123412341234", "repeated or sequential"),
        ("zyxwvutsrqponmlkj", "repeated or sequential"),
        ("567890123456789012", "repeated or sequential"),
    ],
)
def test_c12_new_password_policy_refuses(password, problem):
    assert any(problem in text for text in policy_problems(password, 15, 256))


@pytest.mark.parametrize(
    "password",
    [
        "fifteen chars!!",
        "no composition rules here",
        "ünïcödé pässwörd ok",
        "a" * 14 + "b",  # not one repeated unit
        "alice's long passphrase, still long without alice",
    ],
)
def test_c12_new_password_policy_accepts_long_passwords_without_composition_rules(password):
    context = context_words("alice@example.com", "Acme Identity")
    assert policy_problems(password, 15, 256, context) == []


@pytest.mark.parametrize(
    "password",
    ["alice@example.com2026", "alicealicealice!!", "AcmeIdentity2026!!", "example.com rocks!"],
)
def test_c12_the_email_and_the_service_name_do_not_count_towards_the_length(password):
    """NIST SP 800-63B: context-specific words (the service's name, the username)."""
    context = context_words("alice@example.com", "Acme Identity")
    [problem] = policy_problems(password, 15, 256, context)
    assert "Without your email address and the service's name" in problem
    assert policy_problems(password, 15, 256) == []  # the same password for someone else

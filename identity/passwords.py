"""Password hashing and policy.

Hashing: argon2id at OWASP's minimum parameters (m=19 MiB, t=2, p=1), set explicitly because
libpass would otherwise take argon2-cffi's own defaults. `deprecated="auto"` plus
`needs_update` upgrades stored hashes at the next successful sign-in when the parameters
change (C9). Unknown users are verified against a dummy hash so that "no such user" costs the
same time as "wrong password" (C11).

Policy (NIST SP 800-63B-4, single factor): at least 15 characters, long passwords allowed and
never truncated, no composition rules, and a blocklist (C12): a local list of common and
breached passwords, repetitive or sequential characters ("aaaa…", "abcabc…", "1234…"), and
context-specific words — the account's email address and the service's name do not count
towards the length.
"""

from __future__ import annotations

import functools
import unicodedata
from itertools import pairwise
from pathlib import Path

from passlib.context import CryptContext

ARGON2_MEMORY_KIB = 19 * 1024
ARGON2_TIME_COST = 2
ARGON2_PARALLELISM = 1

COMMON_PASSWORDS_FILE = Path(__file__).parent / "data" / "common-passwords.txt"


def make_context(
    memory_kib: int = ARGON2_MEMORY_KIB,
    time_cost: int = ARGON2_TIME_COST,
    parallelism: int = ARGON2_PARALLELISM,
) -> CryptContext:
    return CryptContext(
        schemes=["argon2"],
        deprecated="auto",
        argon2__type="ID",
        argon2__memory_cost=memory_kib,
        argon2__time_cost=time_cost,
        argon2__parallelism=parallelism,
    )


class PasswordHasher:
    """Hash, verify and upgrade passwords with one CryptContext."""

    def __init__(self, context: CryptContext | None = None) -> None:
        self.context = context or make_context()
        # A real hash of a random-looking value: verifying against it costs what a real
        # verification costs, and nothing can match it by accident.
        self._dummy_hash = self.context.hash("dummy password for timing equalisation")

    def hash(self, password: str) -> str:
        return self.context.hash(normalize(password))

    def verify(self, password: str, stored_hash: str | None) -> tuple[bool, str | None]:
        """Check a password. Returns (ok, new_hash): new_hash is set when the hash needs an upgrade.

        A missing hash (unknown user, or a user without a password) still spends one full
        verification, so the answer takes the same time either way.
        """
        if stored_hash is None:
            self.context.verify(normalize(password), self._dummy_hash)
            return False, None
        ok, new_hash = self.context.verify_and_update(normalize(password), stored_hash)
        return ok, new_hash


def normalize(password: str) -> str:
    """NFKC, so the same password typed on two keyboards hashes the same (NIST 800-63B 5.1.1.2)."""
    return unicodedata.normalize("NFKC", password)


@functools.cache
def common_passwords() -> frozenset[str]:
    lines = COMMON_PASSWORDS_FILE.read_text(encoding="utf-8").splitlines()
    return frozenset(line.strip().casefold() for line in lines if line.strip())


def _is_repetitive(text: str) -> bool:
    """One unit of up to four characters, repeated ("zzzz…", "abcabc…", "12341234…")."""
    return any(
        (text[:size] * (len(text) // size + 1))[: len(text)] == text
        for size in range(1, min(4, len(text) // 2) + 1)
    )


def _is_sequential(text: str) -> bool:
    """One run up or down the alphabet or the digits ("abcdef…", "98765…", "1234567890123…")."""
    if len(text) < 3:
        return False
    if text.isdigit():
        steps = {(int(b) - int(a)) % 10 for a, b in pairwise(text)}
        return steps in ({1}, {9})
    steps = {ord(b) - ord(a) for a, b in pairwise(text)}
    return steps in ({1}, {-1})


def _without_context(text: str, context_words: tuple[str, ...]) -> str:
    for word in sorted(context_words, key=len, reverse=True):
        if len(word) >= 3:
            text = text.replace(word, "")
    return text


def context_words(email: str | None, product_name: str | None) -> tuple[str, ...]:
    """What a password must not be built from: the email, its parts, the service's name."""
    words: list[str] = []
    if email:
        local, _, domain = email.casefold().partition("@")
        words += [email.casefold(), local, domain, domain.split(".")[0]]
    if product_name:
        name = product_name.casefold()
        words += [name, name.replace(" ", ""), *name.split()]
    return tuple(dict.fromkeys(word for word in words if word))


def policy_problems(
    password: str, min_length: int, max_length: int, context: tuple[str, ...] = ()
) -> list[str]:
    """Reasons a new password is refused; empty when it is acceptable (C12)."""
    problems = []
    normalized = normalize(password)
    length = len(normalized)
    if length < min_length:
        problems.append(f"Use at least {min_length} characters.")
    if length > max_length:
        problems.append(f"Use at most {max_length} characters.")
    folded = normalized.casefold()
    if folded in common_passwords():
        problems.append("This password is too common; choose another.")
    elif _is_repetitive(folded) or _is_sequential(folded):
        problems.append("This password is a repeated or sequential pattern; choose another.")
    elif length >= min_length and len(_without_context(folded, context)) < min_length:
        problems.append(
            f"Without your email address and the service's name this password is shorter "
            f"than {min_length} characters; choose another."
        )
    return problems

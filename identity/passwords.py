"""Password hashing and policy.

Hashing: argon2id at OWASP's minimum parameters (m=19 MiB, t=2, p=1), set explicitly because
libpass would otherwise take argon2-cffi's own defaults. `deprecated="auto"` plus
`needs_update` upgrades stored hashes at the next successful sign-in when the parameters
change (C9). Unknown users are verified against a dummy hash so that "no such user" costs the
same time as "wrong password" (C11).

Policy (NIST SP 800-63B-4, single factor): at least 15 characters, long passwords allowed and
never truncated, no composition rules, and a check against a local list of common and
breached passwords (C12).
"""

from __future__ import annotations

import functools
import unicodedata
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


def policy_problems(password: str, min_length: int, max_length: int) -> list[str]:
    """Reasons a new password is refused; empty when it is acceptable (C12)."""
    problems = []
    length = len(normalize(password))
    if length < min_length:
        problems.append(f"Use at least {min_length} characters.")
    if length > max_length:
        problems.append(f"Use at most {max_length} characters.")
    if normalize(password).casefold() in common_passwords():
        problems.append("This password is too common; choose another.")
    return problems

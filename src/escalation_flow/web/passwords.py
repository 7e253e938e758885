"""Passwords: argon2id hashes (argon2-cffi's defaults, RFC 9106's second recommendation).

A password is never stored, logged or compared as text. Checking a login for a name that does
not exist still verifies against a hash, so that the time taken does not tell who has an account.
"""

from __future__ import annotations

from functools import lru_cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

MIN_LENGTH = 10


@lru_cache(maxsize=1)
def _hasher() -> PasswordHasher:
    return PasswordHasher()


def hash_password(password: str) -> str:
    problem = weak_password(password)
    if problem:
        raise ValueError(problem)
    return _hasher().hash(password)


def weak_password(password: str) -> str | None:
    """Why a password cannot be used, or None."""
    if len(password) < MIN_LENGTH:
        return f"a password needs at least {MIN_LENGTH} characters"
    if password.strip() != password:
        return "a password cannot start or end with spaces"
    return None


@lru_cache(maxsize=1)
def _decoy() -> str:
    return _hasher().hash("decoy password, never anyone's")


def verify_password(password_hash: str | None, password: str) -> bool:
    """True when ``password`` matches; ``password_hash`` None: no such account (still slow)."""
    try:
        return _hasher().verify(password_hash or _decoy(), password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    return _hasher().check_needs_rehash(password_hash)

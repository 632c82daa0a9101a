"""What makes a password acceptable: length and not being a common one. No composition rules (NIST 800-63B):
they push people to `Password1!`, which the common-list check below refuses anyway."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

MIN_LENGTH = 12
MAX_LENGTH = 256  # Argon2 takes anything, but a megabyte "password" is an attack on the CPU, not a password
_LIST = Path(__file__).with_name("common_passwords.txt")
_TRAILING_NOISE = "0123456789!@#$%^&*()-_=+.?~ "


@lru_cache(maxsize=1)
def common_passwords() -> frozenset[str]:
    lines = _LIST.read_text(encoding="utf-8").splitlines()
    return frozenset(line.strip().lower() for line in lines if line and not line.startswith("#"))


def password_problems(password: str, *, email: str | None = None) -> list[str]:
    """Why this password cannot be used; an empty list when it can."""
    problems: list[str] = []
    if len(password) < MIN_LENGTH:
        problems.append(f"Use at least {MIN_LENGTH} characters (a few words together work well).")
    if len(password) > MAX_LENGTH:
        problems.append(f"Use at most {MAX_LENGTH} characters.")
    lowered = password.lower()
    # "Password2024!" is "password" with noise on the end: refuse the base too, not just the exact entry.
    base = lowered.rstrip(_TRAILING_NOISE)
    common = common_passwords()
    if lowered in common or base in common or len(set(lowered)) <= 2:
        problems.append("This password is one of the most common ones; choose another.")
    if email and email.split("@", 1)[0].lower() in lowered and len(email.split("@", 1)[0]) >= 4:
        problems.append("Do not use your email address in your password.")
    return problems

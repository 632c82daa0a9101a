"""What makes a password acceptable: length and not being a common one. No composition rules (NIST 800-63B):
they push people to `Password1!`, which the common-list check below refuses anyway."""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

from flask import current_app, has_app_context

MIN_LENGTH = 12
MAX_LENGTH = 256  # Argon2 takes anything, but a megabyte "password" is an attack on the CPU, not a password
_LIST = Path(__file__).with_name("common_passwords.txt")
_TRAILING_NOISE = "0123456789!@#$%^&*()-_=+.?~ "


@lru_cache(maxsize=1)
def common_passwords() -> frozenset[str]:
    lines = _LIST.read_text(encoding="utf-8").splitlines()
    return frozenset(line.strip().lower() for line in lines if line and not line.startswith("#"))


def _context_words() -> list[str]:
    """"tipline" and the district's name, word by word (those of 4 letters or more), longest first."""
    words = {"tipline"}
    if has_app_context():
        district = str(current_app.config.get("DISTRICT_NAME") or "").lower()
        words |= {w for w in re.findall(r"[a-z]+", district) if len(w) >= 4}
    return sorted(words, key=len, reverse=True)


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
    # Context-specific words (NIST 800-63B): the service's and the district's names, the first guesses of anyone
    # who knows what the console is. A passphrase that only mentions them keeps enough else.
    rest = re.sub(r"[^a-z]", "", lowered)
    for word in _context_words():
        rest = rest.replace(word, "")
    if rest != re.sub(r"[^a-z]", "", lowered) and (len(rest) < 4 or rest in common):
        problems.append("Do not build your password from the name of this service or of your district.")
    if email and email.split("@", 1)[0].lower() in lowered and len(email.split("@", 1)[0]) >= 4:
        problems.append("Do not use your email address in your password.")
    return problems

"""What can go wrong when sealing or opening tip content. Callers catch these, never a bare Exception."""

from __future__ import annotations

from app.crypto.keyring import KeyringUnavailable


class DecryptionFailed(RuntimeError):
    """A ciphertext did not authenticate: wrong key, wrong tip or field (a swapped row), or tampering."""


class TipShredded(RuntimeError):
    """The tip's data key was destroyed (crypto-shredding): its content can never be read again."""


__all__ = ["DecryptionFailed", "KeyringUnavailable", "TipShredded"]

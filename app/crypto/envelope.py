"""The primitives of envelope encryption: AES-256-GCM sealing, data keys and their wrapping.

Every blob is  version byte | 96-bit random nonce | ciphertext and tag.  The associated data names what the
blob is (tip and field), so a blob copied to another row or column fails authentication instead of opening.
"""

from __future__ import annotations

import secrets

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from app.crypto.errors import DecryptionFailed

FORMAT_V1 = b"\x01"
NONCE_BYTES = 12
DEK_BYTES = 32
AD_PREFIX = b"tipline/v1|"


def associated_data(ref: str, field: str) -> bytes:
    """Binds a ciphertext to one tip (by its reference) and one field, e.g. "text" or "message:42"."""
    return AD_PREFIX + ref.encode("ascii") + b"|" + field.encode("ascii")


def new_data_key() -> bytes:
    return secrets.token_bytes(DEK_BYTES)


def seal(key: bytes, ad: bytes, plaintext: bytes) -> bytes:
    nonce = secrets.token_bytes(NONCE_BYTES)
    return FORMAT_V1 + nonce + AESGCM(key).encrypt(nonce, plaintext, ad)


def open_sealed(key: bytes, ad: bytes, blob: bytes) -> bytes:
    if len(blob) < 1 + NONCE_BYTES + 16 or blob[:1] != FORMAT_V1:
        raise DecryptionFailed("not a Tipline v1 ciphertext")
    nonce, body = blob[1:1 + NONCE_BYTES], blob[1 + NONCE_BYTES:]
    try:
        return AESGCM(key).decrypt(nonce, body, ad)
    except InvalidTag:
        raise DecryptionFailed("the ciphertext does not authenticate under this key and context") from None


def wrap_data_key(kek: bytes, ref: str, dek: bytes) -> bytes:
    """The DEK sealed by a KEK, bound to its tip so a wrapped key cannot be moved to another tip."""
    return seal(kek, associated_data(ref, "dek"), dek)


def unwrap_data_key(kek: bytes, ref: str, wrapped: bytes) -> bytes:
    return open_sealed(kek, associated_data(ref, "dek"), wrapped)

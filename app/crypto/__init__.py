"""Envelope encryption of tip content (service.py), the keyring of key-encryption keys (keyring.py,
keystore.py) and receipt codes (receipts.py)."""

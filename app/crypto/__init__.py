"""Envelope encryption of tip content, the keyring of key-encryption keys, and receipt codes."""

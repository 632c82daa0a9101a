"""Rate-limit keys that never hold a client address in clear.

The address is hashed with a random secret that lives only in memory (or in Redis, so that several
gunicorn workers and machines agree) and is replaced every day. Nobody can turn a key back into an
address, not even with the database, the instance folder and Redis in hand once the day has passed.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time

from flask import current_app, request

ROTATE_EVERY_S = 24 * 3600
_lock = threading.Lock()
_cache: dict[int, bytes] = {}


def _shared_secret(storage_uri: str, epoch: int) -> bytes:
    """A per-day secret shared through Redis: the first process to ask creates it, it expires by itself."""
    import redis  # only when Redis holds the limits

    client = redis.Redis.from_url(storage_uri, socket_timeout=2)
    name = f"tipline:ratelimit-secret:{epoch}"
    client.set(name, secrets.token_bytes(32), nx=True, ex=2 * ROTATE_EVERY_S)
    value = client.get(name)
    return value if isinstance(value, bytes) else secrets.token_bytes(32)


def current_secret(now: float | None = None) -> bytes:
    epoch = int((now if now is not None else time.time()) // ROTATE_EVERY_S)
    with _lock:
        secret = _cache.get(epoch)
        if secret is None:
            storage = str(current_app.config.get("RATELIMIT_STORAGE_URI", "memory://"))
            secret = _shared_secret(storage, epoch) if storage.startswith("redis") else secrets.token_bytes(32)
            _cache.clear()
            _cache[epoch] = secret
    return secret


def client_key() -> str:
    """The rate-limit key of this request's client: a truncated keyed hash, never the address."""
    address = request.remote_addr or "unknown"
    return hmac.new(current_secret(), address.encode(), hashlib.sha256).hexdigest()[:32]

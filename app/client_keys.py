"""Rate-limit keys that never hold a client address in clear.

The address is hashed with a random secret that lives only in memory (or in Redis, so that several
gunicorn workers and machines agree) and is replaced every day. Nobody can turn a key back into an
address, not even with the database, the instance folder and Redis in hand once the day has passed.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import logging
import secrets
import threading
import time
from typing import Any

from flask import current_app, request

from app.logs import log_event

ROTATE_EVERY_S = 24 * 3600
# Redis unreachable: this process keys with a secret of its own, and asks Redis again after this long.
RETRY_SHARED_AFTER_S = 60
# The day's secret stays in Redis until its day ends and this much after, for machines whose clocks differ a little.
CLOCK_GRACE_S = 300
log = logging.getLogger("app.ratelimit")
_lock = threading.Lock()
_cache: dict[int, bytes] = {}
_unshared: dict[int, bytes] = {}
_retry_shared_at = 0.0


def _redis(storage_uri: str) -> Any:
    import redis  # only when Redis holds the limits

    return redis.Redis.from_url(storage_uri, socket_timeout=2, socket_connect_timeout=2)


def _shared_secret(storage_uri: str, epoch: int, now: float) -> bytes:
    """A per-day secret shared through Redis: the first process to ask creates it, and it expires by itself when its
    day is over (it was kept a second day, when a copy of Redis could still turn the day's keys into addresses)."""
    client = _redis(storage_uri)
    name = f"tipline:ratelimit-secret:{epoch}"
    left = max(1, int((epoch + 1) * ROTATE_EVERY_S - now))
    client.set(name, secrets.token_bytes(32), nx=True, ex=left + CLOCK_GRACE_S)
    value = client.get(name)
    _warn_if_written_to_disk(client)
    return value if isinstance(value, bytes) else secrets.token_bytes(32)


def _warn_if_written_to_disk(client: Any) -> None:
    """A Redis as a distribution installs it saves snapshots (RDB) to disk: the day's secret and every client's
    keyed hash would outlive the day there, and in the server's backups, and with both an address is worked out
    by hashing every IPv4 address. Said once a day per process; a Redis that refuses CONFIG is not judged."""
    import redis

    try:
        save = str(client.config_get("save").get("save", "") or "").strip()
        appendonly = str(client.config_get("appendonly").get("appendonly", "no") or "no").strip().lower()
    except redis.RedisError:
        return
    persisting = ([f"save {save!r}"] if save else []) + (["appendonly yes"] if appendonly == "yes" else [])
    if persisting:
        log_event(log, "OPERATOR: the rate-limit Redis writes its keys to disk, the day's key secret and clients' "
                  "keyed addresses included; set save \"\" and appendonly no in its redis.conf (README, Throttling)",
                  logging.WARNING, persisting=", ".join(persisting))


def _unshared_secret(epoch: int) -> bytes:
    """This process's own secret of the day, while Redis cannot share one (limits are then per process)."""
    if epoch not in _unshared:
        _unshared.clear()
        _unshared[epoch] = secrets.token_bytes(32)
    return _unshared[epoch]


def current_secret(now: float | None = None) -> bytes:
    global _retry_shared_at
    now = now if now is not None else time.time()
    epoch = int(now // ROTATE_EVERY_S)
    with _lock:
        secret = _cache.get(epoch)
        if secret is None:
            storage = str(current_app.config.get("RATELIMIT_STORAGE_URI", "memory://"))
            if not storage.startswith("redis"):
                secret = secrets.token_bytes(32)
            elif time.monotonic() < _retry_shared_at:
                return _unshared_secret(epoch)
            else:
                import redis

                try:
                    secret = _shared_secret(storage, epoch, now)
                except redis.RedisError as exc:
                    # Fail open: a reporter is never refused because the rate-limit store is down. Neither
                    # the client nor the storage URI (it may hold a password) is logged.
                    _retry_shared_at = time.monotonic() + RETRY_SHARED_AFTER_S
                    log_event(log, "OPERATOR: the rate-limit storage (Redis) is unreachable; rate limits are "
                              "counted per process until it is back", logging.WARNING, error=type(exc).__name__)
                    return _unshared_secret(epoch)
            _cache.clear()
            _cache[epoch] = secret
    return secret


def client_key() -> str:
    """The rate-limit key of this request's client: a truncated keyed hash, never the address. An IPv6 client is
    its /64, the block one device or home is given: counting each of its addresses apart would give it more."""
    return hmac.new(current_secret(), _client_of(request.remote_addr).encode(), hashlib.sha256).hexdigest()[:32]


def _client_of(address: str | None) -> str:
    try:
        parsed = ipaddress.ip_address(address or "")
    except ValueError:
        return address or "unknown"
    if isinstance(parsed, ipaddress.IPv6Address):
        if parsed.ipv4_mapped is not None:  # ::ffff:203.0.113.9 from a dual-stack socket: the IPv4 client
            return str(parsed.ipv4_mapped)
        return str(ipaddress.ip_network(f"{parsed}/64", strict=False))
    return str(parsed)

"""A short-lived cache of verified API keys, so a burst of requests with one key costs one database
lookup instead of one each (issue 14's throughput under concurrency: the lookup was a thread hop and
a query per request).

Only *active* keys are cached, by the key's SHA-256 (never the key itself), for ``ttl_s`` seconds:
an unknown key always reaches the database (a key created a moment ago by the CLI works at once).
A revocation through the API clears the cache at once; one made by another process (``trendml keys
revoke``, ``trendml up`` rotating the demo key) takes effect within ``ttl_s``. ``ttl_s <= 0``
disables the cache.

When an entry expires while many requests with that key are in flight, only one of them asks the
database (:meth:`KeyCache.get_or_load`); the others wait for it and read its answer (at 32
concurrent clients the expiry cost up to 32 identical queries, ~4 % of the server's CPU).
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable
from typing import Any


class KeyCache:
    """Thread-safe ``sha256(key) -> (KeyInfo, expiry)`` map with a size bound."""

    def __init__(self, ttl_s: float, max_entries: int = 4096) -> None:
        self.ttl_s = float(ttl_s)
        self.max_entries = max_entries
        self._entries: dict[str, tuple[Any, float]] = {}
        self._lock = threading.Lock()
        self._loading: dict[str, threading.Lock] = {}
        self.hits = 0
        self.misses = 0

    @staticmethod
    def _digest(token: str) -> str:
        return hashlib.sha256(token.encode("utf-8")).hexdigest()

    def get(self, token: str) -> Any | None:
        """The cached key info, or None (not cached, expired, or the cache is off)."""
        if self.ttl_s <= 0:
            return None
        digest = self._digest(token)
        with self._lock:
            entry = self._entries.get(digest)
            if entry is not None and entry[1] > time.monotonic():
                self.hits += 1
                return entry[0]
            if entry is not None:
                del self._entries[digest]
            self.misses += 1
        return None

    def get_or_load(self, token: str, load: Callable[[], Any]) -> Any:
        """The cached info, else ``load()`` (the database lookup) once per key however many
        requests ask at the same time: the others wait for that lookup and read its answer."""
        if self.ttl_s <= 0:
            return load()
        info = self.get(token)
        if info is not None:
            return info
        digest = self._digest(token)
        with self._lock:
            if len(self._loading) >= self.max_entries:
                self._loading.clear()
            gate = self._loading.setdefault(digest, threading.Lock())
        with gate:
            info = self.get(token)  # filled while this request waited for the gate
            if info is None:
                info = load()
                self.put(token, info)
        return info

    def put(self, token: str, info: Any) -> None:
        """Remember an active key's info (``None`` — unknown or revoked — is never cached)."""
        if self.ttl_s <= 0 or info is None:
            return
        with self._lock:
            if len(self._entries) >= self.max_entries:
                self._entries.clear()
            self._entries[self._digest(token)] = (info, time.monotonic() + self.ttl_s)

    def clear(self) -> None:
        """Forget every key (after a revocation or rotation in this process)."""
        with self._lock:
            self._entries.clear()

"""Per-key request quotas: a token bucket per API key, 429 with ``Retry-After`` when it is empty.

Off by default (``TRENDML_RATE_LIMIT_PER_MIN=0``): the demo runs on localhost with one key.
Turn it on so one runaway client cannot starve the others (e.g. the triage queue):
``TRENDML_RATE_LIMIT_PER_MIN`` requests per minute per key, refilled continuously, with bursts of
up to ``TRENDML_RATE_LIMIT_BURST`` requests (default: one minute's worth). Counted per key (not
per address), after authentication, so unauthenticated requests never use a key's quota. Open
routes (health, docs) and the dashboard are not limited. With one worker process the buckets live in
that process (:class:`TokenBuckets`, no I/O); with more (``TRENDML_WORKERS``), every worker draws on
one bucket per key in the store (:class:`StoreBuckets`, :mod:`trendml.store.quotas`: one atomic
update per request, in a worker thread), so the quota is the service's, not each process's.
"""

from __future__ import annotations

import json
import math
import threading
import time
from typing import Any

import anyio
import bentoml

from service.trends_backend import is_connection_error
from trendml.store.quotas import take_token


def _burst(per_minute: float, burst: float | None) -> float:
    """The bucket size: ``burst``, else one minute's worth; at least one request, or none could pass."""
    return max(1.0, float(burst) if burst else float(per_minute))


class TokenBuckets:
    """``take(key)`` -> 0 when a request may go, else the seconds until it may."""

    def __init__(self, per_minute: float, burst: float | None = None, clock: Any = time.monotonic) -> None:
        self.rate = per_minute / 60.0
        self.burst = _burst(per_minute, burst)
        self.clock = clock
        self._buckets: dict[Any, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def take(self, key: Any) -> float:
        now = self.clock()
        with self._lock:
            tokens, last = self._buckets.get(key, (self.burst, now))
            tokens = min(self.burst, tokens + (now - last) * self.rate)
            if tokens >= 1.0:
                self._buckets[key] = (tokens - 1.0, now)
                return 0.0
            self._buckets[key] = (tokens, now)
            return (1.0 - tokens) / self.rate if self.rate > 0 else math.inf


class StoreBuckets:
    """:class:`TokenBuckets` kept in the store, shared by every worker process: ``take(key, sessions)``
    with the service's session factory (blocking I/O: call it from a worker thread)."""

    def __init__(self, per_minute: float, burst: float | None = None) -> None:
        self.per_minute = per_minute
        self.rate = per_minute / 60.0
        self.burst = _burst(per_minute, burst)

    def take(self, key: Any, sessions: Any) -> float:
        with sessions() as session:
            return take_token(session, int(key), per_minute=self.per_minute, burst=self.burst)


class RateLimitMiddleware:
    """ASGI middleware placed after :class:`service.auth.AuthMiddleware` (it reads the caller).
    ``shared``: the buckets live in the store (more than one worker process)."""

    def __init__(
        self, app: Any, per_minute: float = 0.0, burst: float | None = None, shared: bool = False
    ) -> None:
        self.app = app
        self.buckets: TokenBuckets | StoreBuckets | None = None
        if per_minute > 0:
            self.buckets = StoreBuckets(per_minute, burst) if shared else TokenBuckets(per_minute, burst)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        caller = scope.get("state", {}).get("caller") if scope["type"] == "http" else None
        if self.buckets is None or caller is None:
            return await self.app(scope, receive, send)
        if isinstance(self.buckets, StoreBuckets):
            sessions = bentoml.get_current_service().Session
            try:
                wait = await anyio.to_thread.run_sync(self.buckets.take, caller.id, sessions)
            except Exception as exc:
                if not is_connection_error(exc):
                    raise
                # the store is down: the route itself answers 503 (nothing can be scored or stored)
                return await self.app(scope, receive, send)
        else:
            wait = self.buckets.take(caller.id)
        if wait <= 0:
            return await self.app(scope, receive, send)
        retry = max(1, math.ceil(wait))
        payload = json.dumps(
            {
                "error": "too many requests",
                "field": None,
                "detail": (
                    f'key "{caller.name}" is over its quota of {self.buckets.rate * 60:g} requests per '
                    f"minute (TRENDML_RATE_LIMIT_PER_MIN); expected fewer requests; retry in {retry} s"
                ),
            }
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 429,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(payload)).encode()),
                    (b"retry-after", str(retry).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": payload})

"""``/readyz`` with the trend state's health: BentoML's probe first (the model is loaded), then

- ``200 "\\n"``: ready;
- ``200 "degraded"``: scoring works but trend assignment does not (scores carry ``trend_id`` null);
  the reason is logged once and shown to admin keys on ``GET /v1/model`` (``trends_error``), never here;
- ``200 "degraded"`` also while live monitoring's drift or ECE crosses its bound (service.monitoring);
- ``503 "unavailable"``: the database cannot be reached (scores answer 503, nothing can be audited).
"""

from __future__ import annotations

import logging
from typing import Any

import anyio.to_thread

logger = logging.getLogger(__name__)


class ReadinessMiddleware:
    """Pure ASGI middleware around BentoML's ``/readyz``; every other path passes through."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope.get("path", "").rstrip("/") != "/readyz":
            return await self.app(scope, receive, send)
        import bentoml

        messages: list[dict[str, Any]] = []

        async def keep(message: dict[str, Any]) -> None:
            messages.append(message)

        await self.app(scope, receive, keep)
        start = next((m for m in messages if m["type"] == "http.response.start"), None)
        svc = bentoml.get_current_service()
        health = "ok"
        if start is not None and start["status"] == 200 and svc is not None and hasattr(svc, "trends_health"):
            health = await anyio.to_thread.run_sync(svc.trends_health)
        monitor = getattr(svc, "monitor", None) if svc is not None else None
        if health == "ok" and start is not None and start["status"] == 200 and monitor is not None:
            if monitor.degraded:  # drift or ECE past its bound (service.monitoring; the reason is logged)
                health = "degraded"
        if health == "ok":
            for message in messages:
                await send(message)
            return
        status, body = (200, b"degraded\n") if health == "degraded" else (503, b"unavailable\n")
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"text/plain; charset=utf-8"),
                    (b"content-length", b"%d" % len(body)),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})

"""The analysts' dashboard: server-rendered pages over the service's own database.

Mounted into the BentoML service at ``/ui`` (``service/service.py``); usable alone with any ASGI
server (``create_app(settings)``). No CDN: templates, CSS, JS and charts (inline SVG rendered on
the server) ship with the package.
"""

from __future__ import annotations

from service.dashboard.app import create_app

__all__ = ["create_app"]

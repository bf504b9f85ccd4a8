"""``/v1/docs``: FastAPI's Swagger UI page, served from this origin only.

FastAPI's default page loads Swagger UI from a CDN and starts it with an inline script, so it is
blank offline and would need a script exception in the Content-Security-Policy. This page uses
the Swagger UI files BentoML ships (``/static_content/swagger-ui-bundle.js`` and ``.css``, the
same ones its own docs page at ``/`` uses) and starts it from ``/v1/docs/init.js``.
"""

from __future__ import annotations

from typing import Any

PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{title} - API docs</title>
<link rel="stylesheet" href="/static_content/swagger-ui.css">
</head>
<body>
<div id="swagger-ui"></div>
<script src="/static_content/swagger-ui-bundle.js"></script>
<script src="/v1/docs/init.js"></script>
</body>
</html>
"""

INIT_JS = """window.addEventListener("load", function () {
  window.ui = SwaggerUIBundle({
    url: "/v1/openapi.json",
    dom_id: "#swagger-ui",
    deepLinking: true,
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
  });
});
"""


def install_docs(app: Any) -> None:
    """Add ``GET /docs`` and ``GET /docs/init.js`` to the FastAPI app (create it with ``docs_url=None``)."""
    from html import escape

    from starlette.responses import HTMLResponse, Response

    page = PAGE.format(title=escape(app.title))

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        return HTMLResponse(page)

    @app.get("/docs/init.js", include_in_schema=False)
    def docs_init() -> Response:
        return Response(INIT_JS, media_type="text/javascript")

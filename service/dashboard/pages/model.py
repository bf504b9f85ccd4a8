"""The model page (champion, metrics, history)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from service.dashboard.web import Dashboard


def routes(d: Dashboard) -> list[Route]:
    async def model(request: Request) -> Response:
        who = d.guard(request)
        if isinstance(who, Response):
            return who
        info = d.model_info() if d.model_info is not None else None
        return d.render(request, "model.html", who, model=info)

    return [
        Route("/model", model),
    ]

"""The triage queue."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from service.dashboard import data
from service.dashboard.web import MAX_PAGE, Dashboard, _parse_int
from trendml.errors import InputError


def routes(d: Dashboard) -> list[Route]:
    async def queue(request: Request) -> Response:
        who = d.guard(request)
        if isinstance(who, Response):
            return who
        try:
            page = _parse_int(request.query_params.get("page"), "page", default=0, lo=0, hi=MAX_PAGE)
        except InputError as exc:
            return d.render(request, "error.html", who, 400, message=exc.message)
        result = data.triage_queue(d.engine, limit=100, offset=page * 100, policy=d.policy)
        return d.render(request, "queue.html", who, queue=result, page=page)

    return [
        Route("/queue", queue),
    ]

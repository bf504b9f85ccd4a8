"""The alerts page: the outbox, newest first, with each webhook delivery's state (issue 16)."""

from __future__ import annotations

from sqlalchemy.orm import Session
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from service.dashboard.web import MAX_PAGE, PAGE_SIZE, Dashboard, _parse_int
from trendml.alerts.outbox import list_alerts
from trendml.errors import InputError


def routes(d: Dashboard) -> list[Route]:
    async def alerts(request: Request) -> Response:
        who = d.guard(request)
        if isinstance(who, Response):
            return who
        try:
            page = _parse_int(request.query_params.get("page"), "page", default=0, lo=0, hi=MAX_PAGE)
        except (InputError, ValueError) as exc:
            return d.render(request, "error.html", who, 400, message=str(exc))
        with Session(d.engine) as s:
            found = list_alerts(s, limit=PAGE_SIZE, offset=page * PAGE_SIZE)
        hooks = {name: bool(h.url) for name, h in (d.policy.webhooks.items() if d.policy else [])}
        return d.render(
            request, "alerts.html", who, alerts=found, page=page, hooks=hooks, page_size=PAGE_SIZE
        )

    return [Route("/alerts", alerts)]

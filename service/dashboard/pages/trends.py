"""The trend list, one trend, and an analyst decision on it."""

from __future__ import annotations

from urllib.parse import quote, urlencode

from sqlalchemy.orm import Session
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from service.dashboard import data
from service.dashboard.web import MAX_PAGE, PAGE_SIZE, Dashboard, _parse_day, _parse_int
from trendml.curation import resolve
from trendml.errors import InputError
from trendml.store.feedback import add_feedback


def routes(d: Dashboard) -> list[Route]:
    async def trends(request: Request) -> Response:
        who = d.guard(request)
        if isinstance(who, Response):
            return who
        q = request.query_params
        try:
            status = q.get("status") or None
            if status is not None and status not in data.STATUSES:
                raise InputError(
                    f'status is "{status}"; expected one of {", ".join(data.STATUSES)}', field="status"
                )
            sev = q.get("severity")
            min_sev = _parse_int(sev, "severity", default=0, lo=0, hi=3) if sev else None
            page = _parse_int(q.get("page"), "page", default=0, lo=0, hi=MAX_PAGE)
            overview = data.trends_overview(
                d.engine,
                status=status,
                region=(q.get("region") or None),
                min_severity=min_sev,
                since=_parse_day(q.get("since"), "since"),
                until=_parse_day(q.get("until"), "until"),
                limit=PAGE_SIZE,
                offset=page * PAGE_SIZE,
            )
        except (InputError, ValueError) as exc:
            return d.render(request, "error.html", who, 400, message=str(exc))
        filters = {k: q.get(k, "") for k in ("status", "region", "severity", "since", "until")}
        next_q = urlencode({**{k: v for k, v in filters.items() if v}, "page": page + 1})
        return d.render(
            request,
            "trends.html",
            who,
            overview=overview,
            filters=filters,
            page=page,
            next_q=next_q,
            statuses=data.STATUSES,
        )

    async def trend(request: Request) -> Response:
        who = d.guard(request)
        if isinstance(who, Response):
            return who
        trend_id = request.path_params["trend_id"]
        merged_into = resolve(d.engine, trend_id)  # issue 16: a merged trend redirects to its survivor
        if merged_into != trend_id:
            return RedirectResponse(f"{d.root_path}/trends/{quote(merged_into)}", status_code=303)
        detail = data.trend_detail(d.engine, trend_id)
        if detail is None:
            return d.render(request, "error.html", who, 404, message=f'trend "{trend_id}" does not exist')
        error = request.query_params.get("error")
        return d.render(request, "trend.html", who, trend=detail, error=error)

    async def feedback(request: Request) -> Response:
        who = d.guard(request)
        if isinstance(who, Response):
            return who
        trend_id = request.path_params["trend_id"]
        form = await d.checked_form(request, who)
        if isinstance(form, Response):
            return form
        if data.trend_detail(d.engine, trend_id, max_examples=0) is None:
            return d.render(request, "error.html", who, 404, message=f'trend "{trend_id}" does not exist')
        action = str(form.get("action") or "")
        note = str(form.get("note") or "").strip()[:2000] or None
        url = f"{d.root_path}/trends/{quote(trend_id)}"
        try:
            with Session(d.engine) as s:
                add_feedback(s, trend_id, action, note, who.name)
        except InputError as exc:
            return RedirectResponse(f"{url}?error={quote(exc.message)}", status_code=303)
        return RedirectResponse(f"{url}#decisions", status_code=303)

    return [
        Route("/trends", trends),
        Route("/trends/{trend_id}", trend),
        Route("/trends/{trend_id}/feedback", feedback, methods=["POST"]),
    ]

"""Trend curation from the trend page: merge into another trend, split off selected members, rename
(issue 16; :mod:`trendml.curation`). Every action is attributed to the signed-in analyst."""

from __future__ import annotations

from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from service.dashboard.web import Dashboard
from trendml import curation
from trendml.errors import ConflictError, InputError, StateError


def routes(d: Dashboard) -> list[Route]:
    async def act(request: Request) -> Response:
        who = d.guard(request)
        if isinstance(who, Response):
            return who
        trend_id = request.path_params["trend_id"]
        action = request.path_params["action"]
        form = await d.checked_form(request, who)
        if isinstance(form, Response):
            return form
        url = f"{d.root_path}/trends/{quote(trend_id)}"
        try:
            if action == "merge":
                into = str(form.get("into") or "").strip()
                curation.merge(d.engine, trend_id, into, who.name)
                url = f"{d.root_path}/trends/{quote(curation.resolve(d.engine, into))}"
            elif action == "rename":
                curation.rename(d.engine, trend_id, str(form.get("title") or ""), who.name)
            elif action == "split":
                out = curation.split(
                    d.engine,
                    trend_id,
                    [str(m) for m in form.getlist("member")],
                    who.name,
                    title=(str(form.get("title") or "").strip() or None),
                )
                url = f"{d.root_path}/trends/{quote(out['other_id'])}"
            else:
                return d.render(request, "error.html", who, 404, message=f'no action "{action}"')
        except (InputError, ConflictError, StateError) as exc:
            return RedirectResponse(f"{url}?error={quote(exc.message)}#curation", status_code=303)
        return RedirectResponse(f"{url}#curation", status_code=303)

    return [Route("/trends/{trend_id}/curate/{action}", act, methods=["POST"])]

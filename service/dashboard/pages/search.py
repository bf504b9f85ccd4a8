"""The search page: stored items by keyword, or "more like this" (semantic neighbours of an item),
with severity, trend and the text blurred as on the trend page (issue 16; :mod:`trendml.search`).

In the service the page uses the service's :class:`~trendml.search.Searcher` (``app.state.searcher``:
query texts embedded by the service's model); a dashboard run on its own reads the same on-disk index
(semantic search by an item, keyword search by words)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from service.dashboard.web import Dashboard, _parse_day, _parse_int
from trendml.errors import InputError
from trendml.search import Searcher, SearchFilters
from trendml.store.items import get_items


def routes(d: Dashboard, home) -> list[Route]:  # noqa: ANN001
    own: list[Searcher] = []

    def searcher(request: Request) -> Searcher:
        found = getattr(request.app.state, "searcher", None)
        if found is not None:
            return found
        if not own:
            own.append(Searcher(d.engine, home / "search"))
        return own[0]

    async def search(request: Request) -> Response:
        who = d.guard(request)
        if isinstance(who, Response):
            return who
        q = request.query_params
        form = {
            k: q.get(k, "") for k in ("q", "mode", "like", "region", "severity", "since", "until", "trend_id")
        }
        mode = form["mode"] or ("semantic" if form["like"] else "keyword")
        results, error = None, None
        if form["q"].strip() or form["like"]:
            try:
                sev = form["severity"]
                filters = SearchFilters(
                    since=_parse_day(form["since"] or None, "since"),
                    until=_parse_day(form["until"] or None, "until"),
                    region=form["region"].strip().upper() or None,
                    min_severity=_parse_int(sev, "severity", default=0, lo=0, hi=3) if sev else None,
                    trend_id=form["trend_id"].strip() or None,
                )
                limit = _parse_int(q.get("limit"), "limit", default=50, lo=1, hi=200)
                results = searcher(request).search(
                    form["q"] or None, mode=mode, filters=filters, limit=limit, like=form["like"] or None
                )
                from sqlalchemy.orm import Session

                with Session(d.engine) as s:
                    rows = get_items(s, [r["id"] for r in results["items"]])
                for r in results["items"]:
                    row = rows.get(r["id"])
                    r["text"] = (row.text or row.caption or "") if row is not None else None
            except (InputError, ValueError) as exc:
                error = str(exc)
        return d.render(request, "search.html", who, form=form, mode=mode, results=results, error=error)

    return [Route("/search", search)]

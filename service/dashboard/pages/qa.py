"""The QA second-review page."""

from __future__ import annotations

from sqlalchemy.orm import Session
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from service.dashboard.web import Dashboard
from trendml.errors import InputError


def routes(d: Dashboard) -> list[Route]:
    async def qa(request: Request) -> Response:
        who = d.guard(request)
        if isinstance(who, Response):
            return who
        from trendml.store import qa as qa_store

        error = None
        if request.method == "POST":
            form = await d.checked_form(request, who)
            if isinstance(form, Response):
                return form
            try:
                sev = int(str(form.get("severity") or ""))
            except ValueError:
                sev = -1
            try:
                with Session(d.engine) as s:
                    qa_store.add_review(
                        s,
                        str(form.get("item_id") or ""),
                        who.name,
                        sev,
                        note=str(form.get("note") or "") or None,
                    )
                return RedirectResponse(f"{d.root_path}/qa", status_code=303)
            except InputError as exc:
                error = exc.message
        with Session(d.engine) as s:
            pending = qa_store.pending_reviews(s, who.name, limit=25)
            agreement = qa_store.agreement(s)
        return d.render(
            request, "qa.html", who, 400 if error else 200, pending=pending, agreement=agreement, error=error
        )

    return [
        Route("/qa", qa, methods=["GET", "POST"]),
    ]

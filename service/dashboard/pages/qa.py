"""The QA second-review page: a severity and an optional note per sampled item, with undo."""

from __future__ import annotations

from urllib.parse import quote

from sqlalchemy.orm import Session
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from service.dashboard.present import message
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
            item_id = str(form.get("item_id") or "")
            try:
                with Session(d.engine) as s:
                    # a second submit of the same item replaces the first (one review per reviewer)
                    note = str(form.get("note") or "").strip()[:2000] or None
                    qa_store.add_review(s, item_id, who.name, sev, note=note)
                back = f"{d.root_path}/qa?msg=qa-saved&last={quote(item_id)}"
                return RedirectResponse(back, status_code=303)
            except InputError as exc:
                error = exc.message
        last = None
        with Session(d.engine) as s:
            pending = qa_store.pending_reviews(s, who.name, limit=25)
            agreement = qa_store.agreement(s)
            last_id = request.query_params.get("last")
            if last_id and request.method == "GET":
                last = qa_store.get_review(s, last_id, who.name)
        return d.render(
            request,
            "qa.html",
            who,
            400 if error else 200,
            pending=pending,
            agreement=agreement,
            error=error,
            last=last,
            notice=message(request.query_params.get("msg")) if request.method == "GET" else None,
        )

    async def undo(request: Request) -> Response:
        who = d.guard(request)
        if isinstance(who, Response):
            return who
        from trendml.store import qa as qa_store

        form = await d.checked_form(request, who)
        if isinstance(form, Response):
            return form
        with Session(d.engine) as s:
            qa_store.undo_review(s, str(form.get("item_id") or ""), who.name)
        return RedirectResponse(f"{d.root_path}/qa?msg=qa-undone", status_code=303)

    return [
        Route("/qa", qa, methods=["GET", "POST"]),
        Route("/qa/undo", undo, methods=["POST"]),
    ]

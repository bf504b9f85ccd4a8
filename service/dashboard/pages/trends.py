"""The trend list, one trend, and an analyst decision on it."""

from __future__ import annotations

from urllib.parse import quote, urlencode

from sqlalchemy.orm import Session
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from service.dashboard import data
from service.dashboard.present import message
from service.dashboard.web import (
    FORM_LIMITS,
    MAX_PAGE,
    PAGE_SIZE,
    Dashboard,
    _parse_day,
    _parse_int,
    same_origin,
)
from trendml.curation import resolve
from trendml.errors import InputError
from trendml.items import show
from trendml.regions import ISO_ALPHA2
from trendml.store import ui_forms
from trendml.store.feedback import ACTIONS, add_feedback, latest_feedback


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
            region = (q.get("region") or "").strip() or None
            if region is not None and region.upper() not in ISO_ALPHA2:
                raise InputError(
                    f"region is {show(region, 20)}; expected a two-letter country code such as US or GB",
                    field="region",
                )
            overview = data.trends_overview(
                d.engine,
                status=status,
                region=region.upper() if region else None,
                min_severity=min_sev,
                since=_parse_day(q.get("since"), "since"),
                until=_parse_day(q.get("until"), "until"),
                limit=PAGE_SIZE,
                offset=page * PAGE_SIZE,
            )
        except (InputError, ValueError) as exc:
            # say what was wrong and keep the filters (the form is shown again with them)
            message = exc.message if isinstance(exc, InputError) else str(exc)
            filters = {k: q.get(k, "")[:40] for k in ("status", "region", "severity", "since", "until")}
            empty = {"total": 0, "items": [], "limit": PAGE_SIZE, "offset": 0}
            return d.render(
                request, "trends.html", who, 400, overview=empty, filters=filters, page=0, next_q="",
                statuses=data.STATUSES, filter_error=message, any_trends=True,
            )
        filters = {k: q.get(k, "") for k in ("status", "region", "severity", "since", "until")}
        next_q = urlencode({**{k: v for k, v in filters.items() if v}, "page": page + 1})
        any_trends = overview["total"] > 0 or (not any(filters.values()) and page == 0)
        if not any_trends:
            any_trends = data.trends_overview(d.engine, limit=1)["total"] > 0
        return d.render(
            request,
            "trends.html",
            who,
            overview=overview,
            filters=filters,
            page=page,
            next_q=next_q,
            statuses=data.STATUSES,
            any_trends=any_trends,
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
        resume = request.query_params.get("resume") or ""
        with Session(d.engine) as s:
            pending = ui_forms.pending_for(s, resume, trend_id, who.name) if resume else None
            # a stashed submit keeps its token, so pressing the button again stores it once
            token = resume if pending is not None else ui_forms.issue_token(s, trend_id, who.name)
        decisions = detail["decisions"]
        current = decisions[-1] if decisions else None
        return d.render(
            request,
            "trend.html",
            who,
            trend=detail,
            notice=message(request.query_params.get("msg")),
            form_token=token,
            pending=pending,
            current=current,
            changes=data.decision_changes(decisions),
        )

    async def feedback_get(request: Request) -> Response:
        """A GET of the form's address (e.g. after signing in again): back to the trend, never 405."""
        return RedirectResponse(f"{d.root_path}/trends/{quote(request.path_params['trend_id'])}", 303)

    async def feedback(request: Request) -> Response:
        trend_id = request.path_params["trend_id"]
        url = f"{d.root_path}/trends/{quote(trend_id)}"
        if d.caller(request) is None:
            return await _stash_and_sign_in(request, trend_id, url)
        who = d.guard(request)
        if isinstance(who, Response):
            return who
        form = await d.checked_form(request, who)
        if isinstance(form, Response):
            return form
        if data.trend_detail(d.engine, trend_id, max_examples=0) is None:
            return d.render(request, "error.html", who, 404, message=f'trend "{trend_id}" does not exist')
        action = str(form.get("action") or "")
        note = str(form.get("note") or "").strip()[:2000] or None
        token = str(form.get("form_token") or "")
        seen = str(form.get("current") or "")
        if action not in ACTIONS:
            return RedirectResponse(f"{url}?msg=bad-action#decisions", status_code=303)
        with Session(d.engine) as s:
            known = ui_forms.get_token(s, token, trend_id)
            if known is None:
                return RedirectResponse(f"{url}?msg=expired-form#decisions", status_code=303)
            if known.used:
                return RedirectResponse(f"{url}?msg=duplicate#decisions", status_code=303)
            latest = latest_feedback(s, trend_id)
            before = latest.action if latest is not None else None
            if str(latest.id if latest else "none") != seen:
                # another decision landed since this form was rendered: keep this one for a second look
                ui_forms.stash(s, token, trend_id, action, note)
                return RedirectResponse(f"{url}?resume={quote(token)}&msg=moved#decisions", status_code=303)
            if not ui_forms.use_token(s, token, trend_id):  # a concurrent submit of the same form won
                s.rollback()
                return RedirectResponse(f"{url}?msg=duplicate#decisions", status_code=303)
            row = add_feedback(s, trend_id, action, note, who.name)  # commits the token's use with it
            ui_forms.record_result(s, token, row.id)
            s.commit()
        changed = before is not None and before != action
        return RedirectResponse(f"{url}?msg={'changed' if changed else 'saved'}#decisions", status_code=303)

    async def _stash_and_sign_in(request: Request, trend_id: str, url: str) -> Response:
        """The session is gone: keep the decision and note on the form's token (when the form is
        one of ours for this trend), then sign in and come back to the trend with them."""
        back = url
        if same_origin(request):
            form = await request.form(**FORM_LIMITS)
            token = str(form.get("form_token") or "")
            action = str(form.get("action") or "")
            note = str(form.get("note") or "").strip()[:2000] or None
            if action in ACTIONS:
                with Session(d.engine) as s:
                    if ui_forms.stash(s, token, trend_id, action, note):
                        back = f"{url}?resume={quote(token)}"
        return RedirectResponse(
            f"{d.root_path}/login?reason=expired&next={quote(back)}", status_code=303
        )

    return [
        Route("/trends", trends),
        Route("/trends/{trend_id}", trend),
        Route("/trends/{trend_id}/feedback", feedback, methods=["POST"]),
        Route("/trends/{trend_id}/feedback", feedback_get, methods=["GET"]),
    ]

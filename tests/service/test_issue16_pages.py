"""The Alerts and Search pages and the curation forms in-process (the dashboard's real Starlette app on
SQLite in tmp, a real sign-in): what the browser test does not cover, without a server."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime

import httpx

from tests.service.test_inprocess import _dashboard, _run


def test_alerts_and_search_pages_and_a_refused_merge(tmp_path):
    from sqlalchemy.orm import Session

    from trendml.alerts.outbox import AlertDeliveryRow, AlertRow
    from trendml.items import Item
    from trendml.store.items import add_items
    from trendml.store.keys import create_key

    app, engine = _dashboard(tmp_path)
    now = datetime.now(UTC).replace(tzinfo=None)
    with Session(engine) as s:
        key, _ = create_key(s, "analyst", "ana")
        add_items(
            s, [Item(id="it-1", text="zebra crossing words", created_at=datetime(2026, 3, 1, tzinfo=UTC))]
        )
        s.add(
            AlertRow(
                id="al-0001",
                rule="emerging-hate-wave",
                trend_id="t-1",
                window_start=now,
                created_at=now,
                payload=json.dumps({"title": "a title", "size": 42}),
                member_ids="[]",
            )
        )
        s.flush()
        s.add(
            AlertDeliveryRow(
                alert_id="al-0001",
                webhook="analysts",
                status="pending",
                attempts=3,
                next_attempt_at=now,
                last_error="ConnectError",
            )
        )
        s.commit()

    async def go() -> dict[str, httpx.Response]:
        transport = httpx.ASGITransport(app=app)
        origin = {"origin": "http://test"}
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
            page = await c.get("/login")
            token = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
            signed = await c.post("/login", data={"key": key, "csrf": token}, headers=origin)
            assert signed.status_code == 303, signed.text[:200]
            out = {"alerts": await c.get("/alerts"), "search": await c.get("/search", params={"q": "zebra"})}
            out["bad"] = await c.get("/search", params={"q": "!!!"})
            csrf = re.search(r'name="csrf" value="([^"]+)"', out["alerts"].text).group(1)
            out["merge"] = await c.post(
                "/trends/t-1/curate/merge", data={"into": "t-2", "csrf": csrf}, headers=origin
            )
            out["forged"] = await c.post(
                "/trends/t-1/curate/merge", data={"into": "t-2", "csrf": "x"}, headers=origin
            )
            return out

    r = _run(go())
    alerts = r["alerts"]
    assert (
        alerts.status_code == 200
        and "al-0001" in alerts.text
        and "analysts: pending (3 attempts)" in alerts.text
    )
    assert "no URL (alerts wait here)" in alerts.text  # the shipped webhooks have no URL
    search = r["search"]
    assert search.status_code == 200 and "it-1" in search.text and "harmful blurred" in search.text
    assert "sqlite-fts5" in search.text
    assert r["bad"].status_code == 200 and "q has no words" in r["bad"].text
    # an unknown trend: the merge is refused with the reason, nothing recorded
    assert r["merge"].status_code == 303 and "error=" in r["merge"].headers["location"]
    assert r["forged"].status_code == 403
    from trendml.curation import history

    assert history(engine, "t-1") == []
    engine.dispose()

"""End to end in real headless Chromium against the real service: sign in, find the planted
demo trend among the emerging ones, confirm it, reload, see the decision persisted."""

from __future__ import annotations

import re

import pytest

pytestmark = pytest.mark.browser


def _planted_trend(server, small_stream) -> str:
    """The emerging trend whose members are mostly the planted campaign (asked of the API)."""
    listing = server.request("GET", "/v1/trends", "analyst", params={"emerging": "true", "limit": 100})
    assert listing.status_code == 200, listing.text
    best, best_share = None, 0.0
    for t in listing.json()["items"]:
        detail = server.request(
            "GET", f"/v1/trends/{t['trend_id']}", "analyst", params={"members": "true"}
        ).json()
        members = {m for w in detail["windows"] for m in w.get("member_ids", [])}
        share = len(members & small_stream.campaign_ids) / max(1, len(members))
        if share > best_share:
            best, best_share = t["trend_id"], share
    assert best is not None and best_share >= 0.5, (
        f"no emerging trend is mostly the planted campaign ({best_share:.2f})"
    )
    return best


def test_analyst_confirms_the_planted_trend(server, detected, small_stream, page, shot):
    trend_id = _planted_trend(server, small_stream)
    base = server.url + "/ui"

    page.goto(base + "/trends")
    assert re.search(r"/ui/login", page.url), "an anonymous visitor is sent to the sign-in page"
    shot("1-login")

    page.fill("#key", "tml_not-a-real-key")
    page.click("#sign-in")
    assert "unknown or revoked" in page.inner_text("[role=alert]")

    page.fill("#key", server.keys["analyst"])
    page.click("#sign-in")
    page.wait_for_url(re.compile(r".*/ui/trends$"))
    assert "test-analyst" in page.inner_text("#signed-in-as")
    emerging_ids = page.eval_on_selector_all(
        "tr.trend-row.emerging", "rows => rows.map(r => r.dataset.trendId)"
    )
    assert trend_id in emerging_ids, "the planted demo trend is listed among the emerging trends"
    # emerging trends come first
    all_ids = page.eval_on_selector_all("tr.trend-row", "rows => rows.map(r => r.dataset.trendId)")
    assert all_ids[: len(emerging_ids)] == emerging_ids
    shot("2-trends")

    page.click(f"tr.trend-row[data-trend-id='{trend_id}'] a.trend-link")
    page.wait_for_url(re.compile(rf".*/ui/trends/{trend_id}$"))
    assert page.inner_text("#trend-id") == trend_id
    examples = page.locator(".examples .harmful")
    assert examples.count() > 0
    assert "blurred" in (examples.first.get_attribute("class") or ""), "harmful text starts blurred"
    examples.first.click()
    assert "blurred" not in (examples.first.get_attribute("class") or ""), "a click reveals it"
    shot("3-trend")

    page.fill("#note", "planted campaign, confirmed in browser test")
    page.click("#action-confirm")
    page.wait_for_url(re.compile(rf".*/ui/trends/{trend_id}(\?msg=(saved|changed))?(#decisions)?$"))
    page.reload()
    first = page.locator("#decision-history .decision-row").first
    assert first.locator(".decision").inner_text() == "confirm"
    assert first.locator(".analyst").inner_text() == "test-analyst"
    assert "confirmed in browser test" in first.inner_text()
    shot("4-confirmed")

    # The decision is in the service's database, visible through the API too.
    feedback = server.request("GET", f"/v1/trends/{trend_id}/feedback", "analyst")
    assert feedback.status_code == 200
    assert any(f["action"] == "confirm" and f["analyst"] == "test-analyst" for f in feedback.json())


def test_triage_key_cannot_use_the_dashboard(server, page):
    page.goto(server.url + "/ui/login")
    page.fill("#key", server.keys["triage"])
    page.click("#sign-in")
    assert "analyst key" in page.inner_text("[role=alert]")

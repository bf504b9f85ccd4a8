"""Issue 16 end to end in real Chromium on the session server: an analyst searches, opens an item's
trend, merges it into another trend, reloads and sees the merge (and the merged id redirects).

It merges two small, non-emerging trends that hold none of the planted campaign, so the other tests
on the session server (the planted trend, the trend list's totals) read what they expect."""

from __future__ import annotations

import re

import pytest

pytestmark = pytest.mark.browser


def _two_quiet_trends(server, small_stream) -> tuple[str, str, str]:
    """Two non-emerging trends without campaign members, and a plain keyword of the first."""
    listing = server.request(
        "GET", "/v1/trends", "analyst", params={"emerging": "false", "limit": 200}
    ).json()
    quiet = []
    for t in sorted(listing["items"], key=lambda t: t["size"]):
        detail = server.request(
            "GET", f"/v1/trends/{t['trend_id']}", "analyst", params={"members": "true"}
        ).json()
        members = {m for w in detail["windows"] for m in w.get("member_ids") or []}
        if members & small_stream.campaign_ids:
            continue
        quiet.append(t)
    for first in quiet:
        kws = [k for k in first["keywords"] if k.isalpha() and len(k) > 3]
        hits = [
            server.request(
                "GET", "/v1/search", "analyst", params={"q": k, "trend_id": first["trend_id"], "limit": 1}
            ).json()["total"]
            for k in kws
        ]
        good = [k for k, n in zip(kws, hits, strict=True) if n]
        other = next((t for t in quiet if t["trend_id"] != first["trend_id"]), None)
        if good and other is not None:
            return first["trend_id"], other["trend_id"], good[0]
    raise AssertionError("no two quiet trends with a searchable keyword")


def test_analyst_searches_opens_the_trend_and_merges_it(server, detected, small_stream, page, shot):
    absorbed, survivor, word = _two_quiet_trends(server, small_stream)
    base = server.url + "/ui"
    page.goto(base + "/login")
    page.fill("#key", server.keys["analyst"])
    page.click("#sign-in")
    page.wait_for_url(re.compile(r".*/ui/trends$"))

    page.click("#nav-search")
    page.fill("#search-q", word)
    page.click("#search-button")
    page.wait_for_selector("#search-results")
    hits = page.locator(f".search-hit a.hit-trend[href$='/trends/{absorbed}']")
    assert hits.count() >= 1, "a hit links to its trend"
    text = page.locator(".search-hit .harmful").first
    assert "blurred" in (text.get_attribute("class") or ""), "search results start blurred"
    shot("1-search")

    hits.first.click()
    page.wait_for_url(re.compile(rf".*/ui/trends/{absorbed}$"))
    assert page.inner_text("#trend-id") == absorbed
    page.fill("#merge-into", survivor)
    page.click("#merge-button")
    page.wait_for_url(re.compile(rf".*/ui/trends/{survivor}(#curation)?$"))
    page.reload()
    assert absorbed in page.inner_text("#merged-from")
    row = page.locator("#curation-history .curation-row").first
    assert "merge" in row.inner_text() and row.locator(".analyst").inner_text() == "test-analyst"
    shot("2-merged")

    # the merged id redirects (dashboard and API) and leaves the list; history is attributed
    page.goto(f"{base}/trends/{absorbed}")
    page.wait_for_url(re.compile(rf".*/ui/trends/{survivor}$"))
    page.goto(base + "/trends")
    ids = page.eval_on_selector_all("tr.trend-row", "rows => rows.map(r => r.dataset.trendId)")
    assert survivor in ids and absorbed not in ids
    with server.client("analyst", follow_redirects=False) as c:
        r = c.get(f"/v1/trends/{absorbed}")
        assert r.status_code == 307 and r.headers["location"].startswith(survivor)
        assert c.get(f"/v1/trends/{absorbed}", follow_redirects=True).json()["trend_id"] == survivor
        hist = c.get(f"/v1/trends/{survivor}/history").json()
    assert [(h["action"], h["trend_id"], h["other_id"], h["analyst"]) for h in hist] == [
        ("merge", absorbed, survivor, "test-analyst")
    ]

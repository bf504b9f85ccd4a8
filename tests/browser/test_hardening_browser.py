"""In real Chromium: the API docs render offline under the Content-Security-Policy with no request
leaving 127.0.0.1 (BentoML's Google Tag Manager snippet on ``/`` is blocked), and sign-out ends
the dashboard session on the server."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest

pytestmark = pytest.mark.browser


def _fence(page) -> list[str]:
    """Abort and record every request that would leave the loopback address."""
    outside: list[str] = []

    def handle(route):
        if urlsplit(route.request.url).hostname == "127.0.0.1":
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    page.route("**/*", handle)
    return outside


def test_api_docs_render_offline_with_local_scripts_only(server, page, shot):
    outside = _fence(page)
    csp_errors: list[str] = []
    page.on("console", lambda m: csp_errors.append(m.text) if "Content Security Policy" in m.text else None)
    page.goto(server.url + "/v1/docs")
    page.wait_for_selector(".swagger-ui .info .title")
    assert "trendml API" in page.inner_text(".swagger-ui .info .title")
    page.wait_for_selector(".opblock-summary-path")
    paths = page.eval_on_selector_all(".opblock-summary-path", "els => els.map(e => e.textContent)")
    assert any("/trends" in p for p in paths), paths
    shot("v1-docs")
    assert outside == [] and csp_errors == [], (outside, csp_errors)

    page.goto(server.url + "/")
    page.wait_for_selector(".swagger-ui .info")
    shot("bentoml-docs")
    assert outside == [], "no third-party request (the tag manager snippet is blocked by the CSP)"


def test_sign_out_ends_the_session_on_the_server(server, page):
    page.goto(server.url + "/ui/login")
    page.fill("#key", server.keys["analyst"])
    page.click("#sign-in")
    page.wait_for_url(re.compile(r".*/ui/trends$"))
    cookie = next(c for c in page.context.cookies() if c["name"] == "trendml_session")
    assert server.keys["analyst"] not in cookie["value"] and cookie["httpOnly"]
    page.click("form.who button[type=submit]")
    page.wait_for_url(re.compile(r".*/ui/login$"))
    # the old session id, sent again, is refused by the server
    page.context.add_cookies([{**cookie}])
    page.goto(server.url + "/ui/trends")
    assert "/ui/login" in page.url

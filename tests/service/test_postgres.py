"""The service on PostgreSQL (``TRENDML_DATABASE_URL``): items, detection, trends, feedback,
scoring and keys, across a SIGKILL restart.

Runs when ``TRENDML_TEST_POSTGRES_URL`` names an empty, disposable database, e.g.
``postgresql+psycopg://trendml@127.0.0.1:54329/trendml_test`` (needs the ``psycopg`` driver);
skipped otherwise. See docs/service.md for how it was run.
"""

from __future__ import annotations

import os
import signal

import pytest

from tests.service.harness import empty_postgres, make_keys, start_server

PG_URL = os.environ.get("TRENDML_TEST_POSTGRES_URL")
pytestmark = pytest.mark.skipif(not PG_URL, reason="TRENDML_TEST_POSTGRES_URL is not set")


def test_service_on_postgresql(service_home, champion, seeded_cache, small_stream):
    empty_postgres(PG_URL)  # a disposable database: start empty
    env = {"TRENDML_DATABASE_URL": PG_URL}
    keys = make_keys(service_home, "pg", PG_URL)
    first = start_server(service_home, keys=keys, need_ready=True, **env)
    try:
        payload = [it.model_dump(mode="json", exclude_none=True) for it in small_stream.items]
        for start in range(0, len(payload), 250):
            r = first.request("POST", "/v1/items", "triage", json={"items": payload[start : start + 250]})
            assert r.status_code == 200, r.text
        assert r.json()["total"] == len(payload)
        r = first.request("POST", "/v1/detect", "admin", json={"reset": True})
        assert r.status_code == 200, r.text
        assert r.json()["n_trends"] > 0
        trends = first.request("GET", "/v1/trends?limit=500", "analyst").json()["items"]
        trend_id = trends[0]["trend_id"]
        r = first.request("POST", f"/v1/trends/{trend_id}/feedback", "analyst", json={"action": "confirm"})
        assert r.status_code == 201
        r = first.request(
            "POST", "/v1/score", "triage", json={"items": [{"id": "pg-1", "text": "hello"}]}
        )
        assert r.status_code == 200 and r.json()[0]["model"]["version"]
        assert first.request("GET", "/v1/trends", headers={"Authorization": "Bearer nope"}).status_code == 401
    finally:
        first.stop(signal.SIGKILL)
    second = start_server(service_home, keys=keys, need_ready=True, **env)
    try:
        detail = second.request("GET", f"/v1/trends/{trend_id}", "analyst").json()
        assert detail["feedback"] == "confirm"
        assert len(detail["windows"]) >= 1
        assert second.request("POST", "/v1/detect", "admin", json={}).json()["n_items"] == 0
        export = second.request("GET", "/v1/feedback/export", "admin").json()
        assert {row["trend_id"] for row in export} == {trend_id}
    finally:
        second.stop()

"""Roles and keys over real HTTP: 401 without/with a wrong key, 403 without the role."""

from __future__ import annotations

import pytest

from tests.service.harness import create_key

ITEM = {"id": "auth-1", "text": "a plain test comment"}

# (method, path, json body, role needed)
ROUTES = [
    ("POST", "/v1/score", {"items": [ITEM]}, "triage"),
    ("POST", "/v1/items", {"items": [ITEM]}, "triage"),
    ("GET", "/v1/trends", None, "analyst"),
    ("GET", "/v1/trends/T-none", None, "analyst"),
    ("POST", "/v1/trends/T-none/feedback", {"action": "confirm"}, "analyst"),
    ("POST", "/v1/detect", {}, "admin"),
    ("POST", "/v1/reload", None, "admin"),
    ("GET", "/v1/keys", None, "admin"),
    ("GET", "/v1/feedback/export", None, "admin"),
]


@pytest.mark.parametrize("path", ["/healthz", "/livez"])
def test_health_is_open(server, path):
    assert server.request("GET", path).status_code == 200


def test_readyz_is_open(server):
    # open: answers without a key (200 when the model is loaded, 503 while it is not)
    assert server.request("GET", "/readyz").status_code in (200, 503)


@pytest.mark.parametrize("method,path,body,role", ROUTES)
def test_missing_key_is_401_with_message(server, method, path, body, role):
    r = server.request(method, path, json=body)
    assert r.status_code == 401
    assert r.json()["error"] == "unauthorized"
    assert "Authorization: Bearer" in r.json()["detail"]
    assert r.headers["www-authenticate"].startswith("Bearer")


@pytest.mark.parametrize("method,path,body,role", ROUTES[:4])
def test_wrong_key_is_401(server, method, path, body, role):
    r = server.request(method, path, json=body, headers={"Authorization": "Bearer tml_not-a-real-key"})
    assert r.status_code == 401
    assert "unknown or revoked" in r.json()["detail"]
    r = server.request(method, path, json=body, headers={"Authorization": "Basic dXNlcjpwYXNz"})
    assert r.status_code == 401


@pytest.mark.parametrize("method,path,body,role", ROUTES)
def test_other_roles_are_403(server, method, path, body, role):
    for other in ("triage", "analyst"):
        if other == role:
            continue
        r = server.request(method, path, other, json=body)
        assert r.status_code == 403, (other, r.text)
        body_json = r.json()
        assert f"needs role '{role}'" in body_json["detail"]
        assert body_json["error"] == "forbidden"


@pytest.mark.parametrize("method,path,body,role", ROUTES)
def test_right_role_and_admin_pass_auth(server, method, path, body, role):
    for who in {role, "admin"}:
        r = server.request(method, path, who, json=body)
        assert r.status_code not in (401, 403), (who, r.status_code, r.text)


def test_metrics_need_a_key_and_are_prometheus(server):
    assert server.request("GET", "/metrics").status_code == 401
    r = server.request("GET", "/metrics", "analyst")
    assert r.status_code == 200
    assert "bentoml_service_request_total" in r.text


def test_openapi_lists_the_api(server):
    spec = server.request("GET", "/docs.json").json()
    for path in (
        "/v1/score",
        "/v1/items",
        "/v1/trends",
        "/v1/trends/{trend_id}",
        "/v1/trends/{trend_id}/feedback",
        "/v1/detect",
        "/readyz",
        "/healthz",
    ):
        assert path in spec["paths"], path


def test_key_lifecycle_over_http_and_cli(server):
    r = server.request("POST", "/v1/keys", "admin", json={"role": "analyst", "name": "temp"})
    assert r.status_code == 201
    created = r.json()
    assert created["key"].startswith("tml_") and created["role"] == "analyst"
    temp = {"Authorization": f"Bearer {created['key']}"}
    assert server.request("GET", "/v1/trends", headers=temp).status_code == 200
    listed = server.request("GET", "/v1/keys", "admin").json()
    assert created["id"] in [k["id"] for k in listed]
    assert all("key" not in k for k in listed)
    assert server.request("DELETE", f"/v1/keys/{created['id']}", "admin").json()["revoked"] is True
    assert server.request("GET", "/v1/trends", headers=temp).status_code == 401
    assert server.request("DELETE", "/v1/keys/999999", "admin").status_code == 404
    # a key made by the CLI while the server runs works at once; the key is the last stdout line
    cli_key = create_key(server.home, "triage")
    assert cli_key.startswith("tml_")
    r = server.request(
        "POST",
        "/v1/items",
        headers={"Authorization": f"Bearer {cli_key}"},
        json={"items": [{"id": "cli-key-item", "text": "hello"}]},
    )
    assert r.status_code == 200


def test_keys_are_stored_hashed(server):
    import sqlite3

    con = sqlite3.connect(server.home / "trendml.db")
    stored = {row[0] for row in con.execute("SELECT key_hash FROM api_keys")}
    con.close()
    for key in server.keys.values():
        assert key not in stored
        assert not any(key in h for h in stored)

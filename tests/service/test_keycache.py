"""The verified-key cache (service/keycache.py): active keys only, for the TTL, cleared on revocation;
and over HTTP, a key revoked by the CLI (another process) stops within the TTL."""

from __future__ import annotations

import time
from types import SimpleNamespace

from service.keycache import KeyCache


def test_cache_keeps_active_keys_for_the_ttl_only():
    info = SimpleNamespace(id=1, name="ana", role="analyst")
    cache = KeyCache(ttl_s=0.3)
    assert cache.get("tml_a") is None  # a miss: the caller asks the database
    cache.put("tml_a", info)
    cache.put("tml_unknown", None)  # unknown / revoked keys are never cached
    assert cache.get("tml_a") is info and cache.get("tml_unknown") is None
    assert cache.get("tml_b") is None
    assert "tml_a" not in repr(cache._entries)  # stored by digest, never the key itself
    time.sleep(0.35)
    assert cache.get("tml_a") is None  # expired
    cache.put("tml_a", info)
    cache.clear()
    assert cache.get("tml_a") is None
    off = KeyCache(ttl_s=0)
    off.put("tml_a", info)
    assert off.get("tml_a") is None


def test_cli_revocation_reaches_the_running_server_within_the_ttl(server):
    from tests.service.harness import cli

    ttl_s = 2.0  # TRENDML_KEY_CACHE_TTL_S's default (service/service.py); the session server uses it

    r = server.request("POST", "/v1/keys", "admin", json={"role": "analyst", "name": "cache-probe"})
    assert r.status_code == 201, r.text
    created = r.json()
    probe = {"Authorization": f"Bearer {created['key']}"}
    assert server.request("GET", "/v1/trends", headers=probe).status_code == 200  # now cached
    proc = cli(server.home, "keys", "revoke", str(created["id"]))
    assert proc.returncode == 0, proc.stderr[-500:]
    revoked_at = time.monotonic()
    while server.request("GET", "/v1/trends", headers=probe).status_code == 200:
        assert time.monotonic() - revoked_at < ttl_s + 5, "the revoked key still works"
        time.sleep(0.2)
    assert server.request("GET", "/v1/trends", headers=probe).status_code == 401

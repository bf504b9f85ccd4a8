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


def test_an_expired_key_is_looked_up_once_however_many_requests_wait():
    """32 requests with one key meet an expired entry together: one database lookup, one answer."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    info = SimpleNamespace(id=1, name="ana", role="triage")
    cache = KeyCache(ttl_s=60)
    calls = []
    started = threading.Barrier(32)

    def lookup():
        calls.append(1)
        time.sleep(0.05)  # the query; every other request arrives meanwhile
        return info

    def request(_):
        started.wait()
        return cache.get_or_load("tml_a", lookup)

    with ThreadPoolExecutor(32) as ex:
        got = list(ex.map(request, range(32)))
    assert got == [info] * 32 and len(calls) == 1
    # unknown keys are never cached: each asks again (a key created a moment ago works at once)
    assert cache.get_or_load("tml_new", lambda: None) is None
    assert cache.get_or_load("tml_new", lambda: info) is info
    off = KeyCache(ttl_s=0)
    n = []
    assert off.get_or_load("tml_a", lambda: n.append(1) or info) is info
    assert off.get_or_load("tml_a", lambda: n.append(1) or info) is info and len(n) == 2

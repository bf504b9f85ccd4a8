"""Moving the champion alias: the running service loads the new version in the background and
switches with no failed request; every answer names the version that produced it."""

from __future__ import annotations

import threading
import time

from tests.service.harness import train_and_register


def test_alias_move_switches_version_without_failed_requests(server, champion, service_home, cached_embedder):
    assert champion
    from trendml.config import Settings

    before = server.request("GET", "/v1/model", "triage").json()["model"]["version"]
    answers: list[tuple[float, int, str | None]] = []
    stop = threading.Event()

    def hammer(k: int) -> None:
        with server.client("triage") as c:
            n = 0
            while not stop.is_set():
                n += 1
                r = c.post(
                    "/v1/score", json={"items": [{"id": f"swap-{k}-{n}", "text": f"swap test {k} {n}"}]}
                )
                version = r.json()[0]["model"]["version"] if r.status_code == 200 else None
                answers.append((time.monotonic(), r.status_code, version))

    threads = [threading.Thread(target=hammer, args=(k,)) for k in range(3)]
    for t in threads:
        t.start()
    try:
        new = train_and_register(
            Settings(home=service_home), n_rows=250, promote=True, embedder=cached_embedder
        )
        assert new != before
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not any(v == new for _, _, v in answers[-20:]):
            time.sleep(0.5)
        time.sleep(1.0)  # a few more requests on the new version
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=60)
    assert answers, "no request completed"
    assert [code for _, code, _ in answers if code != 200] == []
    versions = [v for _, _, v in sorted(answers)]
    assert set(versions) == {before, new}
    assert versions[-1] == new and versions[0] == before
    status = server.request("GET", "/v1/model", "triage").json()
    assert status["model"]["version"] == new and status["ready"] is True
    # the watcher's automatic reload is in the admin audit log, attributed to "watcher"
    log = server.request("GET", "/v1/audit", "admin", params={"action": "reload"}).json()
    swap = [e for e in log if e["actor"] == "watcher" and e["target"] == new]
    assert len(swap) == 1 and swap[0]["key_id"] is None
    assert swap[0]["detail"]["from"] == before and swap[0]["detail"]["automatic"] is True

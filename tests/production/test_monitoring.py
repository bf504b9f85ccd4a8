"""Live monitoring (issue 22, part 4): PSI drift per day against the reference window, ECE against
outcomes, the unsupported-language share; the figures recomputed here from the same rows; the
service's monitor (bounds -> a log line, degraded, Prometheus gauges) on a real store. SQLite and
PostgreSQL (``store``)."""

from __future__ import annotations

import logging
import math
from datetime import timedelta
from types import SimpleNamespace

import numpy as np
import pytest

from trendml.monitoring import calibration, check_bounds, psi


def test_psi_and_ece_match_their_definitions():
    ref, cur = [50, 30, 15, 5], [20, 20, 40, 20]
    p = np.maximum(np.array(cur) / 100, 1e-4)
    q = np.maximum(np.array(ref) / 100, 1e-4)
    assert psi(ref, cur) == pytest.approx(float(np.sum((p - q) * np.log(p / q))), abs=1e-4)
    assert psi(ref, ref) == 0.0 and psi(ref, [0, 0, 0, 0]) is None
    rng = np.random.default_rng(0)
    probs = rng.dirichlet(np.ones(4), size=300)
    labels = rng.integers(0, 4, size=300)
    got = calibration(probs.tolist(), labels.tolist())
    conf, pred = probs.max(1), probs.argmax(1)
    bins = np.minimum((conf * 10).astype(int), 9)
    want = sum(
        (bins == b).mean() * abs((pred[bins == b] == labels[bins == b]).mean() - conf[bins == b].mean())
        for b in range(10)
        if (bins == b).any()
    )
    assert got["ece"] == pytest.approx(want, abs=1e-4) and sum(c["n"] for c in got["curve"]) == 300
    snap = {"drift_latest": 0.3, "calibration": {"ece": 0.05}}
    assert check_bounds(snap, psi_bound=0.25, ece_bound=0.1) == [
        "severity-mix drift PSI 0.300 > 0.25 (latest day)"
    ]
    assert check_bounds(snap, psi_bound=0.5, ece_bound=0.1) == []


def _fill(Session, now):  # noqa: N803
    """A reference week of a benign mix, then a week of a shifted mix, outcomes on some items and
    two items in other languages; returns the per-day counts and the labelled probabilities."""
    from trendml.items import Item
    from trendml.language import load_sample
    from trendml.store.audit import ScoreAudit
    from trendml.store.items import add_items
    from trendml.store.outcomes import record_outcome

    rng = np.random.default_rng(1)
    rows, days, labelled = [], {}, []
    for day in range(14):
        at = now - timedelta(days=20 - day) if day < 7 else now - timedelta(days=13 - day, hours=1)
        mix = [0.6, 0.25, 0.1, 0.05] if day < 7 else [0.3, 0.3, 0.3, 0.1]
        sev = rng.choice(4, size=40, p=mix)
        if day >= 7:
            days[at.date().isoformat()] = np.bincount(sev, minlength=4).tolist()
        for k, s in enumerate(sev):
            probs = np.full(4, 0.1)
            probs[s] = 0.7
            rows.append(
                ScoreAudit(
                    item_id=f"m-{day}-{k}",
                    input_hash="0" * 64,
                    model_name="m",
                    model_version="1",
                    severity=int(s),
                    severity_probs=probs.tolist(),
                    priority=1,
                    scored_at=at,
                )
            )
            if day >= 7 and k < 10:
                labelled.append((f"m-{day}-{k}", probs.tolist(), int(rng.integers(0, 4))))
    sample = load_sample()
    items = [Item(id="m-es", text=next(t for lg, t in sample if lg == "es"))]
    items += [Item(id=f"m-en-{i}", text=t) for i, (lg, t) in enumerate(sample) if lg == "en"]
    with Session() as s:
        s.add_all(rows)
        s.commit()
        add_items(s, items)
        for item_id, _, y in labelled:
            record_outcome(
                s, item_id, action="none", severity=y, policy_area="other", moderator="m", commit=False
            )
        s.commit()
    return days, labelled, len(items)


def test_snapshot_and_monitor_on_a_store(store, caplog):
    from service.monitoring import Monitor
    from trendml.config import Settings
    from trendml.monitoring import monitoring_snapshot
    from trendml.utc import utcnow

    engine, Session = store
    now = utcnow()
    days, labelled, n_items = _fill(Session, now)
    with Session() as s:
        snap = monitoring_snapshot(s, now=now, days=7, champion_version="1", cache_hits=3, cache_misses=1)
    assert snap["reference"]["n"] == 7 * 40
    ref = snap["reference_counts"]
    assert [d["day"] for d in snap["drift"]] == sorted(days)
    for d in snap["drift"]:
        assert d["counts"] == days[d["day"]] and d["psi"] == psi(ref, days[d["day"]])
    assert snap["drift_latest"] == snap["drift"][-1]["psi"] > 0.05  # the shifted week drifts
    want = calibration([p for _, p, _ in labelled], [y for _, _, y in labelled])
    assert snap["calibration"] == want and snap["n_labels"] == len(labelled)
    lang = snap["unsupported_language"]
    assert lang["n"] == n_items and lang["unsupported"] == 1
    assert snap["cache"]["hit_rate"] == 0.75

    from trendml.alerts.outbox import list_alerts
    from trendml.policy import load_policy

    svc = SimpleNamespace(
        settings=Settings(drift_psi_bound=0.01, ece_bound=1.0),
        policy=load_policy(),  # the shipped policy: its `model-quality` rule is a monitoring_bound rule
        Session=Session,
        models=SimpleNamespace(active=SimpleNamespace(version="1")),
        embedder=SimpleNamespace(hits=3, misses=1),
    )
    mon = Monitor(svc)
    with caplog.at_level(logging.WARNING, logger="service.monitoring"):
        out = mon.refresh()
    assert mon.degraded and out["alerts"] and "drift" in out["alerts"][0]
    assert any("monitoring bound crossed" in r.getMessage() for r in caplog.records)
    # the crossing goes to the alert outbox (issue 16) as the policy's monitoring_bound rule says
    with Session() as s:
        alerts = list_alerts(s)["items"]
    assert [(a["rule"], a["trend_id"]) for a in alerts] == [
        ("model-quality", f"monitoring-{now.date().isoformat()}")
    ]
    assert [d["webhook"] for d in alerts[0]["deliveries"]] == ["leads"]
    mon.reasons = []  # crossed again the same day: still one alert
    mon.refresh()
    with Session() as s:
        assert list_alerts(s)["total"] == 1
    from prometheus_client import REGISTRY

    assert REGISTRY.get_sample_value("trendml_monitoring_degraded") == 1.0
    assert REGISTRY.get_sample_value("trendml_severity_drift_psi") == pytest.approx(out["drift_latest"])
    svc.settings = Settings(drift_psi_bound=10.0, ece_bound=1.0)
    mon.refresh()
    assert not mon.degraded and REGISTRY.get_sample_value("trendml_monitoring_degraded") == 0.0
    assert not math.isnan(REGISTRY.get_sample_value("trendml_embedding_cache_hit_rate"))

"""``trendml up``: the main job in one command (what ``make run`` calls).

1. ensure a ``champion`` severity model exists in the registry (train and register the default
   one from shipped data if not);
2. load the demo stream (or a JSONL file) into the item store;
3. run trend detection over the stored items;
4. give the ONE admin key named ``demo`` a new secret (created on the first run; the previous
   run's demo key stops working, and so do its dashboard sessions);
5. print the URLs and a ready-to-paste curl example, then start the service (``trendml serve``).

Every step is idempotent: items already stored are kept, detection only processes new windows.
"""

from __future__ import annotations

import time
from pathlib import Path

import typer

from cli._common import check_port_free, console, load_items, make_embedder, settings


def up_actor() -> str:
    """Who ``trendml up`` records in the alias history: the local ``user@host`` (as CLI promotions
    record it), marked as done by ``trendml up``."""
    from training.runs import actor

    return f"{actor()} (trendml up)"


def _ensure_champion(cfg, **train_options) -> str:  # noqa: ANN001, ANN003 - Settings
    """Version of the champion, training and registering the default model first if there is none.
    ``train_options`` go to ``train_severity`` (tests train a small model)."""
    from trendml.registry import champion_version

    version = champion_version(cfg)
    if version is not None:
        console.print(f"champion severity model: version {version}", highlight=False)
        return str(version)
    console.print("no champion severity model yet: training the default one (models/severity.yaml) ...")
    from training.train import train_severity

    result = train_severity(cfg, by=up_actor(), **train_options)
    if not result.champion:  # another process set a champion meanwhile: the demo model still wins
        from training.registry import promote

        promote(cfg, result.model_name, str(result.version), force=True, by=up_actor())
    console.print(f"trained and registered the default severity model as champion (version {result.version})")
    return str(result.version)


def _simulate_outcomes(Session, stream, share: float) -> None:  # noqa: ANN001, N803
    """Record simulated moderator outcomes on a share of the demo stream (issue 22's demo)."""
    from trendml.datasets.outcomes import simulate_outcomes
    from trendml.policy import load_policy
    from trendml.store.outcomes import record_outcome

    policy = load_policy(settings().policy_file)
    outcomes = simulate_outcomes(stream.items, stream.severity, policy=policy, share=share, seed=0)
    counts: dict[str, int] = {}
    with Session() as session:
        for o in outcomes:
            rec = record_outcome(
                session,
                o["item_id"],
                action=o["action"],
                severity=o["severity"],
                policy_area=o["policy_area"],
                decided_at=o["decided_at"],
                moderator="simulated",
                areas=list(policy.policy_areas),
                commit=False,
            )
            counts[rec.status] = counts.get(rec.status, 0) + 1
        session.commit()
    console.print(f"simulated moderator outcomes: {counts}", highlight=False)


def up(
    host: str = typer.Option("127.0.0.1", "--host", help="Interface to listen on."),
    port: int = typer.Option(3000, "--port", min=1, max=65535, help="TCP port."),
    items: Path | None = typer.Option(
        None, "--items", help="Items to load (JSONL/CSV); default: the demo stream."
    ),
    windows: int = typer.Option(10, min=2, help="Daily windows of the demo stream."),
    per_window: int = typer.Option(300, min=10, help="Background items per window of the demo stream."),
    serve: bool = typer.Option(True, "--serve/--no-serve", help="Start the service at the end."),
    simulate_outcomes: float = typer.Option(
        0.0,
        "--simulate-outcomes",
        min=0.0,
        max=1.0,
        help="Share of the demo stream's items given simulated moderator outcomes (their dataset label, "
        "10%% one level off), so the weekly report shows pre-score precision against outcomes.",
    ),
    workers: str | None = typer.Option(
        None,
        "--workers",
        help="Service worker processes: 'auto' (one per core, at most 4) or a number; sets "
        "TRENDML_WORKERS (default: that variable, else auto).",
    ),
) -> None:
    """Set up everything and start the service on embedded defaults (``make run``)."""
    if serve:
        from cli.serve import resolve_workers

        resolve_workers(workers)  # a bad --workers fails now, not after the setup
    from service.models import ModelManager
    from service.pipeline import detect_stored
    from service.trends_backend import TrendBackend
    from trendml.schema import create_all
    from trendml.store.admin_audit import record_admin
    from trendml.store.base import make_engine, make_sessionmaker
    from trendml.store.items import add_items, count_items
    from trendml.store.keys import rotate_key

    if serve:  # before any work: a busy port would fail only after "ready" is printed
        check_port_free(host, port)
    cfg = settings()
    cfg.ensure_home()
    t0 = time.perf_counter()
    _ensure_champion(cfg)

    engine = make_engine(cfg.db_url)
    create_all(engine)
    Session = make_sessionmaker(engine)
    if items is not None:
        loaded = load_items(items, skip_invalid=True, rejects=None, cfg=cfg, require_created_at=True).items
        source = str(items)
    else:
        from trendml.datasets import build_demo_stream, recent_start

        stream = build_demo_stream(
            n_windows=windows,
            per_window=per_window,
            start_window=max(1, windows - 4),
            seed=0,
            start=recent_start(windows),
        )
        loaded, source = stream.items, f"demo stream ({windows} windows, campaign from window {windows - 4})"
    with Session() as session:
        stored, dups = 0, 0
        for start in range(0, len(loaded), 1000):
            s, d = add_items(session, loaded[start : start + 1000])
            stored, dups = stored + s, dups + d
        total = count_items(session)
    console.print(
        f"items: {stored} stored, {dups} already there, {total} in the store ({source})",
        highlight=False,
        soft_wrap=True,
    )

    embedder = make_embedder(cfg)
    models = ModelManager(cfg, embedder, interval_s=0)
    models.refresh()
    from trendml.policy import load_policy

    # the policy's alert rules run as in the service (issue 16): the demo's alerts wait in the outbox
    trends = TrendBackend(engine, Session, policy=load_policy(cfg.policy_file))
    out = detect_stored(Session, embedder.encode, trends, models.active)
    with Session() as session:
        record_admin(
            session,
            "detect",
            actor="cli",
            detail={k: out[k] for k in ("n_items", "n_windows", "n_trends", "n_emerging") if k in out},
        )
    console.print(
        f"detection: {out['n_items']} new items, {out['n_windows']} windows, {out['n_trends']} trends, "
        f"{out['n_emerging']} emerging in the latest window ({out['seconds']:.1f}s)",
        highlight=False,
        soft_wrap=True,
    )

    if simulate_outcomes > 0 and items is None:
        _simulate_outcomes(Session, stream, simulate_outcomes)
    with Session() as session:
        key, info, created = rotate_key(session, "demo", "admin")
        record_admin(
            session,
            "key.create" if created else "key.rotate",
            actor="cli",
            target=f"#{info.id} {info.name}",
            detail={"role": info.role, "by": "trendml up"},
        )
    engine.dispose()
    base = f"http://{host}:{port}"
    console.print(
        f"\nready in {time.perf_counter() - t0:.0f}s. Service: {base}\n"
        f"  API docs (OpenAPI UI):  {base}/   and  {base}/v1/docs\n"
        f"  dashboard (analysts):   {base}/ui/\n"
        f"  health / readiness:     {base}/healthz  {base}/readyz\n"
        f"  metrics (Prometheus):   {base}/metrics (needs a key)\n"
        f"demo key (admin, shown once): {key}\n"
        "  (one demo key: every `trendml up` gives it a new secret; the previous one stops working)\n"
        "try:\n"
        f"  curl -s -X POST {base}/v1/score -H 'Authorization: Bearer {key}' "
        "-H 'Content-Type: application/json' "
        '-d \'{"items":[{"id":"c1","text":"you people should all disappear","region":"US"}]}\'\n'
        f"  curl -s '{base}/v1/trends?emerging=true' -H 'Authorization: Bearer {key}'\n",
        highlight=False,
        soft_wrap=True,
    )
    if serve:
        from cli.serve import serve as run_serve

        check_port_free(host, port)  # again: setting up took a while

        run_serve(host=host, port=port, reload=False, workers=workers)


def register(app: typer.Typer) -> None:
    app.command("up")(up)

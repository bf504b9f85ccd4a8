"""``trendml items erase|erasures`` and ``trendml retention apply``: erasure of stored items and the
retention rule (trendml/erasure.py; docs/items.md, "Erasure and retention")."""

from __future__ import annotations

import json

import typer

from cli._common import console, open_store, settings

items_app = typer.Typer(help="Stored items: erase them, read the erasure log.", no_args_is_help=True)
retention_app = typer.Typer(help="The retention rule (TRENDML_RETENTION_DAYS).", no_args_is_help=True)


def _session():
    return open_store()[1]()


@items_app.command("erase")
def erase(
    ids: list[str] = typer.Argument(..., help="Item ids to erase."),
    actor: str = typer.Option("cli", "--by", help="Who asked (written to the erasure log)."),
) -> None:
    """Erase items: their text leaves the store, the trend state, notes that quote it and the
    embedding cache (unless another item has the same content); each is logged with its hash."""
    from trendml.erasure import erase_items
    from trendml.errors import InputError

    cfg = settings()
    with _session() as session:
        res = erase_items(
            session, ids, actor=actor, cache_path=cfg.embedding_cache_path, search_dir=cfg.home / "search"
        )
    if res.unknown and not res.erased:
        raise InputError(
            f"no stored item has the id(s) {', '.join(i[:80] for i in res.unknown[:5])}; expected ids of "
            "stored items (already erased ones are in `trendml items erasures`); check the ids",
            field="ids",
        )
    console.print(
        f"erased {len(res.erased)} item(s); {res.cache_entries} embedding-cache entries removed"
        + (f"; not stored (nothing done): {', '.join(res.unknown)}" if res.unknown else ""),
        highlight=False,
        soft_wrap=True,
    )


@items_app.command("erasures")
def erasures(
    item_id: str | None = typer.Option(None, "--id", help="Only this item id."),
    limit: int = typer.Option(100, min=1, max=100_000, help="How many, newest first."),
    as_json: bool = typer.Option(False, "--json", help="One JSON object per line."),
) -> None:
    """The erasure log, newest first: when, which id, content hash, who, why (request / retention)."""
    from trendml.store.erasure_log import list_erasures

    with _session() as session:
        rows = [e.to_dict() for e in list_erasures(session, item_id=item_id, limit=limit)]
    for r in rows:
        if as_json:
            typer.echo(json.dumps(r))
        else:
            typer.echo(f"{r['at'][:19]}\t{r['item_id']}\t{r['content_hash']}\t{r['actor']}\t{r['reason']}")


@retention_app.command("apply")
def apply(
    days: int | None = typer.Option(
        None,
        "--days",
        help="Erase items received more than this many days ago (default: TRENDML_RETENTION_DAYS).",
    ),
    dry_run: bool = typer.Option(False, "--dry-run", help="Only count the items that would be erased."),
) -> None:
    """Apply the retention rule now (the service also runs it on a schedule)."""
    from trendml.erasure import apply_retention, count_expired
    from trendml.errors import InputError

    cfg = settings()
    n_days = cfg.retention_days if days is None else days
    if n_days < 0:
        raise InputError(f"--days is {n_days}; expected 0 (keep everything) or more days", field="days")
    if n_days == 0:
        console.print(
            "retention is off (0 days: TRENDML_RETENTION_DAYS or --days); nothing erased", highlight=False
        )
        return
    with _session() as session:
        if dry_run:
            console.print(
                f"{count_expired(session, n_days)} item(s) are older than {n_days} days", highlight=False
            )
            return
        n = apply_retention(
            session,
            n_days,
            actor="cli",
            cache_path=cfg.embedding_cache_path,
            search_dir=cfg.home / "search",
        )
    console.print(f"erased {n} item(s) received more than {n_days} days ago", highlight=False)


def register(app: typer.Typer) -> None:
    app.add_typer(items_app, name="items")
    app.add_typer(retention_app, name="retention")

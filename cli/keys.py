"""``trendml keys``: create, list and revoke API keys (stored hashed in the database)."""

from __future__ import annotations

import typer

from cli._common import console, open_store

keys_app = typer.Typer(help="API keys for the service (roles: triage, analyst, admin).", no_args_is_help=True)


def _audit(session, action: str, info) -> None:  # noqa: ANN001 - Session, KeyInfo
    from trendml.store.admin_audit import record_admin

    record_admin(session, action, actor="cli", target=f"#{info.id} {info.name}", detail={"role": info.role})


def _session():
    return open_store()[1]()


@keys_app.command("create")
def create(
    role: str = typer.Option(
        ..., "--role", help="triage (score, items), analyst (trends, feedback) or admin."
    ),
    name: str | None = typer.Option(
        None, "--name", help="Who or what the key is for; unique (default: ROLE-xxxxxx)."
    ),
) -> None:
    """Create a key. The key is printed alone on the last line of stdout (shown once, stored hashed)."""
    from trendml.store.keys import create_key

    with _session() as session:
        key, info = create_key(session, role, name)
        _audit(session, "key.create", info)
    console.print(f"created {info.role} key #{info.id} ({info.name}); it is shown once:", highlight=False)
    typer.echo(key)


@keys_app.command("list")
def list_() -> None:
    """List keys (id, role, name, prefix, created, revoked); never the keys themselves."""
    from trendml.store.keys import list_keys

    with _session() as session:
        for k in list_keys(session):
            state = "revoked" if k.revoked else "active"
            typer.echo(f"{k.id}\t{k.role}\t{k.name}\t{k.prefix}…\t{k.created_at:%Y-%m-%d %H:%M}\t{state}")


@keys_app.command("revoke")
def revoke(key_id: int = typer.Argument(..., help="Key id from `trendml keys list`.")) -> None:
    """Revoke a key: requests with it get 401 from then on."""
    from trendml.store.keys import revoke_key

    with _session() as session:
        info = revoke_key(session, key_id)
        _audit(session, "key.revoke", info)
    console.print(f"revoked {info.role} key #{info.id} ({info.name})", highlight=False)


def register(app: typer.Typer) -> None:
    app.add_typer(keys_app, name="keys")

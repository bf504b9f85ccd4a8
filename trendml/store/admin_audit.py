"""Admin audit log: who did what and when, for key creation, revocation and rotation, detection
runs and model reloads.

``actor`` is the calling key's name (``key_id`` its id) for the API, ``cli`` for the command
line and ``schedule`` for the service's own schedule. Rows are only appended.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, DateTime, Integer, String, event, inspect, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Mapped, Session, mapped_column

from trendml.store.base import Base
from trendml.store.items import _aware, utcnow

logger = logging.getLogger(__name__)

ACTIONS = ("key.create", "key.revoke", "key.rotate", "detect", "reload")


class AdminAudit(Base):
    __tablename__ = "admin_audit"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(128))
    key_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    action: Mapped[str] = mapped_column(String(32), index=True)
    target: Mapped[str | None] = mapped_column(String(256), nullable=True)
    detail: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "at": _aware(self.at).isoformat(),
            "actor": self.actor,
            "key_id": self.key_id,
            "action": self.action,
            "target": self.target,
            "detail": self.detail,
        }


def record_admin(
    session: Session,
    action: str,
    *,
    actor: str,
    key_id: int | None = None,
    target: str | None = None,
    detail: dict[str, Any] | None = None,
) -> AdminAudit:
    """Append one row and commit."""
    row = AdminAudit(
        at=utcnow(), actor=actor[:128], key_id=key_id, action=action, target=(target or None), detail=detail
    )
    session.add(row)
    session.commit()
    logger.info("admin audit: %s by %s (%s)", action, actor[:128], target)
    return row


def list_admin(
    session: Session, *, limit: int = 100, offset: int = 0, action: str | None = None
) -> list[AdminAudit]:
    """Newest first."""
    stmt = select(AdminAudit).order_by(AdminAudit.id.desc()).limit(limit).offset(offset)
    if action:
        stmt = stmt.where(AdminAudit.action == action)
    return list(session.scalars(stmt))


# ---------------------------------------------------------------------------- upgrades
# ``create_all`` creates missing tables only. Databases made before these columns/indexes existed
# get them here, once, right after ``create_all`` (idempotent).
_ADDED_COLUMNS = {"score_audit": {"key_id": "INTEGER", "key_name": "VARCHAR(128)"}}


@event.listens_for(Base.metadata, "after_create")
def _upgrade(target: Any, connection: Any, **_: Any) -> None:
    insp = inspect(connection)
    tables = set(insp.get_table_names())
    for table, columns in _ADDED_COLUMNS.items():
        if table not in tables:
            continue
        have = {c["name"] for c in insp.get_columns(table)}
        for name, sql_type in columns.items():
            if name not in have:
                connection.execute(text(f"ALTER TABLE {table} ADD COLUMN {name} {sql_type}"))
                logger.info("added column %s.%s", table, name)
    if "api_keys" in tables:
        indexes = {ix["name"] for ix in insp.get_indexes("api_keys")}
        if "ux_api_keys_name" not in indexes:
            ddl = text("CREATE UNIQUE INDEX ux_api_keys_name ON api_keys (name)")
            try:
                if connection.dialect.name == "sqlite":  # a failed statement leaves the transaction usable
                    connection.execute(ddl)
                else:  # PostgreSQL aborts the transaction on an error: fence it in a savepoint
                    with connection.begin_nested():
                        connection.execute(ddl)
            except DBAPIError:
                logger.warning(
                    "api_keys has duplicate names from before names were unique; new names are still "
                    "checked on creation (rename or revoke the duplicates to get the unique index)"
                )

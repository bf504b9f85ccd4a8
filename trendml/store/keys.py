"""API keys with roles, stored hashed.

A key is ``tml_`` + 43 URL-safe random characters (256 bits). Only its SHA-256 is stored:
with that much entropy a slow password hash adds nothing (nothing to brute-force), and a
fast hash keeps each request's lookup to one indexed query. Roles: ``triage`` (score,
items), ``analyst`` (trends, feedback), ``admin`` (everything, including detection, reload
and key management).
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import DateTime, Integer, String, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from trendml.errors import InputError
from trendml.store.base import Base
from trendml.store.items import _aware, utcnow

logger = logging.getLogger(__name__)

ROLES = ("triage", "analyst", "admin")
KEY_PREFIX = "tml_"


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def role_allows(role: str, required: str) -> bool:
    """``admin`` implies every role; others only themselves."""
    return role == "admin" or role == required


class ApiKey(Base):
    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True, index=True)
    prefix: Mapped[str] = mapped_column(String(12))
    role: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


@dataclass(frozen=True)
class KeyInfo:
    """What a request knows about its caller (never the key itself)."""

    id: int
    name: str
    role: str
    prefix: str
    created_at: datetime
    revoked: bool

    def to_dict(self) -> dict[str, object]:
        return {
            "id": self.id,
            "name": self.name,
            "role": self.role,
            "prefix": self.prefix,
            "created_at": self.created_at.isoformat(),
            "revoked": self.revoked,
        }


def _info(row: ApiKey) -> KeyInfo:
    return KeyInfo(row.id, row.name, row.role, row.prefix, _aware(row.created_at), row.revoked_at is not None)


def create_key(session: Session, role: str, name: str | None = None) -> tuple[str, KeyInfo]:
    """Create a key; return ``(plaintext key, info)``. The plaintext is shown once, never stored."""
    if role not in ROLES:
        raise InputError(f'role is "{role}"; expected one of {", ".join(ROLES)}', field="role")
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    row = ApiKey(
        key_hash=hash_key(key), prefix=key[:10], role=role, name=name or f"{role}-key", created_at=utcnow()
    )
    session.add(row)
    session.commit()
    logger.info("created %s key %s", role, row.prefix)
    return key, _info(row)


def lookup_key(session: Session, key: str) -> KeyInfo | None:
    """The active key matching ``key``, or None (unknown or revoked)."""
    row = session.scalar(select(ApiKey).where(ApiKey.key_hash == hash_key(key)))
    if row is None or row.revoked_at is not None:
        return None
    return _info(row)


def list_keys(session: Session) -> list[KeyInfo]:
    return [_info(r) for r in session.scalars(select(ApiKey).order_by(ApiKey.id))]


#: Largest id a database integer column holds (SQLite and PostgreSQL BIGINT).
MAX_KEY_ID = 2**63 - 1


def revoke_key(session: Session, key_id: int) -> KeyInfo:
    row = session.get(ApiKey, key_id) if 1 <= key_id <= MAX_KEY_ID else None
    if row is None:
        raise InputError(
            f"key id {key_id} does not exist; expected an id from `trendml keys list`", field="id"
        )
    if row.revoked_at is None:
        row.revoked_at = utcnow()
        session.commit()
    return _info(row)

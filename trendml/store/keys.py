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
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column

from trendml.errors import ConflictError, InputError
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
    #: Unique (checked on creation; a UNIQUE index on databases created since, see
    #: :mod:`trendml.store.admin_audit`): QA agreement and feedback name people by their key's name.
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


def _name_taken(session: Session, name: str) -> bool:
    return session.scalar(select(ApiKey.id).where(ApiKey.name == name).limit(1)) is not None


def create_key(session: Session, role: str, name: str | None = None) -> tuple[str, KeyInfo]:
    """Create a key; return ``(plaintext key, info)``. The plaintext is shown once, never stored.

    Names are unique over every key ever created (revoked ones too, so a name in old QA reviews or
    decisions never comes to mean someone else): a taken name raises :class:`ConflictError`.
    Without a name the key is called ``<role>-<prefix>``."""
    if role not in ROLES:
        raise InputError(f'role is "{role}"; expected one of {", ".join(ROLES)}', field="role")
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    name = (name or "").strip() or f"{role}-{key[len(KEY_PREFIX) : len(KEY_PREFIX) + 6]}"
    if _name_taken(session, name):
        raise ConflictError(
            f'the key name "{name[:128]}" is taken; expected a name no other key has (revoked ones '
            "included); choose another name (`trendml keys list` shows them)",
            field="name",
        )
    row = ApiKey(key_hash=hash_key(key), prefix=key[:10], role=role, name=name, created_at=utcnow())
    session.add(row)
    try:
        session.commit()
    except IntegrityError:  # a concurrent creation took the name (UNIQUE index)
        session.rollback()
        raise ConflictError(
            f'the key name "{name[:128]}" is taken; choose another name', field="name"
        ) from None
    logger.info("created %s key %s", role, row.prefix)
    return key, _info(row)


def rotate_key(session: Session, name: str, role: str) -> tuple[str, KeyInfo, bool]:
    """Give the key called ``name`` a new secret (same id, name and role; active again), or create
    it; return ``(plaintext key, info, created)``. The old secret stops working at once, and so
    do dashboard sessions signed in with it. ``trendml up`` keeps ONE demo key this way; other
    keys with that name (made before names were unique, e.g. one per earlier ``up``) are revoked."""
    rows = list(session.scalars(select(ApiKey).where(ApiKey.name == name).order_by(ApiKey.id)))
    row = rows[0] if rows else None
    for old in rows[1:]:  # duplicates from before names were unique (one demo key per `up`)
        if old.revoked_at is None:
            old.revoked_at = utcnow()
            _drop_sessions(session, old.id)
            logger.info("revoked duplicate %s key #%s", name, old.id)
    if row is None:
        key, info = create_key(session, role, name)
        return key, info, True
    if row.role != role:
        raise ConflictError(
            f'the key name "{name}" belongs to a {row.role} key; expected a {role} key; revoke it '
            "and choose another name",
            field="name",
        )
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    row.key_hash, row.prefix, row.created_at, row.revoked_at = hash_key(key), key[:10], utcnow(), None
    session.commit()
    _drop_sessions(session, row.id)
    logger.info("rotated %s key #%s", role, row.id)
    return key, _info(row), False


def _drop_sessions(session: Session, key_id: int) -> None:
    from trendml.store.sessions import end_sessions_of

    end_sessions_of(session, key_id)


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
    _drop_sessions(session, row.id)
    return _info(row)

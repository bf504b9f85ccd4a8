"""Server-side dashboard sessions: the browser holds an opaque random id, never the API key.

Only the SHA-256 of the session id is stored, with the key it signs in as, a CSRF token and an
absolute expiry that is checked here on every request (a cookie's own expiry is only a hint to
the browser). A session ends on sign-out, when it expires, and when its key is revoked or rotated
(:func:`trendml.store.keys.revoke_key` ends them; the lookup also refuses a revoked key).
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import DateTime, Integer, String, delete, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from trendml.store.base import Base
from trendml.store.items import _aware, utcnow

logger = logging.getLogger(__name__)

#: Default lifetime of a dashboard session (absolute, from sign-in).
SESSION_TTL_S = 12 * 3600


class UiSession(Base):
    __tablename__ = "ui_sessions"

    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    key_id: Mapped[int] = mapped_column(Integer, index=True)
    csrf: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)


@dataclass(frozen=True)
class SessionInfo:
    key: object  # trendml.store.keys.KeyInfo
    csrf: str
    expires_at: datetime


def _hash(session_id: str) -> str:
    return hashlib.sha256(session_id.encode("utf-8", "replace")).hexdigest()


def start_session(session: Session, key_id: int, *, ttl_s: float = SESSION_TTL_S) -> tuple[str, str]:
    """Open a session for ``key_id``; return ``(session id, csrf token)``. Commits. Expired
    sessions are deleted on the way."""
    now = utcnow()
    session.execute(delete(UiSession).where(UiSession.expires_at < now))
    sid, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    session.add(
        UiSession(
            id_hash=_hash(sid),
            key_id=key_id,
            csrf=csrf,
            created_at=now,
            expires_at=now + timedelta(seconds=ttl_s),
        )
    )
    session.commit()
    return sid, csrf


def lookup_session(session: Session, session_id: str) -> SessionInfo | None:
    """The live session with this id and its active key, or None (unknown, expired, signed out,
    key revoked)."""
    from trendml.store.keys import ApiKey, _info

    if not session_id:
        return None
    row = session.get(UiSession, _hash(session_id))
    if row is None:
        return None
    expires = _aware(row.expires_at)
    if expires is None or expires <= utcnow():
        return None
    key = session.scalar(select(ApiKey).where(ApiKey.id == row.key_id))
    if key is None or key.revoked_at is not None:
        return None
    return SessionInfo(key=_info(key), csrf=row.csrf, expires_at=expires)


def end_session(session: Session, session_id: str) -> bool:
    """Sign out: delete the session. Commits; True when there was one."""
    n = session.execute(delete(UiSession).where(UiSession.id_hash == _hash(session_id))).rowcount
    session.commit()
    return bool(n)


def end_sessions_of(session: Session, key_id: int) -> int:
    """Delete every session of a key (on revocation or rotation). Commits."""
    n = session.execute(delete(UiSession).where(UiSession.key_id == key_id)).rowcount
    session.commit()
    if n:
        logger.info("ended %d dashboard session(s) of key #%s", n, key_id)
    return int(n or 0)
